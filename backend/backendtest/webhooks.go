package backendtest

import (
	"strconv"
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
)

// testSetWebhookSecret: a webhook's secret given on another host is kept in this side's keyring, and
// never in the database; a short one, another one than the webhook was added with, or one for a
// webhook that does not exist, is refused.
func testSetWebhookSecret(t *testing.T, env *Env) {
	b := env.Backend()
	added, err := b.AddWebhook(ctx(t), backend.WebhookRequest{URL: "http://127.0.0.1:9/hook", Events: []string{"*"},
		Secret: "the-first-hosts-secret"})
	must(t, err)
	id := added.Webhook.ID
	must(t, env.Secrets.Delete(store.WebhookSecretID(id))) // as on a host that did not add it
	wantRule(t, "a short secret", b.SetWebhookSecret(ctx(t), id, "short"), "secret", "at least")
	wantRule(t, "webhook 99's secret", b.SetWebhookSecret(ctx(t), 99, "the-first-hosts-secret"), store.FieldRecord, "there is no webhook 99")
	wantRule(t, "another secret than the webhook's", b.SetWebhookSecret(ctx(t), id, "a-mistyped-secret-000"), "secret",
		"is not webhook "+strconv.FormatUint(id, 10)+"'s: billing checks signatures with the secret given when the webhook was added")
	if _, err := env.Secrets.Get(store.WebhookSecretID(id)); err == nil {
		t.Fatal("a refused secret was kept")
	}
	must(t, b.SetWebhookSecret(ctx(t), id, "the-first-hosts-secret"))
	if got, _ := env.Secrets.Get(store.WebhookSecretID(id)); got != "the-first-hosts-secret" {
		t.Errorf("the secret kept is %q", got)
	}
	if env.Stored("the-first-hosts-secret") {
		t.Error("the webhook's secret is in the database")
	}
}
