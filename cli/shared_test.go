package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/pgtest"
	"vmmpm/internal/termtest"
	"vmmpm/queue"
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

// sharedEnv is an engine environment on a PostgreSQL schema of the test's own with the spec's tariff
// added, and the sockets of two hosts, A and B.
func sharedEnv(t *testing.T, taskTime time.Duration) (env *engineEnv, sockA, sockB string) {
	t.Helper()
	env = newEngineEnvAt(t, taskTime, pgtest.URL(t))
	env.cli("tariff", "add", "--spec", env.spec)
	return env, filepath.Join(hostDir(t, "a"), "s.sock"), filepath.Join(hostDir(t, "b"), "s.sock")
}

// hostKeyrings are the keyring services of host A (this process's) and host B.
func hostKeyrings() (a, b string) {
	a = os.Getenv("VMMPM_KEYRING_SERVICE")
	return a, a + "-b"
}

// serveWithKeyring starts serve on sock as a host whose keyring is service keyring.
func serveWithKeyring(t *testing.T, db, sock, keyring string) *serveProc {
	t.Helper()
	cmd := vmmpmCmd("--db", db, "--socket", sock, "serve")
	cmd.Env = append(cmd.Env, "VMMPM_KEYRING_SERVICE="+keyring)
	return startProc(t, cmd)
}

// TestTwoHostsOnePostgres is the README's walkthrough: two `vmmpm serve` on one PostgreSQL, the
// second a standby; 100 opens through the first; kill -9 of it mid-run; the standby takes over
// within the lease's 15 s and one renewal, finishes every job with no VM made twice, and status
// shows the engines; then SIGTERM hands the engine back to a restarted first host within a second.
func TestTwoHostsOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 15 s lease")
	}
	env, sockA, sockB := sharedEnv(t, 300*time.Millisecond)

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
	// Each VM carries its service and the epoch of the lease it was made under: host A's first
	// claim, then host B's after the takeover.
	epochs := map[int64]int{}
	for id := 1; id <= 100; id++ {
		svc, ep, ok := queue.ParseEpochMark(env.sim.VMComment(id))
		if !ok || env.sim.VMsNamed(queue.VMName(svc))[0] != id {
			t.Errorf("VM %d's comment %q is not the mark of its service", id, env.sim.VMComment(id))
		}
		epochs[ep]++
	}
	if len(epochs) != 2 || epochs[1] == 0 || epochs[2] == 0 {
		t.Errorf("the VMs' engine epochs are %v; want some under epoch 1 (host A) and the rest under 2 (host B)", epochs)
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
// engine is, in turn, killed (SIGKILL, at a random moment) and frozen past its lease at a fixed point
// of an open's create call (VMMPM_FAULT_STOP: the process stops itself there, and is woken once
// another host took the engine lease and finished those opens): before the call, after it and
// before its result is recorded, after recording. A frozen host that wakes finds its lease gone,
// stops its engine, changing nothing in the database, and waits as a standby again; one that made a
// VM under the stale lease removes it (or keeps it, when the new holder adopted it). Afterwards every operation is done, each
// service has exactly one VM, and no two runs overlapped in one lane. 200 operations and 6 faults;
// VMMPM_SLOW=1: 1,000 and 20.
func TestChaosThreeHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes of faults")
	}
	services, faults := 50, 6
	if os.Getenv("VMMPM_SLOW") == "1" {
		services, faults = 250, 20
	}
	env := newEngineEnvAt(t, 100*time.Millisecond, pgtest.URL(t))
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("module", "set", "1", "queue_count=8")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ch := newChaos(t, env)
	// A follower on host 1: it follows that host's server while it runs the engine, and reads the
	// database while the host stands by, is restarted or is killed.
	follower := startProc(t, vmmpmCmd("--db", env.db, "--socket", ch.hosts[1].sock, "jobs", "--follow", "--json"))
	// Each frozen host gets a batch of opens to freeze in; one more batch begins the run.
	batches := faults/2 + 1
	per := services / batches
	_, c := ch.active(ctx)
	openAndOperate(ctx, t, c, 1, services-per*(batches-1))
	_ = c.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	removed, stale := 0, 0
	for k := range faults {
		if k%2 == 0 {
			// The standbys are armed for the freeze that follows: whichever takes over freezes.
			next := ""
			if k+1 < faults {
				next = fmt.Sprintf("%s:%d", queue.FaultPoints[(k/2)%3], 1+rng.IntN(3))
			}
			ch.kill(ctx, rng, next)
			continue
		}
		point := queue.FaultPoints[(k/2)%3]
		s, r := ch.freeze(ctx, point, per)
		stale, removed = stale+s, removed+r
	}
	t.Logf("%d faults: SIGKILL, then SIGSTOP past the lease at %s in turn; %d stale-lease lines, %d VMs removed as stale",
		faults, strings.Join(queue.FaultPoints, ", "), stale, removed)
	_, c = ch.active(ctx)
	defer c.Close()
	ch.operate(ctx, c)
	jobs := waitJobsFor(t, c, services*4, 5*time.Minute)
	for _, j := range jobs {
		if j.State != store.JobDone {
			t.Errorf("job %d (%s of service %d) ended %s: %s", j.ID, j.Type, j.ServiceID, j.State, j.Error)
		}
	}
	noLaneOverlap(t, jobs)
	waitUntil(t, "the follower to see every job end", func() ([]uint64, error) { return unseenEnds(follower, jobs), nil },
		func(unseen []uint64) bool { return len(unseen) == 0 })
	created := 0
	for _, n := range env.sim.Stats().HostsCreated {
		created += n
	}
	for _, j := range jobs {
		if vms := env.sim.VMsNamed(queue.VMName(j.ServiceID)); j.Type == store.OpOpen && len(vms) != 1 {
			t.Errorf("service %d has VMs %v in VMmanager, want one", j.ServiceID, vms)
		}
	}
	if live := env.sim.VMCount(); live != services || created-live != removed {
		t.Errorf("%d VMs live, want %d; %d created and %d removed as stale, so %d were removed otherwise", live, services, created, removed, created-live-removed)
	}
}

