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

// readFeed is ReadFeed after row after, in a read transaction of its own.
func readFeed(t *testing.T, db *store.DB, after uint64) (changes []store.JobChange, last uint64, ok bool) {
	t.Helper()
	if err := db.View(func(tx *store.Tx) error {
		changes, last, ok = store.ReadFeed(tx, after)
		return nil
	}); err != nil {
		t.Fatal(err)
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

// TestFeedNamesEachCommitsJobs: a commit that wrote jobs adds one row naming each job once, as the
// transaction left it, in commit order; a commit that wrote none, and one rolled back, add nothing;
// a reader past the newest row reads nothing, and one behind a pruned row is told to read whole.
func TestFeedNamesEachCommitsJobs(t *testing.T) {
	db := feedDB(t)
	if _, last, ok := readFeed(t, db, 0); !ok || last != 0 {
		t.Fatalf("a database with no job written: ReadFeed(0) = last %d, ok %v; want 0, true", last, ok)
	}
	q, r, d := store.JobQueued, store.JobRunning, store.JobDone
	if err := note(db, store.JobChange{ID: 1, Module: 7, State: q}, store.JobChange{ID: 2, Module: 8, State: q}); err != nil {
		t.Fatal(err)
	}
	if err := note(db, store.JobChange{ID: 1, Module: 7, State: r}, store.JobChange{ID: 1, Module: 7, State: d},
		store.JobChange{ID: 2, Module: 8}); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(&store.DataCenter{Name: "Frankfurt"}); err != nil { // writes no job
		t.Fatal(err)
	}
	refused := errors.New("refused")
	err := db.Update(func(tx *store.Tx) error { tx.NoteJob(3, 7, q); return refused })
	if !errors.Is(err, refused) {
		t.Fatalf("a rolled back write: %v", err)
	}
	got, last, ok := readFeed(t, db, 0)
	want := []store.JobChange{{ID: 1, Module: 7, State: q}, {ID: 2, Module: 8, State: q}, {ID: 1, Module: 7, State: d}, {ID: 2, Module: 8}}
	if !ok || last != 2 || !slices.Equal(got, want) {
		t.Fatalf("ReadFeed(0) = %v, last %d, ok %v; want %v, last 2", got, last, ok, want)
	}
	if got, last, ok := readFeed(t, db, 1); !ok || last != 2 || !slices.Equal(got, want[2:]) {
		t.Errorf("ReadFeed(1) = %v, last %d, ok %v; want %v, last 2", got, last, ok, want[2:])
	}
	if got, last, ok := readFeed(t, db, 2); !ok || last != 2 || len(got) != 0 {
		t.Errorf("ReadFeed(2) at the newest row = %v, last %d, ok %v; want nothing, last 2", got, last, ok)
	}
	if _, _, ok := readFeed(t, db, 3); ok {
		t.Error("ReadFeed past the newest row (a database restored to an earlier point) says ok")
	}

	// Rows past FeedKeep go at the next pruning commit (every 64th row), the newest staying.
	old := store.FeedKeep
	store.FeedKeep = 0
	defer func() { store.FeedKeep = old }()
	for id := uint64(10); id < 10+61; id++ { // rows 3 to 63
		if err := note(db, store.JobChange{ID: id, Module: 7, State: q}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := readFeed(t, db, 1); !ok {
		t.Fatal("rows were pruned before the 64th")
	}
	time.Sleep(time.Millisecond) // the rows before are strictly older than the pruning commit's
	if err := note(db, store.JobChange{ID: 99, Module: 7, State: q}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := readFeed(t, db, 1); ok {
		t.Error("a reader behind pruned rows is not told to read whole")
	}
	if got, last, ok := readFeed(t, db, 63); !ok || last != 64 || !slices.Equal(got, []store.JobChange{{ID: 99, Module: 7, State: q}}) {
		t.Errorf("ReadFeed(63) after pruning = %v, last %d, ok %v; want job 99, last 64", got, last, ok)
	}
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
