package queue

import (
	"context"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestLargeBacklogLoadsBehind: with more unfinished jobs than New loads at once, the read model answers
// at once, scheduling calls wait for the load, and the lanes keep their order.
func TestLargeBacklogLoadsBehind(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("b-__PMID__", 3))
	opt := fastOptions()
	opt.Executor = ExecutorFunc(func(context.Context, *Op) (Result, error) { return Result{}, nil })
	e := f.engine(opt)
	const n = syncLoadMax + 1000
	svcs, err := e.CreateServices(f.tariff.ID, n, "backlog@example.org")
	f.must(err, e.Close())

	e = f.engine(opt)
	if _, total, err := e.Page(store.JobQueued, 0, 10); err != nil || total != n {
		t.Fatalf("Page right after New: %d queued, %v", total, err)
	}
	reboot, err := e.Enqueue(svcs[0].ID, store.OpReboot, nil) // waits for the load, then joins the open's lane
	f.must(err)
	first, err := e.Job(1)
	f.must(err)
	if reboot.QueueKey != first.QueueKey {
		t.Errorf("reboot of service %d went to %s, its open is on %s", svcs[0].ID, reboot.QueueKey, first.QueueKey)
	}
	if key, pos := e.LanePosition(reboot.ID); key != reboot.QueueKey || pos < n/3 {
		t.Errorf("reboot at %s position %d, want behind about %d opens on %s", key, pos, n/3, reboot.QueueKey)
	}
	r, stop := record(e)
	runIdle(t, e, 2*time.Minute)
	stop()
	last := map[string]uint64{} // per lane, the finish of the previous job in enqueue order
	iv := r.intervals()
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone {
			t.Fatalf("job %d ended %s", j.ID, j.State)
		}
		if end := iv[j.ID][1]; end < last[j.QueueKey] {
			t.Fatalf("job %d on %s finished before an earlier job of its lane", j.ID, j.QueueKey)
		} else {
			last[j.QueueKey] = end
		}
	}
}
