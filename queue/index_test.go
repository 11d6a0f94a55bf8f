package queue

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"vmmpm/internal/storetest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

func indexDB(t testing.TB) *store.DB {
	db, err := store.Open(storetest.Path(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// writeJobs stores jobs the way the engine does, index entry included.
func writeJobs(t testing.TB, db *store.DB, jobs []*store.Job) {
	err := db.Update(func(tx *store.Tx) error {
		for _, j := range jobs {
			if err := putJob(tx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countsOfRecords is what the stored counts should say: the job records counted by module and state.
func countsOfRecords(t testing.TB, db *store.DB) map[uint64]ModuleCounts {
	want := map[uint64]ModuleCounts{}
	for _, j := range allJobs(t, db) {
		c := want[j.ModuleID]
		c.add(j.State, 1)
		want[j.ModuleID] = c
	}
	return want
}

func TestUnfinishedJobs(t *testing.T) {
	db := indexDB(t)
	var jobs []*store.Job
	for _, module := range []uint64{2, 3} { // one job per state on each module: 1–6 on 2, 7–12 on 3
		for _, st := range store.JobStates {
			jobs = append(jobs, &store.Job{ServiceID: 1, ModuleID: module, Type: store.OpOpen, State: st})
		}
	}
	writeJobs(t, db, jobs)
	var got []uint64
	err := db.View(func(tx *store.Tx) (err error) { got, err = UnfinishedJobs(tx, 3); return err })
	if err != nil || fmt.Sprint(got) != "[7 8 9]" {
		t.Fatalf("unfinished jobs of module 3: %v (%v), want queued, running, retrying: [7 8 9]", got, err)
	}
	jobs[6].State = store.JobDone // a finished job drops out once its write commits
	writeJobs(t, db, jobs[6:7])
	err = db.View(func(tx *store.Tx) (err error) { got, err = UnfinishedJobs(tx, 3); return err })
	if err != nil || fmt.Sprint(got) != "[8 9]" {
		t.Fatalf("after job 7 finished: %v (%v), want [8 9]", got, err)
	}
}

// BenchmarkUnfinishedJobs: the index read `module rm` makes over 100,000 jobs, against decoding every job.
func BenchmarkUnfinishedJobs(b *testing.B) {
	db := indexDB(b)
	jobs := make([]*store.Job, 100_000)
	for i := range jobs {
		j := &store.Job{ServiceID: 1, ModuleID: uint64(i%10 + 1), Type: store.OpOpen, State: store.JobDone}
		for n := range 10 {
			j.Logf(time.Unix(0, 0), "step %d of the operation", n)
		}
		jobs[i] = j
	}
	writeJobs(b, db, jobs)
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			_ = db.View(func(tx *store.Tx) error { _, err := UnfinishedJobs(tx, 1); return err })
		}
	})
	b.Run("full-decode", func(b *testing.B) {
		for b.Loop() {
			_ = db.View(func(tx *store.Tx) error { return store.Each(tx, func(*store.Job) bool { return true }) })
		}
	})
}

// TestStaleSchedulingEntriesRebuilt: a job finished by a vmmpm that kept only the index (an older one)
// must not be scheduled again from its leftover scheduling entry.
func TestStaleSchedulingEntriesRebuilt(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("s-__PMID__", 1))
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 2, "stale@example.org")
	f.must(err, e.Close())
	// As an older vmmpm would: job 1 done in its record and the index, its scheduling entry left over.
	f.must(f.db.Update(func(tx *store.Tx) error {
		j, err := store.Get[store.Job](tx, 1)
		if err != nil {
			return err
		}
		j.State = store.JobDone
		if err := tx.Put(j); err != nil {
			return err
		}
		return tx.KV().Bucket(bucketIndex).Put(store.Key(1), indexValue(store.JobDone, j.ModuleID))
	}))
	e = f.engine(fastOptions())
	if key, pos := e.LanePosition(1); pos != -1 {
		t.Errorf("finished job 1 is scheduled again on %s at %d", key, pos)
	}
	if _, pos := e.LanePosition(2); pos != 0 {
		t.Errorf("job 2 at position %d, want 0 (job 1 is done)", pos)
	}
}

// The stored counts follow every write, deletion and move between modules; a file without them (an
// older vmmpm) is counted once at open; and the index pager used while the id lists load gives what
// the lists give.
func TestStoredCountsAndIndexPager(t *testing.T) {
	db := indexDB(t)
	var jobs []*store.Job
	for i := range 40 {
		jobs = append(jobs, &store.Job{ServiceID: 1, ModuleID: uint64(2 + i%3), Type: store.OpOpen,
			State: store.JobStates[i%len(store.JobStates)]})
	}
	writeJobs(t, db, jobs)
	jobs[0].State, jobs[1].ModuleID, jobs[2].State = store.JobDone, 9, store.JobFailed
	writeJobs(t, db, jobs[:3])
	err := db.Update(func(tx *store.Tx) error {
		for _, id := range []uint64{4, 5, 6, 7} { // 4, 5, 6 finished: deleted; 7 queued: kept
			deleteFinishedJob(tx, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := countsOfRecords(t, db)
	check := func(when string) {
		t.Helper()
		var got map[uint64]*ModuleCounts
		_ = db.View(func(tx *store.Tx) error { got = readCounts(tx.KV()); return nil })
		if len(got) != len(want) {
			t.Fatalf("%s: counts of %d modules, want %d", when, len(got), len(want))
		}
		for m, c := range want {
			if got[m] == nil || *got[m] != c {
				t.Errorf("%s: module %d counts %+v, want %+v", when, m, got[m], c)
			}
		}
	}
	check("after the writes")
	if err := db.Update(func(tx *store.Tx) error { return tx.KV().DeleteBucket(bucketCounts) }); err != nil {
		t.Fatal(err)
	}
	if err := ensureIndex(db); err != nil {
		t.Fatal(err)
	}
	check("after counting a file without counts")

	rm := newReadModel()
	_ = db.View(func(tx *store.Tx) error { rm.load(tx); return nil })
	for _, st := range append([]string{""}, store.JobStates...) {
		l := &rm.all
		if st != "" {
			l = rm.by[st]
		}
		for _, off := range []int{0, 1, 3, 100} {
			var got []uint64
			_ = db.View(func(tx *store.Tx) error { got = newestInIndex(tx.KV(), st, off, 4); return nil })
			if w := l.newest(off, 4); fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("state %q offset %d: index pager %v, lists %v", st, off, got, w)
			}
		}
	}
}

// Moves made while the id lists load are replayed over them, also those the load already saw.
func TestReadModelReplaysMovesSeenWhileLoading(t *testing.T) {
	db := indexDB(t)
	jobs := []*store.Job{{ServiceID: 1, ModuleID: 2, Type: store.OpOpen, State: store.JobQueued},
		{ServiceID: 1, ModuleID: 2, Type: store.OpOpen, State: store.JobQueued}}
	writeJobs(t, db, jobs)
	rm := newReadModel()
	rm.mu.Lock()
	rm.move(1, store.JobQueued, store.JobRunning) // committed before the load reads: seen twice
	rm.move(1, store.JobRunning, store.JobDone)
	rm.move(3, "", store.JobQueued) // committed after the load's read: seen only here
	rm.mu.Unlock()
	jobs[0].State = store.JobDone
	writeJobs(t, db, jobs[:1])
	_ = db.View(func(tx *store.Tx) error { rm.load(tx); return nil })
	got := fmt.Sprint(rm.all.ids, rm.by[store.JobQueued].ids, rm.by[store.JobRunning].ids, rm.by[store.JobDone].ids, rm.finished.ids)
	if want := "[1 2 3] [2 3] [] [1] [1]"; got != want {
		t.Errorf("lists after replay %s, want %s", got, want)
	}
}

// The index walker finds entries for ascending keys whether they are next to each other, far apart
// (a search) or missing.
func TestIndexWalker(t *testing.T) {
	db := indexDB(t)
	var jobs []*store.Job
	for range 100 {
		jobs = append(jobs, &store.Job{ServiceID: 1, ModuleID: 2, Type: store.OpOpen, State: store.JobDone})
	}
	writeJobs(t, db, jobs)
	err := db.Update(func(tx *store.Tx) error {
		for _, id := range []uint64{5, 50} {
			deleteFinishedJob(tx, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *store.Tx) error {
		w := indexWalker{c: tx.KV().Bucket(bucketIndex).Cursor()}
		for _, id := range []uint64{1, 2, 4, 5, 6, 30, 31, 50, 99, 100, 101} {
			got := w.get(store.Key(id)) != nil
			if want := id != 5 && id != 50 && id <= 100; got != want {
				t.Errorf("job %d: found %v, want %v", id, got, want)
			}
		}
		return nil
	})
}

// TestUnfinishedMovesKeepTheIndexEntry: a start or a retry wait leaves an unfinished job's index
// entry as it was (a row fewer per transition), a move to another module or a finish rewrites it, and
// every reader that states a job's current state takes it from the scheduling entry: the stored
// counts and a recount, the read model's lists, the index pager, the scheduler's load, and the
// entries' removal.
func TestUnfinishedMovesKeepTheIndexEntry(t *testing.T) {
	db := indexDB(t)
	jobs := []*store.Job{
		{ServiceID: 1, ModuleID: 2, Type: store.OpOpen, State: store.JobQueued},
		{ServiceID: 2, ModuleID: 2, Type: store.OpOpen, State: store.JobQueued},
		{ServiceID: 3, ModuleID: 2, Type: store.OpOpen, State: store.JobQueued},
		{ServiceID: 4, ModuleID: 2, Type: store.OpOpen, State: store.JobQueued},
	}
	writeJobs(t, db, jobs)
	jobs[0].State = store.JobRunning
	jobs[1].State = store.JobRunning
	jobs[3].State = store.JobRunning
	writeJobs(t, db, []*store.Job{jobs[0], jobs[1], jobs[3]})
	jobs[1].State, jobs[2].ModuleID, jobs[3].State = store.JobRetrying, 5, store.JobDone
	writeJobs(t, db, jobs[1:])

	index := func(id uint64) (string, uint64) {
		var v []byte
		_ = db.View(func(tx *store.Tx) error { v = append(v, tx.KV().Bucket(bucketIndex).Get(store.Key(id))...); return nil })
		return stateName(v[0]), binary.BigEndian.Uint64(v[1:])
	}
	for _, c := range []struct {
		id     uint64
		state  string
		module uint64
	}{{1, store.JobQueued, 2}, {2, store.JobQueued, 2}, {3, store.JobQueued, 5}, {4, store.JobDone, 2}} {
		if s, m := index(c.id); s != c.state || m != c.module {
			t.Errorf("job %d's index entry: %s on module %d, want %s on module %d", c.id, s, m, c.state, c.module)
		}
	}

	want := countsOfRecords(t, db)
	counts := func(when string) {
		t.Helper()
		var got map[uint64]*ModuleCounts
		_ = db.View(func(tx *store.Tx) error { got = readCounts(tx.KV()); return nil })
		for m, c := range want {
			if got[m] == nil || *got[m] != c {
				t.Errorf("%s: module %d counts %+v, want %+v", when, m, got[m], c)
			}
		}
	}
	counts("after the writes")
	if err := db.Update(func(tx *store.Tx) error { return countIndex(tx.KV()) }); err != nil {
		t.Fatal(err)
	}
	counts("after a recount")

	rm := newReadModel()
	_ = db.View(func(tx *store.Tx) error { rm.load(tx); return nil })
	for st, ids := range map[string]string{store.JobRunning: "[1]", store.JobRetrying: "[2]", store.JobQueued: "[3]", store.JobDone: "[4]"} {
		if got := fmt.Sprint(rm.by[st].ids); got != ids {
			t.Errorf("the read model lists %s as %s, want %s", st, got, ids)
		}
		var paged []uint64
		_ = db.View(func(tx *store.Tx) error { paged = newestInIndex(tx.KV(), st, 0, 10); return nil })
		if got := fmt.Sprint(paged); got != ids {
			t.Errorf("the index pager finds %s as %s, want %s", st, got, ids)
		}
	}
	states, stale, err := (&Engine{db: db}).readUnfinished()
	if err != nil || stale || len(states) != 3 {
		t.Fatalf("the scheduler's load: %d jobs, stale %v, %v; want 3, not stale", len(states), stale, err)
	}

	if err := db.Update(func(tx *store.Tx) error { return dropEntries(tx.KV(), 1) }); err != nil {
		t.Fatal(err)
	}
	c := want[2]
	c.add(store.JobRunning, -1)
	want[2] = c
	counts("after job 1's entries went")
}
