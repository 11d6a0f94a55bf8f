package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/store"
)

// viaServe runs a command against the test server and fails unless it exits 0.
func (env *engineEnv) viaServe(args ...string) (stdout, stderr string) {
	env.t.Helper()
	out, errOut, code := runCLI(env.t, "", append([]string{"--db", env.db, "--socket", env.socket()}, args...)...)
	if code != 0 {
		env.t.Fatalf("vmmpm %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out, errOut
}

// TestModuleDrainUnderServe: module drain during a run under a real vmmpm serve waits for the running
// opens, printing its progress, and starts none after the pause; the pause survives a restart of the
// server; status shows it; module resume runs the rest, and nothing started between the pause and the
// resume (the job records' start times).
func TestModuleDrainUnderServe(t *testing.T) {
	env := newEngineEnv(t, 300*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	srv := env.startServe()
	c := env.client()
	if _, err := c.CreateServices(context.Background(), "1", 12, "drain@example.org"); err != nil {
		t.Fatal(err)
	}
	waitActivity(t, c, "an open to run", func(a *backend.ModuleActivity) bool { return a.Running > 0 })

	out, progress := env.viaServe("module", "drain", "1", "--json", "--timeout", "2m")
	got := decodeJSON[drained](t, out)
	if !got.Drained || got.Running != 0 || got.Paused == nil || got.Queued == 0 {
		t.Fatalf("drain answered %s; want drained, paused, opens still queued", out)
	}
	if !strings.Contains(progress, " running, ") || !strings.Contains(progress, "module paused by uid ") {
		t.Errorf("drain's progress:\n%s", progress)
	}
	pausedAt := got.Paused.At
	if st, _ := env.viaServe("status"); !strings.Contains(st, "paused:    module 1 (vmm): module paused by uid ") {
		t.Errorf("status does not show the pause:\n%s", st)
	}

	srv.stop()
	env.startServe()
	a := waitActivity(t, c, "the restarted server", func(*backend.ModuleActivity) bool { return true })
	if a.Paused == nil || !a.Paused.At.Equal(pausedAt) || a.Running != 0 {
		t.Fatalf("after the restart the module reads %+v; want the same pause, nothing running", a)
	}
	resumedAt := time.Now()
	if out, _ := env.viaServe("module", "resume", "1"); !strings.Contains(out, "module 1 (vmm) runs again") {
		t.Errorf("resume said %q", out)
	}
	for _, j := range waitJobs(t, c, 12) {
		if j.State != store.JobDone {
			t.Errorf("job %d ended %s", j.ID, j.State)
		}
		if !j.StartedAt.Before(pausedAt) && j.StartedAt.Before(resumedAt) {
			t.Errorf("job %d started at %s, while the module was paused (%s to %s)", j.ID, j.StartedAt, pausedAt, resumedAt)
		}
	}
	noVMTwice(t, env)
}

// waitUntil reads until ok holds, failing after a generous deadline (CI is a loaded machine).
func waitUntil[T any](t *testing.T, what string, read func() (T, error), ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := read()
		if err == nil && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %+v, %v", what, v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitActivity(t *testing.T, b backend.Backend, what string, ok func(*backend.ModuleActivity) bool) *backend.ModuleActivity {
	t.Helper()
	return waitUntil(t, what, func() (*backend.ModuleActivity, error) { return b.ModuleActivity(context.Background(), 1) }, ok)
}

// TestDrainStuckWork: two opens whose VMmanager tasks never end hold a drain; interrupted, it says
// the module stays paused (and it does); jobs cancel ends the running opens, each naming its VMmanager
// task with one department task, and a drain then finishes at once.
func TestDrainStuckWork(t *testing.T) {
	env := newEngineEnv(t, time.Hour)
	env.cli("tariff", "add", "--spec", env.spec)
	env.startServe()
	c := env.client()
	if _, err := c.CreateServices(context.Background(), "1", 3, "stuck@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{1, 2} {
		waitJob(t, c, id, func(j *store.Job) bool { return j.State == store.JobRunning && j.VMTask != nil })
	}

	drain := vmmpmCmd("--db", env.db, "--socket", env.socket(), "module", "drain", "1")
	buf := &termtest.SyncBuffer{}
	drain.Stdout, drain.Stderr = buf, buf
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	termtest.Expect(t, buf, &seen, "2 running, 1 queued")
	_ = drain.Process.Signal(syscall.SIGINT)
	if err := drain.Wait(); err == nil {
		t.Errorf("an interrupted drain exited 0:\n%s", buf)
	}
	if !strings.Contains(buf.String(), "module 1 stays paused") {
		t.Errorf("the interrupted drain does not say the module stays paused:\n%s", buf)
	}
	if a := waitActivity(t, c, "the module", func(*backend.ModuleActivity) bool { return true }); a.Paused == nil {
		t.Fatal("the interrupted drain resumed the module")
	}

	if out, _ := env.viaServe("jobs", "cancel", "1", "2"); !strings.HasPrefix(out, "job 1: cancelled\n  Cancelled while running by uid ") ||
		!strings.Contains(out, "\njob 2: cancelled\n  Cancelled while running by uid ") || !strings.Contains(out, "may still be running") {
		t.Errorf("cancel said %q", out)
	}
	out, _ := env.viaServe("tasks", "--json")
	tasks := decodeJSON[[]store.Task](t, out)
	for _, id := range []uint64{1, 2} {
		j := waitJob(t, c, id, func(*store.Job) bool { return true })
		if j.State != store.JobCancelled || !strings.Contains(j.Error, "VMmanager task "+j.VMTask.ConsulID) {
			t.Errorf("job %d reads %s: %q", id, j.State, j.Error)
		}
		n := 0
		for _, k := range tasks {
			if k.JobID == id && k.ClosedAt.IsZero() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("job %d has %d open tasks; want one", id, n)
		}
	}
	if j := waitJob(t, c, 3, func(*store.Job) bool { return true }); j.State != store.JobQueued || !strings.Contains(j.Error, "module paused by") {
		t.Errorf("job 3, behind the pause, reads %s: %q", j.State, j.Error)
	}
	if out, _ := env.viaServe("module", "drain", "1"); !strings.Contains(out, "module 1 (vmm) is drained: nothing of it runs; 1 queued wait") {
		t.Errorf("drain after the cancels said %q", out)
	}
}

func waitJob(t *testing.T, b backend.Backend, id uint64, ok func(*store.Job) bool) *store.Job {
	t.Helper()
	d := waitUntil(t, fmt.Sprintf("job %d", id), func() (*backend.JobDetail, error) { return b.JobDetail(context.Background(), id) },
		func(d *backend.JobDetail) bool { return ok(&d.Job) })
	return &d.Job
}

// TestRetryOfRefusedJobAsks: a job VMmanager refused for good is not retried without --yes on no
// terminal (the refusal quoted, exit 2, the job still failed); with --yes it is, and its failure keeps
// one department task.
func TestRetryOfRefusedJobAsks(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "small", "--count", "1", "--client", "ann@example.org")
	env.sim.FailHost("svc-1")
	env.cli("engine", "--until-idle")
	j := decodeJSON[[]store.Job](t, env.cli("jobs", "--json"))[0]
	if j.State != store.JobFailed || !j.Refused {
		t.Fatalf("the open reads %s, refused %v; want failed for good", j.State, j.Refused)
	}
	_, errOut, code := runCLI(t, "", "--db", env.db, "jobs", "retry", "1")
	if code != exitUsage {
		t.Errorf("retry without --yes: exit %d", code)
	}
	requireSentence(t, errOut, "job 1 was refused by VMmanager for good ("+strconv.Quote(j.Error)+"), so a retry is likely refused again; fix the cause, then run the same command with --yes")
	if j := decodeJSON[[]store.Job](t, env.cli("jobs", "--json"))[0]; j.State != store.JobFailed {
		t.Fatalf("the refused retry changed the job to %s", j.State)
	}
	if out := env.cli("jobs", "retry", "1", "--yes"); out != "job 1: queued again\n" {
		t.Errorf("retry --yes: %q", out)
	}
	env.cli("engine", "--until-idle") // refused again
	open := 0
	for _, k := range decodeJSON[[]store.Task](t, env.cli("tasks", "--json")) {
		if k.JobID == 1 && k.ClosedAt.IsZero() {
			open++
		}
	}
	if open != 1 {
		t.Errorf("after a retry refused again, job 1 has %d open tasks; want one", open)
	}
}

// TestModulePauseCommands: pause and resume without a server say what they did, --json parses, status
// lists the pause, and a module that does not exist is a usage error.
func TestModulePauseCommands(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "small", "--count", "2", "--client", "ann@example.org")
	if out := env.cli("module", "pause", "1"); !strings.Contains(out, "module 1 (vmm): module paused by uid ") ||
		!strings.Contains(out, "0 running, 2 queued; vmmpm module resume 1 starts its operations again") {
		t.Errorf("pause said %q", out)
	}
	if a := decodeJSON[backend.ModuleActivity](t, env.cli("module", "pause", "1", "--json")); a.Paused == nil || a.Queued != 2 {
		t.Errorf("pause --json: %+v", a)
	}
	if out := env.cli("status"); !strings.Contains(out, "paused:    module 1 (vmm): module paused by uid ") {
		t.Errorf("status:\n%s", out)
	}
	env.cli("engine", "--until-idle") // both opens are held: it stops at once, running nothing
	for _, j := range decodeJSON[[]store.Job](t, env.cli("jobs", "--json")) {
		if j.State != store.JobQueued || j.Attempt != 0 {
			t.Errorf("job %d of the paused module reads %s (attempt %d)", j.ID, j.State, j.Attempt)
		}
	}
	if out := env.cli("module", "resume", "1"); out != "module 1 (vmm) runs again; 0 running, 2 queued\n" {
		t.Errorf("resume said %q", out)
	}
	_, errOut, code := runCLI(t, "", "--db", env.db, "module", "pause", "9")
	if code != exitUsage {
		t.Errorf("pausing module 9: exit %d", code)
	}
	requireSentence(t, errOut, "module 9")
}
