package cli

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"vmmpm/server"
)

// TestAttachedTUIFollowsStandDown: a TUI attached to host B's serve on a shared PostgreSQL shows the
// normal picture; host A, holding more passwords, joins and B hands the engine over and stands down:
// the TUI switches to the read-only view of the database, says so, refuses a change naming A, and
// sees a job A runs reach done. A stopped (SIGTERM), B runs the engine again and the TUI attaches to
// it again: the read-only line gone, a change (pausing module 1) goes through.
func TestAttachedTUIFollowsStandDown(t *testing.T) {
	if testing.Short() {
		t.Skip("two serve processes on PostgreSQL")
	}
	env, sockA, sockB, keyringB := hostsByPasswords(t)
	b := serveWithKeyring(t, env.db, sockB, keyringB)
	seenB := 0
	expectWithin(t, b.out, &seenB, "server started", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cb := server.NewClient(sockB, version)
	defer cb.Close()
	if _, err := cb.CreateServices(ctx, "1", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	waitJobsFor(t, cb, 1, time.Minute)

	cmd := vmmpmCmd("--db", env.db, "--socket", sockB)
	cmd.Env = append(environWithout(cmd.Env, "COLORTERM"), "NO_COLOR=1", "VMMPM_KEYRING_SERVICE="+keyringB)
	u := runInPTY(t, 180, 40, cmd)
	within := func(text string) { t.Helper(); expectWithin(t, u.out, &u.seen, text, time.Minute) }
	within(fmt.Sprintf("attached to pid %d", b.cmd.Process.Pid))
	u.key("3")
	within("Done 1")

	// A joins: B hands over and stands down; the TUI reads the database instead.
	a := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve"))
	expectWithin(t, b.out, &seenB, `this host waits as a standby again" why="handed over"`, time.Minute)
	host, _ := os.Hostname()
	holderA := fmt.Sprintf("host %s (pid %d)", host, a.cmd.Process.Pid)
	within(fmt.Sprintf("server pid %d stood down", b.cmd.Process.Pid))
	within("STANDBY view: orders go to the engine on " + holderA + "; attaching again when it serves")

	ca := server.NewClient(sockA, version)
	defer ca.Close()
	if _, err := ca.CreateServices(ctx, "1", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`\b2 +2 +open +vmm .* done `) // job 2, the open of service 2, run by A
	waitUntil(t, "the TUI to list job 2 done", func() (string, error) { return u.out.String()[u.seen:], nil }, row.MatchString)
	within("Done 2")
	u.key("1")
	pauseRefused(u, within, a)

	// A stops: B runs the engine again, opens its socket, and the TUI is attached to it again.
	attachesOnceAStops(t, u, within, a, b, &seenB, sockB)
}

// pauseRefused pauses module 1 in TUI u (on the Modules screen) and waits for the refusal naming
// engine host a.
func pauseRefused(u *tui, within func(string), a *serveProc) {
	u.t.Helper()
	host, _ := os.Hostname()
	// The status line can be drawn before the list is read; a p with no row selected does nothing.
	// The selected row's reconcile line, once drawn, stays: so it is looked for in all the output.
	waitUntil(u.t, "module 1's row to be selected", func() (bool, error) {
		return strings.Contains(u.out.String(), "reconcile of module 1: "), nil
	}, func(drawn bool) bool { return drawn })
	u.key("p")
	within("Pause module 1")
	u.key("y")
	within(fmt.Sprintf("vmmpm on host %s (pid %d, %s) runs the engine of", host, a.cmd.Process.Pid, version))
}

// attachesOnceAStops stops host a, waits for b's serve to run the engine, and for TUI u (on the
// Modules screen) to attach to it: a pause typed there then goes through, as b's socket confirms.
func attachesOnceAStops(t *testing.T, u *tui, within func(string), a, b *serveProc, seenB *int, sockB string) {
	t.Helper()
	stopped := len(u.out.String())
	a.stop()
	expectWithin(t, b.out, seenB, "server started", time.Minute)
	u.seen = stopped
	within(fmt.Sprintf("attached to pid %d", b.cmd.Process.Pid))
	u.key("p")
	within("Pause module 1")
	u.key("y")
	within(`module "vmm" paused`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cb := server.NewClient(sockB, version)
	defer cb.Close()
	act, err := cb.ModuleActivity(ctx, 1)
	if err != nil || act.Paused == nil || !act.Engine {
		t.Fatalf("after the pause through the TUI attached to B, module 1's activity on B is %+v (%v); want paused, engine running", act, err)
	}
	u.quit()
}

// hostsByPasswords is a shared environment with two modules where host A (this process's keyring)
// holds both passwords and host B (keyring keyringB) only module 1's: once A serves, B hands it the
// engine.
func hostsByPasswords(t *testing.T) (env *engineEnv, sockA, sockB, keyringB string) {
	t.Helper()
	env, sockA, sockB = sharedEnv(t, 50*time.Millisecond)
	keyringA, keyringB := hostKeyrings()
	addSecondModule(t, env)
	setPassword(t, env.db, "", keyringA, 1)
	setPassword(t, env.db, "", keyringA, 2)
	setPassword(t, env.db, "", keyringB, 1)
	return env, sockA, sockB, keyringB
}

// TestStandbyTUIAttachesWhenItsServeTakesOver: a TUI opened on host B, whose serve stands by while A
// runs the engine, shows the read-only view naming A; A stops (SIGTERM), B's serve takes the engine
// and opens its socket, and the TUI attaches to it by itself: the read-only line gone, a change
// (pausing module 1) goes through.
func TestStandbyTUIAttachesWhenItsServeTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("two serve processes on PostgreSQL")
	}
	env, sockA, sockB, keyringB := hostsByPasswords(t)
	a := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve"))
	seenA := 0
	expectWithin(t, a.out, &seenA, "server started", 30*time.Second)
	b := serveWithKeyring(t, env.db, sockB, keyringB)
	seenB := 0
	expectWithin(t, b.out, &seenB, "standby: another host runs the engine", 30*time.Second)

	cmd := vmmpmCmd("--db", env.db, "--socket", sockB)
	cmd.Env = append(environWithout(cmd.Env, "COLORTERM"), "NO_COLOR=1", "VMMPM_KEYRING_SERVICE="+keyringB)
	u := runInPTY(t, 180, 40, cmd)
	within := func(text string) { t.Helper(); expectWithin(t, u.out, &u.seen, text, time.Minute) }
	host, _ := os.Hostname()
	within(fmt.Sprintf("STANDBY view: orders go to the engine on host %s (pid %d)", host, a.cmd.Process.Pid))
	pauseRefused(u, within, a)
	attachesOnceAStops(t, u, within, a, b, &seenB, sockB)
}
