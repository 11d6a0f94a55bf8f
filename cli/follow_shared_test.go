package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
)

// TestFollowOnStandbyHost: jobs --follow on a standby host of a shared database (its serve opens no
// socket) shows the jobs the other host runs, read from the database; once the other host is killed
// and this one takes over, the follower attaches to it and shows what it runs.
func TestFollowOnStandbyHost(t *testing.T) {
	if testing.Short() {
		t.Skip("two serve processes on PostgreSQL")
	}
	env, sockA, sockB := sharedEnv(t, 50*time.Millisecond)
	a := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve", "--lease-ttl", "2s"))
	seenA := 0
	expectWithin(t, a.out, &seenA, "server started", 30*time.Second)
	b := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockB, "serve"))
	seenB := 0
	expectWithin(t, b.out, &seenB, "standby: another host runs the engine", 30*time.Second)

	f := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockB, "jobs", "--follow"))
	seenF := 0
	expectWithin(t, f.out, &seenF, "following every host's job changes", 30*time.Second)
	// A follower whose poll never comes in the test's time is told of the commits by their NOTIFY.
	woken := vmmpmCmd("--db", env.db, "--socket", sockB, "jobs", "--follow")
	woken.Env = append(woken.Env, envFollowPoll+"=1h")
	fw := startProc(t, woken)
	seenW := 0
	expectWithin(t, fw.out, &seenW, "following every host's job changes", 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ca := server.NewClient(sockA, version)
	defer ca.Close()
	openAndWatch(ctx, t, ca, "the followers on the standby host", f, fw)

	_ = a.cmd.Process.Kill()
	<-a.done
	a.done <- nil
	expectWithin(t, b.out, &seenB, "server started", 40*time.Second)
	expectWithin(t, f.out, &seenF, "the vmmpm server answers; following its job changes", 30*time.Second)
	cb := server.NewClient(sockB, version)
	defer cb.Close()
	openAndWatch(ctx, t, cb, "the follower attached after the takeover", f)
}

// openAndWatch opens two services through c and waits until each follower in fs has printed each
// one's open job as done.
func openAndWatch(ctx context.Context, t *testing.T, c *server.Client, who string, fs ...*serveProc) {
	t.Helper()
	o, err := c.CreateServices(ctx, "1", 2, "client@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ours := map[uint64]bool{}
	for _, s := range o.Services {
		ours[s.ID] = true
	}
	jl, err := c.Jobs(ctx, backend.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jl.Jobs {
		if !ours[j.ServiceID] {
			continue
		}
		n++
		id := strconv.FormatUint(j.ID, 10)
		for _, f := range fs {
			waitUntil(t, who+" to show job "+id+" done", func() (string, error) { return f.out.String(), nil },
				func(out string) bool { return followedAs(out, id, store.JobDone) })
		}
	}
	if n != len(ours) {
		t.Fatalf("%d jobs for the %d services opened", n, len(ours))
	}
}

// followedAs reports whether a --follow line shows job id in state.
func followedAs(out, id, state string) bool {
	for _, l := range strings.Split(out, "\n") {
		if fs := strings.Fields(l); len(fs) > 2 && fs[1] == id && strings.Contains(l, " "+state+" ") {
			return true
		}
	}
	return false
}
