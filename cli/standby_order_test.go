package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStandbyHostOrders: with host A's serve running the engine of a shared PostgreSQL and no server
// reached on host B, `vmmpm service create` and an operation run on B write their jobs to the
// database and say which host carries them out, and A's engine takes them in from the job feed
// and runs them (its log shows each done); a cancel run on B is asked of A's engine, whose answer
// it prints; a direct change of records on B is still refused.
func TestStandbyHostOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("a serve process on PostgreSQL")
	}
	env, sockA, sockB := sharedEnv(t, 50*time.Millisecond)
	a := startServe(t, env.db, sockA)
	seenA := 0
	onB := []string{"--db", env.db, "--socket", filepath.Join(filepath.Dir(sockB), "none.sock")}
	out := mustCLI(t, append(onB, "service", "create", "--tariff", "small", "--count", "2", "--client", "ann@example.org")...)
	for _, want := range []string{"ordered service 1 ", "ordered service 2 ", "the engine on host "} {
		if !strings.Contains(out, want) {
			t.Errorf("service create on host B says %q, want %q in it", out, want)
		}
	}
	expectWithin(t, a.out, &seenA, `msg="job done" job=1 type=open`, 30*time.Second)
	seenA = 0
	expectWithin(t, a.out, &seenA, `msg="job done" job=2 type=open`, 30*time.Second)

	out = mustCLI(t, append(onB, "service", "reboot", "1")...)
	if !strings.Contains(out, "queued reboot of service 1 as job 3") {
		t.Errorf("service reboot on host B says %q", out)
	}
	expectWithin(t, a.out, &seenA, `msg="job done" job=3 type=reboot`, 30*time.Second)

	// A cancel is asked of A's engine, whose answer comes back: here its refusal, the job being done.
	_, errOut, code := runCLI(t, "", append(onB, "jobs", "cancel", "1")...)
	if code == 0 || !strings.Contains(errOut, "job 1 is done; only unfinished jobs can be cancelled") {
		t.Errorf("jobs cancel of a done job on host B: code %d, %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "", append(onB, "datacenter", "add", "DC Two")...)
	if code == 0 || !strings.Contains(errOut, "runs the engine of") || !strings.Contains(errOut, "nothing was changed") {
		t.Errorf("a direct change on host B: code %d, %q", code, errOut)
	}
}
