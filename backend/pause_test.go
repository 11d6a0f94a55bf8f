package backend

import (
	"context"
	"errors"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// TestStatsShowPausesAndBackoffs: the figures the Lanes screen draws carry a paused module's pause
// and, on a lane, the job waiting out its retry's backoff with its next attempt and when.
func TestStatsShowPausesAndBackoffs(t *testing.T) {
	db, secrets := engineDB(t)
	m, err := store.Load[store.Module](db, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Params.Queue = true
	if err := db.Save(m); err != nil {
		t.Fatal(err)
	}
	busy := queue.ExecutorFunc(func(context.Context, *queue.Op) (queue.Result, error) {
		return queue.Result{}, queue.Retryable(errors.New("VMmanager answered 503"))
	})
	e, err := NewEngine(db, secrets, EngineOptions{Version: "test",
		Queue: queue.Options{Executor: busy, BackoffBase: time.Hour, PollEvery: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.CreateServices(ctx, "small", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	e.Start(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := e.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Lanes) == 1 && s.Lanes[0].Retry != nil {
			if r := s.Lanes[0].Retry; r.Job != 1 || r.Attempt != 2 || r.At.Before(time.Now().Add(30*time.Minute)) {
				t.Errorf("the lane's backoff reads %+v; want job 1's attempt 2 an hour or so away", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lane shows the backoff: %+v", s.Lanes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := e.PauseModule(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	s, err := e.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Modules[0].Paused; p == nil || p.ModuleID != 1 {
		t.Errorf("the figures' module reads paused %+v", p)
	}
}
