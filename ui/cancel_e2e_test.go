package ui_test

import (
	"context"
	"io"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// TestCancelRunningJobAsks: in a real terminal, c on a running job asks, saying VMmanager may go on
// with it; n leaves it running (in the database), y cancels it.
func TestCancelRunningJobAsks(t *testing.T) {
	f := uitest.Open(t, queue.ExecutorFunc(func(ctx context.Context, _ *queue.Op) (queue.Result, error) {
		<-ctx.Done() // VMmanager never answers
		return queue.Result{}, ctx.Err()
	}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Engine.Run(ctx) }()
	defer func() { stop(); <-done }()
	f.Services(t, 1)
	state := func() string {
		t.Helper()
		j, err := store.Load[store.Job](f.DB, 1)
		if err != nil {
			t.Fatal(err)
		}
		return j.State
	}
	deadline := time.Now().Add(30 * time.Second)
	for state() != store.JobRunning {
		if time.Now().After(deadline) {
			t.Fatalf("job 1 is %s, never running", state())
		}
		time.Sleep(10 * time.Millisecond)
	}
	app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), Clipboard: io.Discard})
	term := termtest.Start(t, app, 120, 40)
	term.Key("3")
	term.Wait("Running 1")
	term.Key("c")
	term.Wait("Cancel job 1 (open of service 1)?", "Job 1 is running", "VMmanager may finish what it",
		"reconcile look")
	term.Key("n")
	term.Gone("Cancel job 1")
	if s := state(); s != store.JobRunning {
		t.Fatalf("job 1 is %s after n, want running", s)
	}
	term.Key("c")
	term.Wait("Cancel job 1 (open of service 1)?")
	term.Key("y")
	term.Wait("job 1 cancelled")
	if s := state(); s != store.JobCancelled {
		t.Fatalf("job 1 is %s after y, want cancelled", s)
	}
}
