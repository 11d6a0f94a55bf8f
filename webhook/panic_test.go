package webhook_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/webhook"
)

// panicking is an HTTP client transport that panics, standing for a bug under an attempt.
type panicking struct{}

func (panicking) RoundTrip(*http.Request) (*http.Response, error) { panic("a bug in the transport") }

// TestDeliveryPanicIsAFailedAttempt: an attempt that panics is recorded as a failed attempt naming the
// crash report (written 0600), and the deliverer goes on delivering, never taking the process down.
func TestDeliveryPanicIsAFailedAttempt(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := store.NewMemorySecrets()
	w := &store.Webhook{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}, CreatedAt: time.Now()}
	if err := db.Update(func(tx *store.Tx) error { return store.AddWebhook(tx, w) }); err != nil {
		t.Fatal(err)
	}
	if err := secrets.Set(store.WebhookSecretID(w.ID), "panic-secret-0123456789"); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *store.Tx) error { _, err := webhook.AddTest(tx, w, time.Now()); return err }); err != nil {
		t.Fatal(err)
	}
	d := webhook.New(db, secrets, webhook.Options{Client: &http.Client{Transport: panicking{}},
		FirstRetry: 10 * time.Millisecond, MaxRetry: 20 * time.Millisecond, RecordEvery: 5 * time.Millisecond})
	last := attempted(t, d, db, 2)
	if !strings.Contains(last.LastError, "internal error") || strings.Contains(last.LastError, "goroutine") {
		t.Errorf("the attempt's error reads %q, want the crash report's sentence", last.LastError)
	}
	reports, _ := filepath.Glob(filepath.Join(state, "vmmpm", "crash-*.txt"))
	if len(reports) == 0 {
		t.Fatal("no crash report was written")
	}
	fi, err := os.Stat(reports[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("crash report %s: %v, mode %v", reports[0], err, fi.Mode())
	}
	if b, _ := os.ReadFile(reports[0]); !strings.Contains(string(b), "a bug in the transport") {
		t.Errorf("the crash report does not hold the panic:\n%s", b)
	}
}