// chaos is the three hosts of TestChaosThreeHosts and what the faults need of them.
type chaos struct {
	t     *testing.T
	env   *engineEnv
	hosts [3]*chaosHost
}

type chaosHost struct {
	sock string
	p    *serveProc
	seen int // how far its output was read
}

const (
	chaosTTL   = 3 * time.Second
	standbyMsg = "standby: another host runs the engine"
	staleMsg   = "VM created under a stale engine lease"
)

func newChaos(t *testing.T, env *engineEnv) *chaos {
	ch := &chaos{t: t, env: env}
	for i := range ch.hosts {
		ch.hosts[i] = &chaosHost{sock: filepath.Join(hostDir(t, fmt.Sprint("h", i)), "s.sock")}
		want := standbyMsg
		if i == 0 {
			want = "server started"
		}
		ch.start(i, "", want)
	}
	return ch
}

// start runs host i's serve (with VMMPM_FAULT_STOP=fault unless empty) and waits until it says want.
func (ch *chaos) start(i int, fault, want string) {
	ch.t.Helper()
	cmd := vmmpmCmd("--db", ch.env.db, "--socket", ch.hosts[i].sock, "serve", "--lease-ttl", chaosTTL.String())
	if fault != "" {
		cmd.Env = append(cmd.Env, "VMMPM_FAULT_STOP="+fault)
	}
	h := ch.hosts[i]
	h.p, h.seen = startProc(ch.t, cmd), 0
	expectWithin(ch.t, h.p.out, &h.seen, want, 30*time.Second)
}

