package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/backend"
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
	// A host's own keyring is its to change: how a standby gets a module's password.
	out, errOut, code := runCLI(t, "demo-password\n", "--db", env.db, "--socket", filepath.Join(filepath.Dir(sockB), "none.sock"), "module", "password", "1")
	if code != 0 || !strings.Contains(out, "new password checked and kept") {
		t.Errorf("module password beside the engine: code %d, %q %q", code, out, errOut)
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
	// The Lanes screen's figures name the host running every lane.
	if figures := mustCLI(t, "--db", env.db, "--socket", sockB, "stats", "--json"); !strings.Contains(figures, fmt.Sprintf("(pid %d)", b.cmd.Process.Pid)) {
		t.Errorf("stats does not name host B (pid %d) as running the lanes:\n%.400s", b.cmd.Process.Pid, figures)
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
	defer func() { // a standby stopped with SIGTERM exits cleanly too
		b2 := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockB, "serve"))
		seen := 0
		expectWithin(t, b2.out, &seen, "standby: another host runs the engine", 30*time.Second)
		_ = b2.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-b2.done; err != nil || !strings.Contains(b2.out.String(), "stopped while a standby") {
			t.Errorf("a standby stopped with SIGTERM: %v\n%s", err, b2.out)
		}
		b2.done <- nil
	}()
	t.Logf("handover after SIGTERM: %v (%v of it after the old host exited)", claimed.Sub(termAt).Round(time.Millisecond), claimed.Sub(exited).Round(time.Millisecond))
	if d := claimed.Sub(exited); d > time.Second {
		t.Errorf("the standby took the engine %v after the old one left, more than a second", d)
	}
}

// TestChaosThreeHosts: three `vmmpm serve` on one PostgreSQL with a 3 s lease; the host running the
// engine is killed (SIGKILL) or frozen past its lease (SIGSTOP, then SIGCONT) again and again while
// the operations run, and comes back as a standby. A frozen host that wakes finds its lease gone and
// stops by itself, changing nothing. Afterwards every operation is done, no VM was made twice, and
// no two runs overlapped in one lane. 200 operations and 6 faults; VMMPM_SLOW=1: 1,000 and 20.
func TestChaosThreeHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes of faults")
	}
	services, faults := 50, 6
	if os.Getenv("VMMPM_SLOW") == "1" {
		services, faults = 250, 20
	}
	const ttl = 3 * time.Second
	env := newEngineEnvAt(t, 100*time.Millisecond, pgtest.URL(t))
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("module", "set", "1", "queue_count=8")
	socks := make([]string, 3)
	hosts := make([]*serveProc, 3)
	start := func(i int) *serveProc {
		return startProc(t, vmmpmCmd("--db", env.db, "--socket", socks[i], "serve", "--lease-ttl", ttl.String()))
	}
	for i := range hosts {
		socks[i] = filepath.Join(hostDir(t, fmt.Sprint("h", i)), "s.sock")
		hosts[i] = start(i)
		seen := 0
		want := "standby: another host runs the engine"
		if i == 0 {
			want = "server started"
		}
		expectWithin(t, hosts[i].out, &seen, want, 30*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// active is the host whose socket answers: the one running the engine.
	active := func() (int, *server.Client) {
		for ctx.Err() == nil {
			for i, s := range socks {
				c := server.NewClient(s, version)
				qctx, qcancel := context.WithTimeout(ctx, time.Second)
				_, err := c.Jobs(qctx, backend.JobQuery{Limit: 1})
				qcancel()
				if err == nil {
					return i, c
				}
				_ = c.Close()
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no host runs the engine")
		return 0, nil
	}
	_, c := active()
	openAndOperate(ctx, t, c, 1, services)
	_ = c.Close()
	total := services * 4
	rng := rand.New(rand.NewPCG(3, 4))
	applied := 0
	for k := range faults {
		i, c := active()
		// a random moment: after 2 to 12 more jobs ended
		want := finishedJobs(ctx, c) + 2 + rng.IntN(10)
		for finishedJobs(ctx, c) < min(want, total) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		ended := finishedJobs(ctx, c)
		_ = c.Close()
		if ended >= total {
			t.Logf("all %d jobs ended after %d faults", total, k)
			break
		}
		p := hosts[i]
		if k%2 == 0 {
			_ = p.cmd.Process.Kill()
			<-p.done
		} else {
			_ = p.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(ttl + 2*time.Second) // frozen past its lease: the fault itself, not a wait for an outcome
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			select {
			case err := <-p.done:
				if err == nil || !strings.Contains(p.out.String(), "lost its lease") {
					t.Errorf("host %d woke from its freeze and exited with %v; output:\n%s", i, err, p.out)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("host %d did not stop 30 s after it woke past its lease", i)
			}
		}
		p.done <- nil
		applied++
		hosts[i] = start(i)
		seen := 0
		expectWithin(t, hosts[i].out, &seen, "standby: another host runs the engine", 30*time.Second)
	}
	t.Logf("%d faults (SIGKILL and SIGSTOP past the lease, alternately) on the host running the engine", applied)
	if applied < faults*2/3 {
		t.Errorf("only %d of %d faults fell during the run: the test proved little", applied, faults)
	}
	_, c = active()
	defer c.Close()
	jobs := waitJobsFor(t, c, total, 5*time.Minute)
	for _, j := range jobs {
		if j.State != store.JobDone {
			t.Errorf("job %d (%s of service %d) ended %s: %s", j.ID, j.Type, j.ServiceID, j.State, j.Error)
		}
	}
	noVMTwice(t, env)
	noLaneOverlap(t, jobs)
	if n := len(env.sim.Stats().HostsCreated); n != services {
		t.Errorf("%d VMs exist, want %d", n, services)
	}
}

// TestFileOnlyCommandsOnPostgres: what only a bbolt file allows is refused on a database kept on
// PostgreSQL with one sentence naming what to use instead, exit 2, and nothing changed.
func TestFileOnlyCommandsOnPostgres(t *testing.T) {
	db := pgtest.URL(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "amcheck"},
		{[]string{"restore", filepath.Join(t.TempDir(), "copy.db")}, "pg_restore"},
		{[]string{"serve", "--backup-dir", t.TempDir()}, "pg_dump"},
	} {
		_, errOut, code := runCLI(t, "", append([]string{"--db", db}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, "is kept on PostgreSQL, not in a bbolt file") || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
	out := mustCLI(t, "--db", db, "datacenter", "list")
	if !strings.Contains(out, "DC One") {
		t.Errorf("the data center is gone after the refusals:\n%s", out)
	}
}
