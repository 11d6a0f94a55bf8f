package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebhookSecretOnSecondHost: a webhook added on host A signs with the secret in A's keyring. Host B
// takes the engine over (A stopped) and lacks that secret: it sends nothing, its deliveries wait with
// no attempt counted, and webhook deliveries says what to run. Given the secret with webhook secret,
// B delivers every event, each verifying with the secret webhook add was given; a mistyped secret is
// refused before it reaches the keyring.
func TestWebhookSecretOnSecondHost(t *testing.T) {
	if testing.Short() {
		t.Skip("two serve processes on PostgreSQL")
	}
	env, sockA, sockB := sharedEnv(t, 50*time.Millisecond)
	keyringA, keyringB := hostKeyrings()
	setPassword(t, env.db, "", keyringA, 1)
	setPassword(t, env.db, "", keyringB, 1)
	const secret = "second-host-secret-0123456789"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, receivedFile := startReceiver(t, secret)

	a := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve"))
	seenA := 0
	expectWithin(t, a.out, &seenA, "server started", 30*time.Second)
	mustCLI(t, "--db", env.db, "--socket", sockA, "webhook", "add", url, "--events", "service.*", "--secret-file", secretFile)
	b := serveWithKeyring(t, env.db, sockB, keyringB)
	seenB := 0
	expectWithin(t, b.out, &seenB, "standby: another host runs the engine", 30*time.Second)
	a.stop()
	expectWithin(t, b.out, &seenB, "engine lease taken", 30*time.Second)
	expectWithin(t, b.out, &seenB, "server started", 30*time.Second)

	mustCLI(t, "--db", env.db, "--socket", sockB, "service", "create", "--client", "c@example.com", "--tariff", "small", "--count", "2")
	expectWithin(t, b.out, &seenB, "webhook delivery waits for this host's keyring", time.Minute)
	deliveries := waitUntil(t, "webhook deliveries to say why they wait", func() (string, error) {
		return mustCLI(t, "--db", env.db, "--socket", sockB, "webhook", "deliveries", "--json"), nil
	}, func(s string) bool { return strings.Contains(s, "lacks webhook 1's secret") })
	if !strings.Contains(deliveries, "vmmpm webhook secret 1 --secret-file") || strings.Contains(deliveries, `"attempts": 1`) ||
		len(readReceived(t, receivedFile)) != 0 {
		t.Fatalf("host B, lacking the secret, sent something or does not say why it waits:\n%s", deliveries)
	}

	if status := mustCLI(t, "--db", env.db, "--socket", sockB, "status"); !strings.Contains(status, "this host's keyring lacks webhook 1's secret") {
		t.Errorf("status on host B does not say it lacks webhook 1's secret:\n%s", status)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrongFile, []byte("a-mistyped-secret-000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "", "--db", env.db, "--socket", sockB, "webhook", "secret", "1", "--secret-file", wrongFile)
	if code == 0 || !strings.Contains(stderr, "is not webhook 1's: billing checks signatures with the secret given when the webhook was added") {
		t.Fatalf("a mistyped secret was not refused (exit %d): %s", code, stderr)
	}
	out := mustCLI(t, "--db", env.db, "--socket", sockB, "webhook", "secret", "1", "--secret-file", secretFile)
	if !strings.Contains(out, "webhook 1: its secret is in this host's keyring") {
		t.Errorf("webhook secret said %q", out)
	}
	waitUntil(t, "both services' service.active to arrive, signed with the secret", func() ([]received, error) {
		return readReceived(t, receivedFile), nil
	}, func(rs []received) bool {
		active := 0
		for _, r := range rs {
			if !r.Verified {
				t.Fatalf("delivery %d (%s) does not verify with webhook add's secret", r.ID, r.Event)
			}
			if r.Event == "service.active" {
				active++
			}
		}
		return active == 2
	})
	if status := mustCLI(t, "--db", env.db, "--socket", sockB, "status"); strings.Contains(status, "lacks webhook") {
		t.Errorf("status still says host B lacks a webhook's secret once given:\n%s", status)
	}
}
