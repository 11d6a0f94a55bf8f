package ui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
	"vmmpm/webhook"
)

// TestWebhooksScreenShowsWhyADeliveryFails: a webhook whose receiver (real HTTP on loopback) answers
// 500; its test delivery, tried by the engine's deliverer, shows on the Webhooks screen (8) with its
// URL, event, tries and next try, and its whole last error under the table; / filters it away and back.
func TestWebhooksScreenShowsWhyADeliveryFails(t *testing.T) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "billing receiver is down for maintenance", http.StatusInternalServerError)
	}))
	defer receiver.Close()
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := store.NewMemorySecrets()
	eng, err := backend.StartEngine(context.Background(), db, secrets, backend.EngineOptions{Version: "test",
		Queue:    queue.Options{PollEvery: 10 * time.Millisecond},
		Webhooks: webhook.Options{FirstRetry: time.Hour, Poll: 10 * time.Millisecond, RecordEvery: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	added, err := eng.AddWebhook(ctx, backend.WebhookRequest{URL: receiver.URL + "/vmmpm", Events: []string{"service.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.TestWebhook(ctx, added.Webhook.ID); err != nil {
		t.Fatal(err)
	}
	var failed store.Delivery
	for deadline := time.Now().Add(30 * time.Second); failed.LastError == ""; {
		ds, err := eng.Deliveries(ctx, backend.DeliveryQuery{Failed: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			failed = ds[0]
		} else if time.Now().After(deadline) {
			t.Fatal("the test delivery was never tried")
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}

	app := ui.NewApp(ui.Config{Backend: eng, Secrets: secrets, Theme: uitest.Plain(), Clipboard: io.Discard})
	defer app.Close()
	term := termtest.Start(t, app, 120, 40)
	term.Key("8")
	frame := term.Wait("[8 Webhooks]", "Webhook deliveries (pending)", strings.TrimPrefix(receiver.URL, "http://")+"/vmmpm",
		"webhook.test", "pending", "in ", "last error:")
	text := strings.Join(strings.Fields(frame), " ")
	if !strings.Contains(text, strings.Join(strings.Fields(failed.LastError), " ")) {
		t.Fatalf("the screen does not show the whole last error %q:\n%s", failed.LastError, frame)
	}
	term.Key("/")
	term.Write("service.active")
	term.Wait("no deliveries match")
	term.Key("esc")
	term.Wait("webhook.test")
	term.Key("?")
	term.Wait("Keys — Webhook deliveries", "pending/all", "filter")
	term.Key("esc")
	term.Gone("Keys — ")
	term.Key("q")
	term.Finished(10 * time.Second)
}
