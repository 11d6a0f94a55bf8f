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
	h := webhookOnHostA(t, "second-host-secret-0123456789")
	env, sockB, b, secretFile, receivedFile := h.env, h.sockB, h.b, h.secretFile, h.received
	seenB := &h.seenB

	mustCLI(t, "--db", env.db, "--socket", sockB, "service", "create", "--client", "c@example.com", "--tariff", "small", "--count", "2")
	expectWithin(t, b.out, seenB, "webhook delivery waits for this host's keyring", time.Minute)
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

// TestEngineGoesToTheHostWithTheWebhookSecret: a webhook's secret counts in the choice of the engine's
// host as a module password does. Host A adds a webhook and stops; host B, lacking its secret, takes
// the engine, and the deliveries wait; A comes back as a standby holding the secret, B hands the engine
// over, and A delivers, signed.
func TestEngineGoesToTheHostWithTheWebhookSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("two serve processes on PostgreSQL")
	}
	h := webhookOnHostA(t, "only-host-a-holds-this-secret")
	env, sockA, sockB, b, receivedFile := h.env, h.sockA, h.sockB, h.b, h.received
	seenB := &h.seenB
	mustCLI(t, "--db", env.db, "--socket", sockB, "service", "create", "--client", "c@example.com", "--tariff", "small")
	expectWithin(t, b.out, seenB, "webhook delivery waits for this host's keyring", time.Minute)
	if status := mustCLI(t, "--db", env.db, "--socket", sockB, "status"); !strings.Contains(status, "lacks the secret of webhook [1]") {
		t.Errorf("status does not say host B lacks webhook 1's secret:\n%s", status)
	}

	a := startProc(t, vmmpmCmd("--db", env.db, "--socket", sockA, "serve"))
	seenA := 0
	expectWithin(t, b.out, seenB, "handing the engine over", time.Minute)
	expectWithin(t, a.out, &seenA, "server started", time.Minute)
	waitUntil(t, "service.active to arrive from host A, signed with the secret", func() ([]received, error) {
		return readReceived(t, receivedFile), nil
	}, func(rs []received) bool {
		for _, r := range rs {
			if !r.Verified {
				t.Fatalf("delivery %d (%s) does not verify with webhook add's secret", r.ID, r.Event)
			}
			if r.Event == "service.active" {
				return true
			}
		}
		return false
	})
}

// webhookHosts is a shared database with one module whose password both hosts hold, and a webhook
// added on host A (whose keyring alone holds its secret, in secretFile too) for a receiver writing
// what it gets to received. A has stopped; host B runs the engine.
type webhookHosts struct {
	env                  *engineEnv
	sockA, sockB         string
	b                    *serveProc
	seenB                int
	secretFile, received string
}

func webhookOnHostA(t *testing.T, secret string) *webhookHosts {
	t.Helper()
	h := &webhookHosts{}
	h.env, h.sockA, h.sockB = sharedEnv(t, 50*time.Millisecond)
	keyringA, keyringB := hostKeyrings()
	setPassword(t, h.env.db, "", keyringA, 1)
	setPassword(t, h.env.db, "", keyringB, 1)
	h.secretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(h.secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var url string
	url, h.received = startReceiver(t, secret)
	a := startProc(t, vmmpmCmd("--db", h.env.db, "--socket", h.sockA, "serve"))
	seenA := 0
	expectWithin(t, a.out, &seenA, "server started", 30*time.Second)
	mustCLI(t, "--db", h.env.db, "--socket", h.sockA, "webhook", "add", url, "--events", "service.*", "--secret-file", h.secretFile)
	h.b = serveWithKeyring(t, h.env.db, h.sockB, keyringB)
	expectWithin(t, h.b.out, &h.seenB, "standby: another host runs the engine", 30*time.Second)
	a.stop()
	expectWithin(t, h.b.out, &h.seenB, "engine lease taken", 30*time.Second)
	expectWithin(t, h.b.out, &h.seenB, "server started", 30*time.Second)
	return h
}
