package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestBackoffDoesNotIdleTheLane: a job waiting out a 60 s backoff at the head of a one-lane module lets
// the 20 opens of other services behind it run meanwhile; its own service's later operation waits for
// it; and the lane never runs two jobs at once (spec §4).
func TestBackoffDoesNotIdleTheLane(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("one-__PMID__", 1))
	var mu sync.Mutex
	running := map[string]int{}
	overlap := ""
	failed := false
	exec := ExecutorFunc(func(_ context.Context, op *Op) (Result, error) {
		mu.Lock()
		running[op.Job.QueueKey]++
		if running[op.Job.QueueKey] > 1 {
			overlap = op.Job.QueueKey
		}
		first := op.Job.ServiceID == 1 && op.Job.Type == store.OpOpen && !failed
		failed = failed || first
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		running[op.Job.QueueKey]--
		mu.Unlock()
		if first {
			return Result{}, Retryable(errors.New("VMmanager answered 503"))
		}
		id := op.Job.ServiceID
		return Result{Service: func(s *store.Service) { s.Status = store.ServiceActive; s.VM = store.VM{HostID: 100 + id} }}, nil
	})
	opt := fastOptions()
	opt.Executor, opt.BackoffBase = exec, 60*time.Second
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, 21, "lane@example.org") // service 1's open heads the lane
	f.must(err)
	reboot, err := e.Enqueue(1, store.OpReboot, nil) // waits for service 1's open, wherever it is
	f.must(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done; _ = e.Close() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		doneOpens := 0
		for _, j := range allJobs(t, f.db) {
			if j.Type == store.OpOpen && j.ServiceID != 1 && j.State == store.JobDone {
				doneOpens++
			}
		}
		if doneOpens == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 20 opens behind the backoff ran in 30 s; the lane sat idle", doneOpens)
		}
		time.Sleep(10 * time.Millisecond)
	}
	first, _ := store.Load[store.Job](f.db, 1)
	later, _ := store.Load[store.Job](f.db, reboot.ID)
	if first.State != store.JobRetrying || later.State != store.JobQueued || later.Attempt != 0 {
		t.Errorf("service 1: open %s, its reboot %s (attempt %d); want the open waiting out its backoff and the reboot behind it",
			first.State, later.State, later.Attempt)
	}
	if b, ok := e.Backoffs()[first.QueueKey]; !ok || b.Job != 1 || b.Attempt != 2 || !b.At.Equal(first.NextRunAt) {
		t.Errorf("the lane's backoff reads %+v; want job 1's attempt 2 at %s (the Lanes screen shows it)", b, first.NextRunAt)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap != "" {
		t.Errorf("lane %s ran two jobs at once", overlap)
	}
}
