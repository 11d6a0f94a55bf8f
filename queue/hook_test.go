package queue

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestCommitHookSeesEveryJobWrite: OnCommit runs in the transaction of every job write (enqueues and the
// engine's own commits), with the state each job had before; what it writes is on disk with the jobs.
func TestCommitHookSeesEveryJobWrite(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 10 * time.Millisecond}, store.DefaultParams())
	var mu sync.Mutex
	seen := map[uint64][]string{} // job id → "from>to" of each transition
	opt := fastOptions()
	opt.OnCommit = func(tx *store.Tx, jobs []JobWrite) error {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range jobs {
			if w.Job.State != w.From {
				seen[w.Job.ID] = append(seen[w.Job.ID], w.From+">"+w.Job.State)
				e := &store.AuditEntry{Actor: "hook", Action: w.Job.State, Target: fmt.Sprint(w.Job.ID)}
				if err := store.AppendAudit(tx, e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	e := f.engine(opt)
	svcs, err := e.CreateServices(f.tariff.ID, 3, "a@example.com")
	f.must(err)
	runIdle(t, e, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("hook saw %d jobs, want 3: %v", len(seen), seen)
	}
	for id, tr := range seen {
		if want := []string{">queued", "queued>running", "running>done"}; !slices.Equal(tr, want) {
			t.Errorf("job %d: hook saw %v, want %v", id, tr, want)
		}
	}
	var n int
	f.must(f.db.View(func(tx *store.Tx) error {
		es, err := store.ReadAudit(tx, nil, 0)
		n = len(es)
		return err
	}))
	if n != 9 {
		t.Errorf("the hook's writes on disk: %d entries, want 9", n)
	}
	_ = svcs
}

// TestAlsoRunsInTheEnqueueTransaction: an actor's Also sees the jobs an enqueue wrote, its writes land
// with them, and its error undoes the enqueue.
func TestAlsoRunsInTheEnqueueTransaction(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 10 * time.Millisecond}, store.DefaultParams())
	e := f.engine(fastOptions())
	var got []store.Job
	svcs, err := e.As("tester").Also(func(tx *store.Tx, jobs []store.Job) error {
		got = jobs
		s, err := store.Get[store.Service](tx, jobs[0].ServiceID)
		if err != nil {
			return err
		}
		s.ExternalID = "billing-1"
		return tx.Put(s)
	}).CreateServices(f.tariff.ID, 1, "a@example.com")
	f.must(err)
	if len(got) != 1 || got[0].Type != store.OpOpen || got[0].ID == 0 || got[0].By != "tester" {
		t.Fatalf("Also saw %+v", got)
	}
	s, err := store.Load[store.Service](f.db, svcs[0].ID)
	f.must(err)
	if s.ExternalID != "billing-1" {
		t.Errorf("Also's write is not on disk: %+v", s)
	}
	refuse := errors.New("no, thanks")
	_, err = e.As("tester").Also(func(*store.Tx, []store.Job) error { return refuse }).CreateServices(f.tariff.ID, 2, "a@example.com")
	if !errors.Is(err, refuse) {
		t.Fatalf("Also's error: got %v", err)
	}
	if n := len(allJobs(t, f.db)); n != 1 {
		t.Errorf("a refused Also left %d jobs, want 1", n)
	}
	if c := e.Counts()[f.module.ID]; c.Queued+c.Running+c.Done != 1 {
		t.Errorf("a refused Also left the scheduler with %+v", c)
	}
	runIdle(t, e, 30*time.Second)
}
