package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/internal/termtest"
	"vmmpm/server"
	"vmmpm/store"
)

// expectWithin waits until out shows text after *seen and returns when it did, failing after limit.
func expectWithin(t *testing.T, out *termtest.SyncBuffer, seen *int, text string, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := out.String()
		if i := strings.Index(s[*seen:], text); i >= 0 {
			*seen += i + len(text)
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %q; output so far:\n%s", limit, text, s[max(0, len(s)-3000):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hostDir is a short folder standing for one host (a socket path has at most 107 bytes).
func hostDir(t *testing.T, name string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "vmmpm-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// TestTwoHostsOnePostgres is the README's walkthrough: two `vmmpm serve` on one PostgreSQL, the
// second a standby; 100 opens through the first; kill -9 of it mid-run; the standby takes over
// within the lease's 15 s and one renewal, finishes every job with no VM made twice, and status
// shows the engines; then SIGTERM hands the engine back to a restarted first host within a second.
func TestTwoHostsOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 15 s lease")
	}
	env := newEngineEnvAt(t, 300*time.Millisecond, pgtest.URL(t))
	env.cli("tariff", "add", "--spec", env.spec)
	sockA := filepath.Join(hostDir(t, "a"), "s.sock")
	sockB := filepath.Join(hostDir(t, "b"), "s.sock")

	a := startServe(t, env.db, sockA)
	b := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockB, "serve"))
	seenB := 0
	expectWithin(t, b.out, &seenB, "standby: another host runs the engine", 30*time.Second)
	if _, err := os.Stat(sockB); err == nil {
		t.Error("the standby opened its socket before it ran the engine")
	}

	// Beside a running engine a direct change is refused, and nothing is written.
	_, errOut, code := runCLI(t, "", "--db", env.db, "--socket", filepath.Join(filepath.Dir(sockB), "none.sock"), "datacenter", "add", "DC Two")
	if code == 0 || !strings.Contains(errOut, "runs the engine of") || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("a direct change beside the engine: code %d, %q", code, errOut)
	}

	ca := server.NewClient(sockA, version)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := ca.CreateServices(ctx, "1", 100, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	for finishedJobs(ctx, ca) < 10 {
		if ctx.Err() != nil {
			t.Fatal("the first host finished no 10 jobs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = ca.Close()
	_ = a.cmd.Process.Kill()
	killed := time.Now()
	<-a.done
	a.done <- nil

	took := expectWithin(t, b.out, &seenB, "engine lease taken", 40*time.Second).Sub(killed)
	t.Logf("takeover after SIGKILL: %v", took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Errorf("the standby took over %v after the kill, more than the lease's 15 s and one 5 s renewal", took)
	}
	expectWithin(t, b.out, &seenB, "server started", 15*time.Second)
	cb := server.NewClient(sockB, version)
	defer cb.Close()
	for _, j := range waitJobsFor(t, cb, 100, 2*time.Minute) {
		if j.State != store.JobDone {
			t.Errorf("job %d ended %s: %s", j.ID, j.State, j.Error)
		}
	}
	noVMTwice(t, env)
	if n := len(env.sim.Stats().HostsCreated); n != 100 {
		t.Errorf("%d VMs created, want 100", n)
	}

	status := mustCLI(t, "--db", env.db, "--socket", sockB, "status")
	if !strings.Contains(status, "runs the engine") || !strings.Contains(status, "GONE (lease lapsed)") {
		t.Errorf("status does not show the engine moved:\n%s", status)
	}

	// A rolling restart: the first host comes back as a standby, the second stops with SIGTERM.
	a2 := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve"))
	seenA := 0
	expectWithin(t, a2.out, &seenA, "standby: another host runs the engine", 30*time.Second)
	termAt := time.Now()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-b.done; err != nil {
		t.Errorf("serve exited with %v after SIGTERM:\n%s", err, b.out)
	}
	b.done <- nil
	exited := time.Now()
	claimed := expectWithin(t, a2.out, &seenA, "engine lease taken", 15*time.Second)
	t.Logf("handover after SIGTERM: %v (%v of it after the old host exited)", claimed.Sub(termAt).Round(time.Millisecond), claimed.Sub(exited).Round(time.Millisecond))
	if d := claimed.Sub(exited); d > time.Second {
		t.Errorf("the standby took the engine %v after the old one left, more than a second", d)
	}
}
