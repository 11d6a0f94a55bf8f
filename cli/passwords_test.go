package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
)

// TestHostWithoutPasswordHoldsModule: two hosts on one PostgreSQL, each with its own keyring. Host B
// holds module 1's password but not module 2's; running the engine alone, it opens module 1's services
// and starts none of module 2's (they wait, saying why), and status names what it lacks. Given the
// password, B runs them. A password changed on host A (whose keyring held the current one) leaves B
// lacking module 1. Once A joins, B hands the engine to it (A holds more current passwords) and
// stands by; A runs the held job. Stopped, A hands the engine back to B, which holds that module again.
func TestHostWithoutPasswordHoldsModule(t *testing.T) {
	if testing.Short() {
		t.Skip("two serve processes on PostgreSQL")
	}
	env, sockA, sockB, keyringB := hostsByPasswords(t) // host A holds both passwords, host B module 1's
	keyringA, _ := hostKeyrings()

	b := serveWithKeyring(t, env.db, sockB, keyringB)
	seenB := 0
	expectWithin(t, b.out, &seenB, "server started", 30*time.Second)
	status := mustCLI(t, "--db", env.db, "--socket", sockB, "status")
	if line := engineLine(status, b); strings.Count(status, "lacks the password of module") != 1 ||
		!strings.Contains(line, ": runs the engine, renewed") || !strings.Contains(line, "lacks the password of module [2]") {
		t.Errorf("status does not say that host B, running the engine, lacks module 2's password:\n%s", status)
	}

	cb := server.NewClient(sockB, version)
	defer cb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, tariff := range []string{"1", "2"} {
		if _, err := cb.CreateServices(ctx, tariff, 3, "client@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	jobsOn := func(c *server.Client, m uint64) func() ([]*store.Job, error) {
		return func() ([]*store.Job, error) {
			jl, err := c.Jobs(ctx, backend.JobQuery{Module: m})
			if err != nil {
				return nil, err
			}
			return jl.Jobs, nil
		}
	}
	jobsOf := func(m uint64) func() ([]*store.Job, error) { return jobsOn(cb, m) }
	waitUntil(t, "module 1's opens to finish on host B", jobsOf(1), func(js []*store.Job) bool { return allDone(js, 3) })
	held, err := jobsOf(2)()
	if err != nil || len(held) != 3 {
		t.Fatalf("module 2's jobs: %d, %v", len(held), err)
	}
	for _, j := range held {
		if j.State != store.JobQueued || !j.StartedAt.IsZero() || !strings.Contains(j.Error, "held on this host") ||
			!strings.Contains(j.Error, "vmmpm module password 2") {
			t.Errorf("module 2's job %d on a host without its password: %s, started %v, says %q", j.ID, j.State, j.StartedAt, j.Error)
		}
	}
	if n := len(env.sim.Stats().HostsCreated); n != 3 {
		t.Errorf("%d VMs exist; want module 1's 3 alone", n)
	}

	// Given the password (through its socket), host B runs module 2's jobs.
	setPassword(t, env.db, sockB, keyringB, 2)
	waitUntil(t, "module 2's opens to finish once host B holds its password", jobsOf(2), func(js []*store.Job) bool { return allDone(js, 3) })
	noVMTwice(t, env)

	// VMmanager's password changes: host A's keyring held module 1's current one, so setting it there
	// is a change, and host B, still holding the old one (which no longer logs in), starts none of
	// module 1's new jobs.
	putKeyring(t, keyringB, 1, "stale-password", 1)
	setPassword(t, env.db, "", keyringA, 1)
	expectWithin(t, b.out, &seenB, `module held on this host: its jobs wait" module=1`, 30*time.Second)
	waitUntil(t, "status to show host B lacking module 1", func() (string, error) {
		return mustCLI(t, "--db", env.db, "--socket", sockB, "status"), nil
	}, func(s string) bool { return strings.Contains(engineLine(s, b), "lacks the password of module [1]") })
	if _, err := cb.CreateServices(ctx, "1", 1, "late@example.com"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new job of module 1 to say it is held", jobsOf(1), func(js []*store.Job) bool {
		for _, j := range js {
			if j.State == store.JobQueued && strings.Contains(j.Error, "holds version 1 of the password of module 1, but its current password is version 2") {
				return true
			}
		}
		return false
	})
	if n := len(env.sim.Stats().HostsCreated); n != 6 {
		t.Errorf("%d VMs exist; want 6 (none for the held job)", n)
	}

	// Host A holds both current passwords: once it joins, B hands the engine over at a job boundary
	// and waits as a standby again, and A runs the job B held.
	a := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve"))
	seenA := 0
	expectWithin(t, b.out, &seenB, "handing the engine over", 30*time.Second)
	expectWithin(t, b.out, &seenB, `this host waits as a standby again" why="handed over"`, 30*time.Second)
	expectWithin(t, a.out, &seenA, "engine lease taken", 30*time.Second)
	ca := server.NewClient(sockA, version)
	defer ca.Close()
	waitUntil(t, "host A to run the job host B held", jobsOn(ca, 1), func(js []*store.Job) bool { return allDone(js, 4) })
	status = mustCLI(t, "--db", env.db, "--socket", sockA, "status")
	if la, lb := engineLine(status, a), engineLine(status, b); !strings.Contains(la, ": runs the engine") ||
		!strings.Contains(lb, ": standby") || !strings.Contains(lb, "lacks the password of module [1]") {
		t.Errorf("status does not show host A running the engine and host B standing by, lacking module 1:\n%s", status)
	}

	// Stopped, A hands the engine back to B, the only host left, and module 1's new jobs wait there.
	a.stop()
	expectWithin(t, b.out, &seenB, "engine lease taken", 30*time.Second)
	expectWithin(t, b.out, &seenB, "server started", 30*time.Second)
	cb2 := server.NewClient(sockB, version)
	defer cb2.Close()
	if _, err := cb2.CreateServices(ctx, "1", 1, "later@example.com"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "module 1's newest job to wait on host B again", jobsOn(cb2, 1), func(js []*store.Job) bool {
		return len(js) == 5 && js[4].State == store.JobQueued && strings.Contains(js[4].Error, "held on this host")
	})
	if n := len(env.sim.Stats().HostsCreated); n != 7 {
		t.Errorf("%d VMs exist; want 7 (none for the job held on B)", n)
	}
	noVMTwice(t, env)
}

