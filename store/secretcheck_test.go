package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebhookSecretCheck: the check tells the webhook's secret from another, holds nothing of the
// secret, is absent (anything passes) for a webhook added before checks, and goes with its webhook.
func TestWebhookSecretCheck(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "vmmpm.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const secret = "whsec_the-one-billing-checks"
	checked := &Webhook{URL: "https://billing.example.com/hook", Events: []string{"*"}, CreatedAt: time.Now()}
	older := &Webhook{URL: "https://billing.example.com/old", Events: []string{"*"}, CreatedAt: time.Now()}
	err = db.Update(func(tx *Tx) error {
		if err := AddWebhook(tx, checked); err != nil {
			return err
		}
		if err := SetWebhookSecretCheck(tx, checked.ID, SecretCheck(secret)); err != nil {
			return err
		}
		return AddWebhook(tx, older)
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := SecretCheck(secret); strings.Contains(c, "the-one") || len(c) != 64 || c == SecretCheck(secret+"x") {
		t.Fatalf("the check %q shows the secret, or does not tell secrets apart", c)
	}
	_ = db.View(func(tx *Tx) error {
		if !SecretMatches(tx, checked.ID, secret) || SecretMatches(tx, checked.ID, "whsec_mistyped") {
			t.Error("the check does not tell the webhook's secret from another")
		}
		if !SecretMatches(tx, older.ID, "anything-at-all") {
			t.Error("a webhook added before checks refuses a secret")
		}
		return nil
	})
	if err := db.Update(func(tx *Tx) error { _, err := RemoveWebhook(tx, checked.ID); return err }); err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *Tx) error {
		if WebhookSecretCheck(tx, checked.ID) != "" {
			t.Error("a removed webhook's check stayed")
		}
		return nil
	})
}