// active is the host whose socket answers: the one running the engine.
func (ch *chaos) active(ctx context.Context) (int, *server.Client) {
	for ctx.Err() == nil {
		for i, h := range ch.hosts {
			c := server.NewClient(h.sock, version)
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
	ch.t.Fatal("no host runs the engine")
	return 0, nil
}

// restart stops the standby hosts ids (SIGTERM: a clean stop) and starts them again with fault armed
// (or none).
func (ch *chaos) restart(fault string, ids ...int) {
	ch.t.Helper()
	for _, i := range ids {
		_ = ch.hosts[i].p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, i := range ids {
		p := ch.hosts[i].p
		if err := <-p.done; err != nil {
			ch.t.Fatalf("standby host %d exited with %v after SIGTERM:\n%s", i, err, p.out)
		}
		p.done <- nil
		ch.start(i, fault, standbyMsg)
	}
}

// takeover waits until a host other than gone says it took the engine lease, and returns it.
func (ch *chaos) takeover(gone int) int {
	ch.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		for i, h := range ch.hosts {
			if i == gone {
				continue
			}
			if j := strings.Index(h.p.out.String()[h.seen:], "engine lease taken"); j >= 0 {
				h.seen += j + len("engine lease taken")
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	var outs []string
	for i, h := range ch.hosts {
		outs = append(outs, fmt.Sprintf("host %d:\n%s", i, h.p.out))
	}
	ch.t.Fatalf("no host took the engine lease 40 s after host %d's fault; output:\n%s", gone, strings.Join(outs, "\n"))
	return 0
}

// kill arms the standbys with next, waits until no open is left (so the new holder reaches its fault
// point only in the next batch), kills the active host after 1 to 6 more jobs ended, then disarms
// the standby that did not take over and restarts the killed host.
func (ch *chaos) kill(ctx context.Context, rng *rand.Rand, next string) {
	ch.t.Helper()
	i, c := ch.active(ctx)
	for !opensFinished(ctx, c) {
		if ctx.Err() != nil {
			ch.t.Fatal("the opens did not finish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ch.restart(next, (i+1)%3, (i+2)%3)
	want := finishedJobs(ctx, c) + 1 + rng.IntN(6)
	for !allJobsEnded(ctx, c) && finishedJobs(ctx, c) < want {
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Close()
	p := ch.hosts[i].p
	_ = p.cmd.Process.Kill()
	<-p.done
	p.done <- nil
	j := ch.takeover(i)
	if next != "" { // now only the new holder stays armed
		ch.restart("", 3-i-j)
	}
	ch.start(i, "", standbyMsg)
}

// freeze gives the active host (armed for point) a batch of opens, waits until it stopped itself at
// the point and another host took the lease, wakes it and checks it stands by again. It returns how
// many stale-lease lines it logged and how many of those removed a VM.
func (ch *chaos) freeze(ctx context.Context, point string, per int) (stale, removed int) {
	ch.t.Helper()
	i, c := ch.active(ctx)
	// The host freezes while it answers, so the answer is not awaited; the opens are committed before
	// any runs, and their other operations are enqueued through the next holder.
	go func() {
		defer c.Close()
		_, _ = c.CreateServices(ctx, "small", per, "ops@example.org")
	}()
	h := ch.hosts[i]
	expectWithin(ch.t, h.p.out, &h.seen, "fault point "+point+" reached", 2*time.Minute)
	// Woken as soon as another host took the lease, while it resumes the opens: the woken host's
	// re-check may remove a VM the holder is adopting, whose open then makes a new one.
	ch.takeover(i)
	_ = h.p.cmd.Process.Signal(syscall.SIGCONT)
	// Woken past its lease, it stops its engine and, still running, waits as a standby again.
	expectWithin(ch.t, h.p.out, &h.seen, "lost its lease", 30*time.Second)
	expectWithin(ch.t, h.p.out, &h.seen, `this host waits as a standby again" why="lease lost"`, 30*time.Second)
	expectWithin(ch.t, h.p.out, &h.seen, standbyMsg, 30*time.Second)
	out := h.p.out.String()
	stale, removed = strings.Count(out, staleMsg), strings.Count(out, staleMsg+": removed")
	if point != queue.FaultAfterRecord && stale == 0 {
		ch.t.Errorf("host %d woke at %s with a VM made under its stale lease and said nothing of it:\n%s", i, point, out)
	}
	_, c2 := ch.active(ctx)
	defer c2.Close()
	ch.operate(ctx, c2)
	return stale, removed
}

// operate enqueues suspend, resume and reboot for every service that has only its open.
func (ch *chaos) operate(ctx context.Context, c backend.Backend) {
	ch.t.Helper()
	jl, err := c.Jobs(ctx, backend.JobQuery{})
	if err != nil {
		ch.t.Fatal(err)
	}
	count := map[uint64]int{}
	for _, j := range jl.Jobs {
		count[j.ServiceID]++
	}
	var ids []uint64
	for id, n := range count {
		if n == 1 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	enqueueOps(ctx, ch.t, c, ids)
}

func opensFinished(ctx context.Context, c backend.Backend) bool {
	jl, err := c.Jobs(ctx, backend.JobQuery{})
	return err == nil && !slices.ContainsFunc(jl.Jobs, func(j *store.Job) bool { return j.Type == store.OpOpen && !store.Finished(j.State) })
}

func allJobsEnded(ctx context.Context, c backend.Backend) bool {
	jl, err := c.Jobs(ctx, backend.JobQuery{})
	return err == nil && allFinished(jl.Jobs)
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

// TestFaultStopRefused: a VMMPM_FAULT_STOP that names no fault point is refused with one sentence
// before serve opens anything.
func TestFaultStopRefused(t *testing.T) {
	db := filepath.Join(t.TempDir(), "vmmpm.db")
	t.Setenv("VMMPM_FAULT_STOP", "after-creat:2")
	_, errOut, code := runCLI(t, "", "--db", db, "--socket", filepath.Join(t.TempDir(), "s.sock"), "serve")
	if code != exitUsage || !strings.Contains(errOut, "names no fault point; give one of before-create, after-create, after-record") {
		t.Errorf("serve with a bad VMMPM_FAULT_STOP: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("serve created the database despite refusing its fault hook")
	}
}

// unseenEnds are the jobs whose end (their final state) follower, a jobs --follow --json, has not
// printed.
func unseenEnds(follower *serveProc, jobs []*store.Job) []uint64 {
	ended := map[uint64]string{}
	for _, l := range strings.Split(follower.out.String(), "\n") {
		var j store.Job
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &j) == nil && store.Finished(j.State) {
			ended[j.ID] = j.State
		}
	}
	var unseen []uint64
	for _, j := range jobs {
		if ended[j.ID] != j.State {
			unseen = append(unseen, j.ID)
		}
	}
	return unseen
}
