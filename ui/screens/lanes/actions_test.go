package lanes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/screens/lanes"
	"vmmpm/ui/theme"
)

// paused is the world with fra-lxd paused by an admin and the job at the head of lane vmm6-2-2
// waiting out its backoff, its third attempt 42 s away.
func paused() *lanes.Model {
	s := world()
	s.Modules[1].Paused = &queue.ModulePause{ModuleID: 2, By: "uid 1000 (alice)", At: now.Add(-3 * time.Minute)}
	s.Modules[1].Flagged = false // a paused module says PAUSED where it would say ok
	for i := range s.Lanes {
		if s.Lanes[i].Key == "vmm6-2-2" {
			s.Lanes[i].Retry = &queue.Backoff{Job: 57, Attempt: 3, At: now.Add(42 * time.Second)}
		}
	}
	m := screen(120, 40, theme.New(true), s)
	m.Update(key("G")) // the cursor on vmm6-2-2: fra-lxd's panel below
	return m
}

// TestGoldenPausedAndRetry pins the lanes of a paused module and a lane waiting out a retry; regenerate
// with `go test ./ui/screens/lanes -update`.
func TestGoldenPausedAndRetry(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	view := paused().View()
	checkSize(t, view, 120, 40-common.HeaderLines-common.FooterLines)
	golden.RequireEqual(t, []byte(view))
}

// TestPausedAndWaitingRetry: the words an admin reads: the paused module and its lanes say PAUSED, the
// panel says who paused it and how to resume, and the backing-off lane says which attempt comes when.
func TestPausedAndWaitingRetry(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	v := uitest.Strip(paused().View())
	if l := lineWith(v, "fra-lxd "); !strings.Contains(l, "PAUSED") {
		t.Errorf("fra-lxd's row does not say PAUSED: %q", l)
	}
	if l := lineWith(v, "vmm6-2-2"); !strings.Contains(l, "retry 3 in 42s (job 57)") || !strings.Contains(l, "PAUSED") {
		t.Errorf("the backing-off lane of the paused module reads %q", l)
	}
	if l := lineWith(v, "vmm6-2-1"); !strings.Contains(l, "STUCK") {
		t.Errorf("a stuck lane of the paused module still says STUCK first: %q", l)
	}
	if l := lineWith(v, "vmm6-1-2"); strings.Contains(l, "PAUSED") {
		t.Errorf("a lane of the running module says PAUSED: %q", l)
	}
	if !strings.Contains(v, "PAUSED by uid 1000 (alice) since 2026-03-02 08:58: nothing of it starts · p on Modules resumes it") {
		t.Errorf("the panel does not say who paused fra-lxd and how to resume it:\n%s", v)
	}
}

// TestCancelStuckLane: on a real engine whose open never ends, the lane turns STUCK after ten minutes;
// c asks naming the job, n leaves it running, y cancels it through the backend.
func TestCancelStuckLane(t *testing.T) {
	f := uitest.Open(t, queue.ExecutorFunc(func(ctx context.Context, _ *queue.Op) (queue.Result, error) {
		<-ctx.Done() // VMmanager never answers
		return queue.Result{}, ctx.Err()
	}))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Engine.Run(ctx) }()
	defer func() { stop(); <-done }()
	f.Services(t, 1)
	c := f.Context()
	clock := uitest.Epoch.Add(time.Minute)
	c.Now = func() time.Time { return clock }
	d := uitest.DriveScreen(t, lanes.New(c))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.View(), "job 1 open svc 1") {
		if time.Now().After(deadline) {
			t.Fatalf("the open never showed running:\n%s", d.View())
		}
		time.Sleep(10 * time.Millisecond)
		d.Send(common.DataChangedMsg{})
	}
	d.Keys("c")
	if !strings.Contains(d.View(), "vmm6-") || strings.Contains(d.View(), "Cancel job 1") {
		t.Fatalf("c on a lane running for a minute asked:\n%s", d.View())
	}
	clock = uitest.Epoch.Add(11 * time.Minute)
	d.Send(common.DataChangedMsg{})
	if !strings.Contains(lineWith(d.View(), "job 1 open"), "STUCK") {
		t.Fatalf("after 11 minutes the lane is not STUCK:\n%s", d.View())
	}
	d.Keys("c")
	if !strings.Contains(d.View(), "Cancel job 1 (open of service 1), running for 11m0s") {
		t.Fatalf("c on the stuck lane did not ask:\n%s", d.View())
	}
	d.Keys("n")
	if j, _ := store.Load[store.Job](f.DB, 1); j.State != store.JobRunning {
		t.Fatalf("n cancelled the job: %s", j.State)
	}
	d.Keys("c", "y")
	j, _ := store.Load[store.Job](f.DB, 1)
	if j.State != store.JobCancelled || !strings.Contains(j.Error, "Cancelled while running by") {
		t.Errorf("after y the job reads %s: %q", j.State, j.Error)
	}
}
