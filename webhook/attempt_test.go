package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/webhook"
)

// wire is a loopback receiver keeping every request it got, answering as answer says.
type wire struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
	answer func(w http.ResponseWriter, r *http.Request)
}

func (wr *wire) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wr.mu.Lock()
	wr.reqs, wr.bodies = append(wr.reqs, r), append(wr.bodies, body)
	wr.mu.Unlock()
	wr.answer(w, r)
}

func (wr *wire) count() int { wr.mu.Lock(); defer wr.mu.Unlock(); return len(wr.reqs) }

// deliverOnce queues a webhook.test delivery to url, runs a deliverer until its first attempt is
// recorded, and returns the delivery as recorded and the payload it carried.
func deliverOnce(t *testing.T, url string, opt webhook.Options) (store.Delivery, []byte) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := store.NewMemorySecrets()
	w := &store.Webhook{URL: url, Events: []string{"*"}, CreatedAt: time.Now()}
	var dl *store.Delivery
	err = db.Update(func(tx *store.Tx) (err error) {
		if err = store.AddWebhook(tx, w); err == nil {
			dl, err = webhook.AddTest(tx, w, time.Now())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := secrets.Set(store.WebhookSecretID(w.ID), "wire-secret"); err != nil {
		t.Fatal(err)
	}
	opt.FirstRetry, opt.RecordEvery = time.Hour, time.Millisecond
	last := attempted(t, webhook.New(db, secrets, opt), db, 1)
	body, _ := webhook.Body(dl)
	return last, body
}

// attempted runs d until the only delivery in db has had attempts attempts recorded, and returns it.
func attempted(t *testing.T, d *webhook.Deliverer, db *store.DB, attempts int) store.Delivery {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var last store.Delivery
	waitFor(t, 30*time.Second, fmt.Sprintf("%d attempts recorded", attempts), func() bool {
		var ds []store.Delivery
		_ = db.View(func(tx *store.Tx) (err error) { ds, err = store.Deliveries(tx, nil, 0); return err })
		if len(ds) == 1 {
			last = ds[0]
		}
		return last.Attempts >= attempts
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return last
}

// TestDeliveryOnTheWire: a delivery is one POST to the webhook's URL (path and query kept) carrying the
// payload, its content type, the User-Agent, the delivery id, the event and a signature that verifies,
// and no compression asked for.
func TestDeliveryOnTheWire(t *testing.T) {
	wr := &wire{answer: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }}
	srv := httptest.NewServer(wr)
	defer srv.Close()
	dl, body := deliverOnce(t, srv.URL+"/hooks/vmmpm?tenant=a%20b", webhook.Options{Version: "1.2.3"})
	if dl.State != store.DeliveryDelivered || wr.count() != 1 {
		t.Fatalf("delivery %+v after %d requests", dl, wr.count())
	}
	r, got := wr.reqs[0], wr.bodies[0]
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/vmmpm" || r.URL.Query().Get("tenant") != "a b" {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	if !bytes.Equal(got, body) || r.ContentLength != int64(len(body)) {
		t.Errorf("body %q (length %d), want %q", got, r.ContentLength, body)
	}
	want := map[string]string{"Content-Type": "application/json", "User-Agent": "vmmpm/1.2.3",
		webhook.HeaderDelivery: "1", webhook.HeaderEvent: store.EventTest, "Accept-Encoding": ""}
	for k, v := range want {
		if r.Header.Get(k) != v {
			t.Errorf("header %s: %q, want %q", k, r.Header.Get(k), v)
		}
	}
	if err := webhook.Verify("wire-secret", r.Header.Get(webhook.HeaderSignature), got, time.Now(), time.Minute); err != nil {
		t.Error(err)
	}
}

// TestFailedAttemptsSaySo: a redirect is not followed and counts as a failure, so does a receiver that
// does not answer in time and one that is not there; each is recorded with a sentence and retried.
func TestFailedAttemptsSaySo(t *testing.T) {
	moved := &wire{answer: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }}
	target := httptest.NewServer(moved)
	defer target.Close()
	redirect := httptest.NewServer(&wire{answer: func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}})
	defer redirect.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(&wire{answer: func(http.ResponseWriter, *http.Request) { <-release }})
	defer slow.Close()
	defer close(release)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, c := range []struct {
		name, url, want string
		opt             webhook.Options
	}{
		{"redirect", redirect.URL, "the receiver answered 302 Found", webhook.Options{}},
		{"slow", slow.URL, "the receiver did not answer: no answer within 200ms", webhook.Options{Timeout: 200 * time.Millisecond}},
		{"gone", gone.URL, "the receiver did not answer: dial tcp", webhook.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dl, _ := deliverOnce(t, c.url, c.opt)
			if dl.State != store.DeliveryPending || !strings.HasPrefix(dl.LastError, c.want) || dl.NextAt.IsZero() {
				t.Fatalf("delivery %+v; want pending, retried, with %q", dl, c.want)
			}
		})
	}
	if moved.count() != 0 {
		t.Fatalf("the redirect was followed %d times", moved.count())
	}
}

