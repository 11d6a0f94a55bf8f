package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/store"
)

// TestJobsFollowSurvivesAKill (issue 23 point 7): --follow keeps running when its server is killed
// (SIGKILL: no goodbye), says so, and when a server answers again it shows every change it missed
// meanwhile (here another engine finished the run while no server was up) and then the new
// server's, each once: every job ends done exactly once on its output, and no line repeats.
func TestJobsFollowSurvivesAKill(t *testing.T) {
	env := newEngineEnv(t, 300*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	var out, errOut termtest.SyncBuffer
	a := &app{dbPath: env.db, socket: env.socket(), stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.jobs(ctx, jobsFlags{follow: true, asJSON: true}) }()
	seen := 0
	termtest.Expect(t, &errOut, &seen, "waiting for vmmpm serve")
	env.cli("service", "create", "--client", "ann@example.org", "--tariff", "small", "--count", "8")
	srv := env.startServe()
	termtest.Expect(t, &errOut, &seen, "following its job changes")
	dones := func() int { return strings.Count(out.String(), `"state":"done"`) }
	waitShowing(t, "two jobs done before the kill", func() bool { return dones() >= 2 }, &out)
	_ = srv.cmd.Process.Kill()
	<-srv.done
	srv.done <- nil
	termtest.Expect(t, &errOut, &seen, "server stopped; waiting for it to come back")

	env.cli("engine", "--until-idle") // finishes the run, interrupted jobs included, with no server to tell
	env.cli("service", "create", "--client", "ann@example.org", "--tariff", "small", "--count", "2")
	env.startServe()
	termtest.Expect(t, &errOut, &seen, "following its job changes")
	waitShowing(t, "ten jobs done", func() bool { return dones() >= 10 }, &out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	doneOf := map[uint64]int{}
	last := map[uint64]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		j := decodeJSON[store.Job](t, line)
		if line == last[j.ID] {
			t.Errorf("job %d's change was shown twice: %s", j.ID, line)
		}
		last[j.ID] = line
		if j.State == store.JobDone {
			doneOf[j.ID]++
		}
	}
	for id := uint64(1); id <= 10; id++ {
		if doneOf[id] != 1 {
			t.Errorf("job %d was shown done %d times, want once\n%s", id, doneOf[id], out.String())
		}
	}
	if strings.Contains(errOut.String(), "were missed") {
		t.Errorf("follow gave up on catching up:\n%s", errOut.String())
	}
}

// waitShowing polls cond until it holds, failing after a generous deadline with what out shows.
func waitShowing(t *testing.T, what string, cond func() bool, out *termtest.SyncBuffer) {
	t.Helper()
	waitUntil(t, what, func() (string, error) { return "output:\n" + out.String(), nil }, func(string) bool { return cond() })
}
