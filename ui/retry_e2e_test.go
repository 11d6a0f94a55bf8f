package ui_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// TestRetryOfARefusalAsks: in a real terminal, r on a job VMmanager refused for good asks first,
// quoting the refusal, and n leaves the job failed (in the database); y queues it again. A job whose
// attempts ran out on a passing error is asked about without the warning. From the job's detail, r
// on a refusal asks as well.
func TestRetryOfARefusalAsks(t *testing.T) {
	f := uitest.Open(t, queue.ExecutorFunc(func(_ context.Context, op *queue.Op) (queue.Result, error) {
		if op.Job.ServiceID == 1 {
			return queue.Result{}, &queue.Error{Msg: longReason} // for good
		}
		return queue.Result{}, queue.Retryable(errors.New("VMmanager is busy")) // until the attempts run out
	}))
	f.Services(t, 2)
	f.RunIdle(t)
	state := func(id uint64) string {
		t.Helper()
		j, err := store.Load[store.Job](f.DB, id)
		if err != nil {
			t.Fatal(err)
		}
		return j.State
	}
	if state(1) != store.JobFailed || state(2) != store.JobFailed {
		t.Fatalf("jobs 1 and 2 are %s and %s, want both failed", state(1), state(2))
	}
	app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), Clipboard: io.Discard})
	term := termtest.Start(t, app, 120, 40)
	term.Key("3")
	term.Wait("Failed 2")
	// Newest first: job 2 (attempts ran out) is selected.
	term.Key("r")
	term.Wait("Retry job 2 (open of service 2)?")
	if f := term.Frame(); strings.Contains(f, "It was refused for good") {
		t.Fatalf("a job whose attempts ran out is called refused for good:\n%s", f)
	}
	term.Key("n")
	term.Gone("Retry job 2")

	term.Key("j")
	term.Wait("refused for good: VMmanager answered HTTP 400")
	term.Key("r")
	term.Wait("Retry job 1 (open of service 1)?", "It was refused for good: “VMmanager answered HTTP 400", "END OF REASON”",
		"The same request goes again")
	term.Key("n")
	term.Gone("Retry job 1")
	if s := state(1); s != store.JobFailed {
		t.Fatalf("job 1 is %s after n, want failed", s)
	}

	// The detail asks the same.
	term.Key("enter")
	term.Wait("Job 1", "Log")
	term.Key("r")
	term.Wait("Retry job 1 (open of service 1)?", "It was refused for good")
	term.Key("esc")
	term.Gone("Retry job 1 (")
	if s := state(1); s != store.JobFailed {
		t.Fatalf("job 1 is %s after esc, want failed", s)
	}
	term.Key("r")
	term.Wait("It was refused for good")
	term.Key("y")
	term.Wait("job 1 queued again")
	if s := state(1); s == store.JobFailed {
		t.Fatalf("job 1 is still failed after y")
	}
	term.Key("q")
	term.Finished(10 * time.Second)
}