// TestMissingSecretWaitsUncounted: a host whose keyring lacks the webhook's secret (another host of
// a shared database made the webhook) sends nothing, counts no attempt and never gives the delivery
// up, saying why and what to run; once the secret is given it delivers, signed with it.
func TestMissingSecretWaitsUncounted(t *testing.T) {
	wr := &wire{answer: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }}
	srv := httptest.NewServer(wr)
	defer srv.Close()
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := &store.Webhook{URL: srv.URL, Events: []string{"*"}, CreatedAt: time.Now()}
	err = db.Update(func(tx *store.Tx) (err error) {
		if err = store.AddWebhook(tx, w); err == nil {
			_, err = webhook.AddTest(tx, w, time.Now())
		}
		if err == nil {
			err = store.SetWebhookSecretCheck(tx, w.ID, store.SecretCheck("given-later-secret"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	secrets := store.NewMemorySecrets()
	// A failed attempt would be given up at once: only an uncounted wait keeps it.
	d := webhook.New(db, secrets, webhook.Options{GiveUpAfter: time.Nanosecond, Poll: 10 * time.Millisecond, RecordEvery: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	only := func() store.Delivery {
		var ds []store.Delivery
		_ = db.View(func(tx *store.Tx) (err error) { ds, err = store.Deliveries(tx, nil, 0); return err })
		if len(ds) != 1 {
			return store.Delivery{}
		}
		return ds[0]
	}
	waitFor(t, 30*time.Second, "the delivery to say the secret is lacking", func() bool {
		return strings.Contains(only().LastError, "lacks webhook 1's secret")
	})
	if dl := only(); dl.State != store.DeliveryPending || dl.Attempts != 0 || wr.count() != 0 ||
		!strings.Contains(dl.LastError, "vmmpm webhook secret 1 --secret-file") {
		t.Fatalf("without the secret: %+v, %d requests; want pending, no attempt, nothing sent, the command named", dl, wr.count())
	}
	// Another secret than the one it was added with would sign what billing refuses: it waits too.
	if err := secrets.Set(store.WebhookSecretID(w.ID), "a-mistyped-secret-000"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the delivery to say the secret is another", func() bool {
		return strings.Contains(only().LastError, "holds another secret for webhook 1 than the one it was added with")
	})
	if dl := only(); dl.State != store.DeliveryPending || dl.Attempts != 0 || wr.count() != 0 {
		t.Fatalf("with another secret: %+v, %d requests; want pending, no attempt, nothing sent", dl, wr.count())
	}
	if err := secrets.Set(store.WebhookSecretID(w.ID), "given-later-secret"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the delivery once the secret is there", func() bool { return only().State == store.DeliveryDelivered })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if dl := only(); dl.Attempts != 1 || wr.count() != 1 {
		t.Errorf("delivered after %d attempts and %d requests, want 1 and 1", dl.Attempts, wr.count())
	}
	if err := webhook.Verify("given-later-secret", wr.reqs[0].Header.Get(webhook.HeaderSignature), wr.bodies[0], time.Now(), time.Minute); err != nil {
		t.Error(err)
	}
}
