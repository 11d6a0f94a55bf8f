package vmm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// Tasks awaited together are polled together: 300 tasks of one VMmanager (more than one query's
// worth of consul ids) all complete, a failed one reports its failure, an unknown one is not found,
// and the queries sent are a few per interval, not one per task.
func TestAwaitPollsTogether(t *testing.T) {
	s, srv := startSim(t, sim.Config{TaskTime: 300 * time.Millisecond})
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.PollEvery = 100 * time.Millisecond })
	ctx := ctxT(t)
	s.FailHost("svc-doomed")
	doomed, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-doomed", Cluster: 2, OS: 3, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-1", Cluster: 1, OS: 1, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120, IPv4Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Await(ctx, cr.Task); err != nil {
		t.Fatal(err)
	}
	const n = 300
	refs := make([]vmm.TaskRef, n)
	for i := range refs {
		if refs[i], err = c.StopHost(ctx, cr.HostID); err != nil {
			t.Fatal(err)
		}
	}
	before, simBefore := c.TaskPolls(), s.Stats().Requests["GET /vm/v3/task"]
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n+2)
	for i, ref := range append(refs, doomed.Task, vmm.TaskRef{ConsulID: "987654", Name: vmm.TaskHostCreate}) {
		wg.Go(func() { errs[i] = c.Await(ctx, ref) })
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs[:n] {
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	var te *vmm.TaskError
	if !errors.As(errs[n], &te) || te.Task != doomed.Task {
		t.Errorf("failed task: %v", errs[n])
	}
	if !errors.Is(errs[n+1], vmm.ErrNotFound) {
		t.Errorf("unknown task: %v", errs[n+1])
	}
	// Every poll of 300 consul ids takes two queries, at most every 50 ms (half of PollEvery with
	// many tasks); one query per task per poll would be 300.
	polls := c.TaskPolls() - before
	if limit := 2 * (int(took/(50*time.Millisecond)) + 2); polls > limit {
		t.Errorf("%d task queries in %s for %d tasks, want at most %d", polls, took, n+2, limit)
	}
	if got := s.Stats().Requests["GET /vm/v3/task"] - simBefore; got != polls {
		t.Errorf("the emulator saw %d task queries, the client counts %d", got, polls)
	}
}

// A waiter that gives up does not stop the watcher for the next one.
func TestAwaitCancelled(t *testing.T) {
	_, srv := startSim(t, sim.Config{TaskTime: 200 * time.Millisecond})
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.PollEvery = 50 * time.Millisecond })
	ctx := ctxT(t)
	cr, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-1", Cluster: 1, OS: 1, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := c.Await(short, cr.Task); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cut short: %v", err)
	}
	if err := c.Await(ctx, cr.Task); err != nil {
		t.Fatal(err)
	}
	if err := c.Await(ctx, vmm.TaskRef{}); !errors.Is(err, vmm.ErrInvalid) {
		t.Fatalf("empty ref: %v", err)
	}
}