// engineLine is status's line about the engine of serve process p.
func engineLine(status string, p *serveProc) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.Contains(l, fmt.Sprintf("(pid %d, ", p.cmd.Process.Pid)) {
			return l
		}
	}
	return ""
}

// addSecondModule writes module 2 on the emulator (its password not set) with tariff 2 on it.
func addSecondModule(t *testing.T, env *engineEnv) {
	t.Helper()
	db, err := store.Open(env.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := store.DefaultParams()
	p.Queue, p.QueueKey, p.QueueCount = true, "r-__PMID__", 2
	m := &store.Module{Name: "vmm-two", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: env.url,
		Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Enabled: true, Params: p,
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}}
	tr := &store.Tariff{Name: "other", DataCenterID: 1, ModuleIDs: []uint64{2}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	for _, r := range []store.Record{m, tr} {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	if m.ID != 2 || tr.ID != 2 {
		t.Fatalf("module %d, tariff %d: want 2 and 2", m.ID, tr.ID)
	}
}

// setPassword runs vmmpm module password ID as a host whose keyring is service keyring: directly, or
// through socket (the password is then kept by the serve process there, in its own keyring).
func setPassword(t *testing.T, db, socket, keyring string, module uint64) {
	t.Helper()
	own := os.Getenv("VMMPM_KEYRING_SERVICE")
	defer os.Setenv("VMMPM_KEYRING_SERVICE", own)
	t.Setenv("VMMPM_KEYRING_SERVICE", keyring)
	ks := store.NewKeyring()
	t.Cleanup(func() { _ = ks.Delete(module); _ = ks.Delete(store.PasswordVersionID(module)) })
	args := []string{"--db", db, "--socket", socket, "module", "password", fmt.Sprint(module)}
	if socket == "" {
		args = []string{"--db", db, "--socket", filepath.Join(t.TempDir(), "none.sock"), "module", "password", fmt.Sprint(module)}
	}
	if out, errOut, code := runCLI(t, "demo-password\n", args...); code != 0 {
		t.Fatalf("module password %d (keyring %s): exit %d, %q %q", module, keyring, code, out, errOut)
	}
}

// putKeyring writes module's password and the version it is said to be straight into the keyring of
// service keyring, as a host's keyring holds them.
func putKeyring(t *testing.T, keyring string, module uint64, password string, version int64) {
	t.Helper()
	own := os.Getenv("VMMPM_KEYRING_SERVICE")
	defer os.Setenv("VMMPM_KEYRING_SERVICE", own)
	t.Setenv("VMMPM_KEYRING_SERVICE", keyring)
	ks := store.NewKeyring()
	if err := errors.Join(ks.Set(module, password), ks.Set(store.PasswordVersionID(module), fmt.Sprint(version))); err != nil {
		t.Fatal(err)
	}
}

func allDone(jobs []*store.Job, want int) bool {
	if len(jobs) != want {
		return false
	}
	for _, j := range jobs {
		if j.State != store.JobDone {
			return false
		}
	}
	return true
}

// TestHostCatchesUpWithPasswordThatLogsIn: host A sets module 1's password again, the same one (by
// version a change), and module 2's to one host B does not hold. B, running the engine, logs in with
// what its keyring holds: module 1's logs in, so B catches up and runs its jobs with no password typed
// again; module 2's old one is refused, so module 2 stays held.
func TestHostCatchesUpWithPasswordThatLogsIn(t *testing.T) {
	if testing.Short() {
		t.Skip("a serve process on PostgreSQL")
	}
	env, _, sockB := sharedEnv(t, 50*time.Millisecond)
	keyringA, keyringB := hostKeyrings()
	addSecondModule(t, env)
	for _, m := range []uint64{1, 2} {
		setPassword(t, env.db, "", keyringA, m) // version 1
		setPassword(t, env.db, "", keyringB, m) // B catches up: version 1 too
		setPassword(t, env.db, "", keyringA, m) // the same password again: version 2
	}
	putKeyring(t, keyringB, 2, "stale-password", 1) // module 2's password B holds no longer logs in

	b := serveWithKeyring(t, env.db, sockB, keyringB)
	seen := 0
	expectWithin(t, b.out, &seen, "server started", 30*time.Second)
	expectWithin(t, b.out, &seen, `module password caught up: the one this host holds logs in to VMmanager, so it is the current one" module=1 version=2`, 30*time.Second)
	if strings.Contains(b.out.String(), "caught up: the one this host holds logs in to VMmanager, so it is the current one\" module=2") {
		t.Fatalf("module 2's stale password was taken for the current one:\n%s", b.out)
	}
	anyOrder := 0 // the two modules are tried in either order
	expectWithin(t, b.out, &anyOrder, `does not log in; give it the current one" module=2`, 30*time.Second)
	cb := server.NewClient(sockB, version)
	defer cb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, tariff := range []string{"1", "2"} {
		if _, err := cb.CreateServices(ctx, tariff, 1, "catchup@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "module 1's open to finish on host B", func() ([]*store.Job, error) {
		jl, err := cb.Jobs(ctx, backend.JobQuery{Module: 1})
		if err != nil {
			return nil, err
		}
		return jl.Jobs, nil
	}, func(js []*store.Job) bool { return allDone(js, 1) })
	jl, err := cb.Jobs(ctx, backend.JobQuery{Module: 2})
	if err != nil || len(jl.Jobs) != 1 || jl.Jobs[0].State != store.JobQueued || !strings.Contains(jl.Jobs[0].Error, "held on this host") {
		t.Fatalf("module 2's job on a host whose password for it no longer logs in: %+v, %v", jl, err)
	}
	status := mustCLI(t, "--db", env.db, "--socket", sockB, "status")
	if line := engineLine(status, b); !strings.Contains(line, "lacks the password of module [2]") {
		t.Errorf("status does not say host B lacks only module 2's password:\n%s", status)
	}
}
