package cli

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
)

// TestTUIOnStandbyHost: host A's vmmpm serve runs the engine of a shared PostgreSQL; the TUI started
// in host B's folder (nothing answers on its socket) opens a standby view instead of refusing. It
// says so, shows A's jobs, sees a job enqueued through A's socket reach done without a key pressed,
// has a queued job cancelled by asking A's engine, and the Lanes screen names
// the host holding the engine lease. Once A is killed and B's own serve (a standby so far) takes
// over, the TUI attaches to it and names B.
func TestTUIOnStandbyHost(t *testing.T) {
	if testing.Short() {
		t.Skip("a serve process on PostgreSQL")
	}
	env, sockA, sockB := sharedEnv(t, 50*time.Millisecond)
	a := startServe(t, env.db, sockA, "--lease-ttl", "2s")
	b := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockB, "serve"))
	seenB := 0
	expectWithin(t, b.out, &seenB, "standby: another host runs the engine", 30*time.Second)
	host, _ := os.Hostname()
	holder := fmt.Sprintf("host %s (pid %d)", host, a.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ca := server.NewClient(sockA, version)
	defer ca.Close()
	if _, err := ca.CreateServices(ctx, "small", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	waitJobsFor(t, ca, 1, time.Minute)

	cmd := vmmpmCmd("--db", env.db, "--socket", sockB) // the standby's socket: nothing answers there yet
	cmd.Env = append(environWithout(cmd.Env, "COLORTERM"), "NO_COLOR=1")
	u := runInPTY(t, 120, 40, cmd)
	within := func(text string) { t.Helper(); expectWithin(t, u.out, &u.seen, text, time.Minute) }
	within("STANDBY view: orders go to the engine on " + holder)
	u.key("3")
	within("Done 1")

	// A job enqueued through A's socket is seen done here with no key pressed: the view polls.
	if _, err := ca.CreateServices(ctx, "small", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`\b2 +2 +open +vmm .* done `) // job 2, the open of service 2, in the list
	waitUntil(t, "the TUI to list job 2 done", func() (string, error) { return u.out.String()[u.seen:], nil }, row.MatchString)
	within("Done 2")

	// A cancel is asked of A's engine, which makes it.
	mustCLI(t, "--db", env.db, "--socket", sockA, "module", "pause", "1")
	o, err := ca.CreateServices(ctx, "small", 1, "client@example.com")
	if err != nil {
		t.Fatal(err)
	}
	within("Queued 1")
	u.key("\x1b[C") // →, the Queued tab: the paused module's job alone, selected
	within("[Queued 1]")
	// The tab is drawn before its page is read, and a c with no row selected does nothing.
	queued := regexp.MustCompile(fmt.Sprintf(`\b\d+ +%d +open +vmm .* queued`, o.Services[0].ID))
	waitUntil(t, "the Queued tab to list the open", func() (string, error) { return u.out.String()[u.seen:], nil }, queued.MatchString)
	u.key("c")
	within("Cancel job")
	u.key("y")
	within("Cancelled 1") // asked of A's engine, which cancelled it
	jl, err := ca.Jobs(ctx, backend.JobQuery{State: store.JobCancelled})
	if err != nil || len(jl.Jobs) != 1 || jl.Jobs[0].ServiceID != o.Services[0].ID {
		t.Fatalf("after the cancel the cancelled jobs are %v (%v), want the open of service %d", jl, err, o.Services[0].ID)
	}
	if _, err := ca.CreateServices(ctx, "small", 1, "client@example.com"); err != nil { // held until the module resumes
		t.Fatal(err)
	}
	within("Queued 1")

	u.key("7")
	within("every lane runs on " + holder + ", engine lease renewed")

	// A dies and B's own serve takes over: the TUI attaches to it, names B, and sees B's engine run
	// the job it had held.
	killed := len(u.out.String())
	_ = a.cmd.Process.Kill()
	expectWithin(t, b.out, &seenB, "server started", time.Minute)
	holderB := fmt.Sprintf("host %s (pid %d)", host, b.cmd.Process.Pid)
	// One frame redraws both lines, the status line last: both are looked for since the kill.
	waitUntil(t, "the status line and the Lanes screen to name B", func() (string, error) { return u.out.String()[killed:], nil },
		func(out string) bool {
			return strings.Contains(out, fmt.Sprintf("attached to pid %d", b.cmd.Process.Pid)) && strings.Contains(out, "every lane runs on "+holderB)
		})
	mustCLI(t, "--db", env.db, "--socket", sockB, "module", "resume", "1")
	u.key("3")
	within("Done 3")
	u.quit()
}
