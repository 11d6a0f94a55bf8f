package backend

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"vmmpm/queue"
)

// TestStatusAndStatsShareModuleHealth: VMmanager answers every job's first attempt with 503 and the
// second succeeds, so the engine ends up finding the module healthy while the figures count a burst
// of refusals. Status must say what stats says (they once said ok and FLAGGED).
func TestStatusAndStatsShareModuleHealth(t *testing.T) {
	db, secrets := engineDB(t)
	var mu sync.Mutex
	tried := map[uint64]bool{}
	asleepOnce := queue.ExecutorFunc(func(_ context.Context, op *queue.Op) (queue.Result, error) {
		mu.Lock()
		first := !tried[op.Job.ID]
		tried[op.Job.ID] = true
		mu.Unlock()
		if first {
			return queue.Result{}, &queue.Error{Err: errors.New("VMmanager answered 503: it is asleep"), Retry: true, Module: true}
		}
		return succeed(context.Background(), op)
	})
	e, err := NewEngine(db, secrets, EngineOptions{Version: "test", UntilIdle: true,
		Queue: queue.Options{Executor: asleepOnce, PollEvery: 10 * time.Millisecond, BackoffBase: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.CreateServices(ctx, "small", 4, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	e.Start(ctx)
	select {
	case <-e.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("the engine did not finish")
	}
	s, err := e.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Modules) != 1 || !s.Modules[0].Flagged {
		t.Fatalf("stats did not flag four 503 answers in a minute: %+v", s.Modules)
	}
	if h := st.Modules[0]; h.Healthy || h.Health != s.Modules[0].Flag {
		t.Errorf("status says healthy=%v %q, stats says FLAGGED %q", h.Healthy, h.Health, s.Modules[0].Flag)
	}
}
