package store_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vmmpm/internal/storetest"
	"vmmpm/store"
)

// feedDB is a database that keeps a job feed: PostgreSQL in the second run, else a bbolt file
// opened as a server's database is (OpenKV).
func feedDB(t *testing.T) *store.DB {
	t.Helper()
	if storetest.Postgres() {
		return openDB(t, storetest.Path(t))
	}
	db, err := store.OpenKV(openRawKV(t, filepath.Join(t.TempDir(), "kv.db")), "feed", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// readFeed is ReadFeed after row after, in a read transaction of its own; every change must name db
// as its writer, and is returned without it.
func readFeed(t *testing.T, db *store.DB, after uint64) (changes []store.JobChange, last uint64, ok bool) {
	t.Helper()
	if err := db.View(func(tx *store.Tx) error {
		changes, last, ok = store.ReadFeed(tx, after)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range changes {
		if changes[i].Writer != db.FeedWriter() {
			t.Errorf("job %d: written by %d, want this handle's %d", changes[i].ID, changes[i].Writer, db.FeedWriter())
		}
		changes[i].Writer = 0
	}
	return changes, last, ok
}

func note(db *store.DB, cs ...store.JobChange) error {
	return db.Update(func(tx *store.Tx) error {
		for _, c := range cs {
			tx.NoteJob(c.ID, c.Module, c.State)
		}
		return nil
	})
}

// feedLast is FeedLast in a read transaction of its own: after a commit that wrote jobs, that
// commit's row.
func feedLast(t *testing.T, db *store.DB) (last uint64) {
	t.Helper()
	if err := db.View(func(tx *store.Tx) error { last = store.FeedLast(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	return last
}

// TestFeedNamesEachCommitsJobs: a commit that wrote jobs adds one row naming each job once, as the
// transaction left it, in commit order; a commit that wrote none, and one rolled back, add nothing;
// a reader past the newest row reads nothing, one ahead of the database (a restore) or behind a
// pruned row is told to read whole; pruning goes at most so many rows a commit, and on at the next.
func TestFeedNamesEachCommitsJobs(t *testing.T) {
	db := feedDB(t)
	start := feedLast(t, db)
	if got, last, ok := readFeed(t, db, start); !ok || last != start || len(got) != 0 {
		t.Fatalf("a database with no job written: ReadFeed = %v, last %d, ok %v; want nothing, %d, true", got, last, ok, start)
	}
	q, r, d := store.JobQueued, store.JobRunning, store.JobDone
	if err := note(db, store.JobChange{ID: 1, Module: 7, State: q}, store.JobChange{ID: 2, Module: 8, State: q}); err != nil {
		t.Fatal(err)
	}
	row1 := feedLast(t, db)
	if err := note(db, store.JobChange{ID: 1, Module: 7, State: r}, store.JobChange{ID: 1, Module: 7, State: d},
		store.JobChange{ID: 2, Module: 8}); err != nil {
		t.Fatal(err)
	}
	row2 := feedLast(t, db)
	if err := db.Save(&store.DataCenter{Name: "Frankfurt"}); err != nil { // writes no job
		t.Fatal(err)
	}
	refused := errors.New("refused")
	err := db.Update(func(tx *store.Tx) error { tx.NoteJob(3, 7, q); return refused })
	if !errors.Is(err, refused) {
		t.Fatalf("a rolled back write: %v", err)
	}
	now := feedLast(t, db)
	got, last, ok := readFeed(t, db, start)
	want := []store.JobChange{{ID: 1, Module: 7, State: q}, {ID: 2, Module: 8, State: q}, {ID: 1, Module: 7, State: d}, {ID: 2, Module: 8}}
	if !ok || last != now || !slices.Equal(got, want) {
		t.Fatalf("ReadFeed from the start = %v, last %d, ok %v; want %v, last %d", got, last, ok, want, now)
	}
	if got, _, ok := readFeed(t, db, row1); !ok || !slices.Equal(got, want[2:]) {
		t.Errorf("ReadFeed after the first row = %v, ok %v; want %v", got, ok, want[2:])
	}
	if got, last, ok := readFeed(t, db, row2); !ok || last != now || len(got) != 0 {
		t.Errorf("ReadFeed after the newest row = %v, last %d, ok %v; want nothing, last %d", got, last, ok, now)
	}
	if _, _, ok := readFeed(t, db, now+1); ok {
		t.Error("ReadFeed past the newest row (a database restored to an earlier point) says ok")
	}

	// Rows past FeedKeep go at a handle's next pruning (PruneFeedNext stands for its 10 s passing), at
	// most 2 a commit here; a pruning stopped at that bound goes on at the next commit.
	old := store.FeedKeep
	store.FeedKeep = 0
	defer func() { store.FeedKeep = old }()
	defer store.SetFeedPruning(time.Hour, 2)()
	rows := []uint64{row1, row2}
	row := func(id uint64, prune bool) {
		t.Helper()
		time.Sleep(time.Millisecond) // the rows before are strictly older than this commit
		if prune {
			store.PruneFeedNext(db)
		}
		if err := note(db, store.JobChange{ID: id, Module: 7, State: q}); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, feedLast(t, db))
	}
	// gone checks which rows are pruned (by index in rows): a reader after the row before is told to
	// read whole.
	gone := func(step string, want ...int) {
		t.Helper()
		for i := 1; i < len(rows); i++ {
			_, _, ok := readFeed(t, db, rows[i-1])
			if ok == slices.Contains(want, i) {
				t.Errorf("%s: row %d gone %v, want %v", step, i, !ok, slices.Contains(want, i))
			}
		}
	}
	row(10, true) // row 2 drops 0 and 1
	gone("row 2 pruned", 1)
	if _, _, ok := readFeed(t, db, start); ok {
		t.Error("a reader behind pruned rows is not told to read whole")
	}
	if got, _, ok := readFeed(t, db, rows[1]); !ok || !slices.Equal(got, []store.JobChange{{ID: 10, Module: 7, State: q}}) {
		t.Errorf("ReadFeed after pruning = %v, ok %v; want job 10", got, ok)
	}
	row(11, false)
	row(12, false)
	row(13, false)
	gone("rows 3 to 5 within the hour", 1)
	row(14, true) // row 6 drops 2 and 3, and 4 is left
	gone("row 6 pruned at its bound", 1, 2, 3)
	row(15, false) // row 7 goes on: 4 and 5, and 6 is left
	gone("row 7 went on", 1, 2, 3, 4, 5)
	row(16, false) // row 8 drops 6 and 7: all that is older
	row(17, false) // row 9 prunes nothing: its handle pruned everything less than an hour ago
	gone("rows 8 and 9", 1, 2, 3, 4, 5, 6, 7)
}

// TestBoltFileKeepsNoFeed: one process owns a bbolt file and its engine sees its own writes, so the
// file keeps no feed, and a reader is told to read whole.
func TestBoltFileKeepsNoFeed(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "vmmpm.db"))
	if err := note(db, store.JobChange{ID: 1, Module: 7, State: store.JobQueued}); err != nil {
		t.Fatal(err)
	}
	if got, _, ok := readFeed(t, db, 0); ok || len(got) != 0 {
		t.Errorf("a bbolt file's feed: %v, ok %v; want none", got, ok)
	}
}
