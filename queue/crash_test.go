package queue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/internal/storetest"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// Environment of the crash child: the test binary re-executed runs an engine on this database
// against this emulator URL, reading the module password from stdin.
const (
	envCrashDB     = "VMMPM_CRASH_CHILD_DB"
	envCrashModule = "VMMPM_CRASH_CHILD_MODULE"
	envCrashRounds = "VMMPM_CRASH_ROUNDS"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envCrashDB); path != "" {
		os.Exit(crashChild(path))
	}
	if dir := os.Getenv(envKeyringChild); dir != "" {
		if err := keyringChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "keyring child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(storetest.Main(m))
}

// crashChild runs the engine until idle; the parent kills it at a random moment.
func crashChild(path string) int {
	pw, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "child: reading the password:", err)
		return 3
	}
	module, _ := strconv.ParseUint(os.Getenv(envCrashModule), 10, 64)
	db, err := store.Open(path, store.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	secrets := store.NewMemorySecrets()
	if err := secrets.Set(module, strings.TrimSpace(pw)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	e, err := New(db, secrets, Options{BackoffBase: time.Millisecond, PollEvery: 10 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	fmt.Println("ready")
	if err := e.RunUntilIdle(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 4
	}
	_ = e.Close()
	_ = db.Close()
	fmt.Println("idle")
	return 0
}

// TestCrashRecovery kills an engine child process at random moments during ≥ 80 operations, restarts
// it, and checks that every job ends done, no VM was created twice, the services agree with
// VMmanager and a bbolt file passes bbolt's consistency check.
func TestCrashRecovery(t *testing.T) {
	rounds := 10
	if s := os.Getenv(envCrashRounds); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q is not a positive number", envCrashRounds, s)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, seed))

	f := newFixture(t, sim.Config{TaskTime: 60 * time.Millisecond, Latency: time.Millisecond}, queueParams("k-__PMID__", 3))
	e := f.engine(fastOptions())
	// Enough work that every round can kill a child mid-run: 4 operations per service.
	svcs, err := e.CreateServices(f.tariff.ID, min(max(20, 2*rounds), 200), "crash@example.org")
	if err != nil {
		t.Fatal(err)
	}
	enqueueMore(t, e, svcs) // open, reboot, suspend, resume: at least 80 operations
	_ = e.Close()
	f.must(f.db.Close())

	killedMidRun := 0
	for round := range rounds {
		finished := runChild(t, f, time.Duration(20+rng.IntN(300))*time.Millisecond)
		if !finished {
			killedMidRun++
		}
		t.Logf("round %d: %s", round+1, map[bool]string{true: "child finished", false: "child killed"}[finished])
	}
	if killedMidRun == 0 {
		t.Fatal("no child was killed while it still had work: the crash test tested nothing")
	}

	// The last restart, in process, finishes whatever is left.
	f.open()
	doneBefore := 0
	for _, j := range allJobs(t, f.db) {
		if j.State == store.JobDone {
			doneBefore++
		}
	}
	e = f.engine(fastOptions())
	runIdle(t, e, 60*time.Second)
	resumed := 0
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone {
			t.Errorf("job %d (%s of service %d) ended %s: %s", j.ID, j.Type, j.ServiceID, j.State, j.Error)
		}
		if slices.ContainsFunc(j.Log, func(l store.LogLine) bool { return strings.Contains(l.Text, "resumed after an interruption") }) {
			resumed++
		}
	}
	t.Logf("%d kills mid-run, %d of %d jobs done by the killed children, %d resumed after an interruption",
		killedMidRun, doneBefore, 4*len(svcs), resumed)
	st := f.sim.Stats()
	if len(st.HostsCreated) != len(svcs) {
		t.Errorf("%d VM names created, want %d", len(st.HostsCreated), len(svcs))
	}
	for name, n := range st.HostsCreated {
		if n != 1 {
			t.Errorf("VM %s created %d times", name, n)
		}
	}
	checkServicesAgree(t, f, svcs)
	_ = e.Close()
	f.must(f.db.Close())
	checkFile(t, f)
}

// runChild starts the engine child and SIGKILLs it after d unless it finished first.
func runChild(t *testing.T, f *fixture, d time.Duration) (finished bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDB+"="+f.path, envCrashModule+"="+strconv.FormatUint(f.module.ID, 10))
	cmd.Stdin = strings.NewReader("demo-password\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		_ = cmd.Wait()
		t.Fatalf("child did not start: %q %s", lines.Text(), stderr.String())
	}
	exited := make(chan error, 1)
	go func() {
		for lines.Scan() {
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child failed: %v: %s", err, stderr.String())
		}
		return true
	case <-time.After(d):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		return false
	}
}

// checkServicesAgree compares each service with the VM VMmanager holds under its name.
func checkServicesAgree(t *testing.T, f *fixture, svcs []store.Service) {
	t.Helper()
	c, err := vmm.New(vmm.Config{URL: f.url, Email: "admin@example.com", Password: "demo-password", SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s0 := range svcs {
		s, err := store.Load[store.Service](f.db, s0.ID)
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.FindHostByName(ctx, VMName(s.ID))
		if err != nil || h == nil {
			t.Errorf("service %d: no VM %s in VMmanager (%v)", s.ID, VMName(s.ID), err)
			continue
		}
		want := map[string]string{store.ServiceActive: "active", store.ServiceSuspended: "stopped"}[s.Status]
		if h.ID != s.VM.HostID || h.State != want || !slices.Equal(h.IPv4, s.VM.IPv4) {
			t.Errorf("service %d (%s, VM %d, %v) disagrees with VMmanager (VM %d %s, %v)",
				s.ID, s.Status, s.VM.HostID, s.VM.IPv4, h.ID, h.State, h.IPv4)
		}
	}
}
