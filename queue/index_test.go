package queue

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

func indexDB(t testing.TB) *store.DB {
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
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
		return tx.Bolt().Bucket(bucketIndex).Put(store.Key(1), indexValue(store.JobDone, j.ModuleID))
	}))
	e = f.engine(fastOptions())
	if key, pos := e.LanePosition(1); pos != -1 {
		t.Errorf("finished job 1 is scheduled again on %s at %d", key, pos)
	}
	if _, pos := e.LanePosition(2); pos != 0 {
		t.Errorf("job 2 at position %d, want 0 (job 1 is done)", pos)
	}
}
