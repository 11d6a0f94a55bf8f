package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm/sim"
	"vmmpm/webhook"
)

// receiver is a webhook endpoint: it checks every signature, fails the first answer to the deliveries
// fail picks, and keeps what it accepted in arrival order.
type receiver struct {
	t      *testing.T
	secret string
	fail   func(id uint64) bool
	mu     sync.Mutex
	tried  map[uint64]int
	got    []got
	down   bool
}

type got struct {
	id    uint64
	event string
	body  webhook.Event
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(rc.secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		rc.t.Errorf("delivery %s: %v", r.Header.Get(webhook.HeaderDelivery), err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id, _ := strconv.ParseUint(r.Header.Get(webhook.HeaderDelivery), 10, 64)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tried[id]++
	if rc.down || rc.tried[id] == 1 && rc.fail != nil && rc.fail(id) {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("delivery %d is not JSON: %v", id, err)
	}
	if ev.Type != r.Header.Get(webhook.HeaderEvent) {
		rc.t.Errorf("delivery %d: body says %s, header %s", id, ev.Type, r.Header.Get(webhook.HeaderEvent))
	}
	rc.got = append(rc.got, got{id: id, event: ev.Type, body: ev})
	w.WriteHeader(http.StatusNoContent)
}

// unique is what the receiver accepted, repeats (by delivery id) dropped.
func (rc *receiver) unique() []got {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[uint64]bool{}
	var out []got
	for _, g := range rc.got {
		if !seen[g.id] {
			seen[g.id] = true
			out = append(out, g)
		}
	}
	return out
}

type fixture struct {
	t       *testing.T
	db      *store.DB
	secrets store.Secrets
	eng     *backend.Engine
	cancel  context.CancelFunc
	tariff  *store.Tariff
	path    string
	simURL  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	vm := httptest.NewServer(sim.New(sim.Config{TaskTime: 20 * time.Millisecond, Seed: 1}))
	t.Cleanup(vm.Close)
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "vmmpm.db"), secrets: store.NewMemorySecrets(), simURL: vm.URL}
	db, err := store.Open(f.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	dc, dept := &store.DataCenter{Name: "DC One"}, &store.Department{Name: "Support"}
	f.must(db.Save(dc), db.Save(dept))
	m := &store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: vm.URL,
		Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID, Enabled: true, Params: store.DefaultParams(),
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}}
	f.must(db.Save(m), f.secrets.Set(m.ID, "demo-password"))
	f.tariff = &store.Tariff{Name: "small", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024,
		DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	f.must(db.Save(f.tariff))
	f.start()
	t.Cleanup(func() { f.stop(); _ = f.db.Close() })
	return f
}

func (f *fixture) start() {
	var err error
	f.eng, err = backend.NewEngine(f.db, f.secrets, backend.EngineOptions{Version: "test",
		Queue:    queue.Options{BackoffBase: time.Millisecond, PollEvery: 5 * time.Millisecond},
		Webhooks: webhook.Options{FirstRetry: 20 * time.Millisecond, MaxRetry: 100 * time.Millisecond, Poll: 50 * time.Millisecond}})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.eng.Start(ctx)
}

func (f *fixture) stop() {
	if f.eng != nil {
		f.cancel()
		if err := f.eng.Close(); err != nil {
			f.t.Error(err)
		}
		f.eng = nil
	}
}

func (f *fixture) must(errs ...error) {
	f.t.Helper()
	for _, err := range errs {
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// perService is the accepted event types of each service, in arrival order.
func perService(gs []got) map[uint64][]string {
	out := map[uint64][]string{}
	for _, g := range gs {
		var id uint64
		switch {
		case g.body.Service != nil:
			id = g.body.Service.ID
		case g.body.Job != nil:
			id = g.body.Job.ServiceID
		}
		out[id] = append(out[id], g.event)
	}
	return out
}

// TestEventsArriveSignedAndInOrder: 20 opens with a webhook on every event and a receiver that fails
// the first answer to every third delivery: every event arrives, signed, each service's in the order
// they happened, service.active with the VM's addresses, and nothing is left pending.
func TestEventsArriveSignedAndInOrder(t *testing.T) {
	f := newFixture(t)
	rc := &receiver{t: t, tried: map[uint64]int{}, fail: func(id uint64) bool { return id%3 == 0 }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ctx := context.Background()
	added, err := f.eng.AddWebhook(ctx, backend.WebhookRequest{URL: srv.URL + "/hook", Events: []string{"*"}})
	f.must(err)
	rc.secret = added.Secret
	if len(rc.secret) < 32 {
		t.Fatalf("a generated secret of %d characters", len(rc.secret))
	}
	const n = 20
	placed, err := f.eng.Order(backend.WithCaller(ctx, backend.TokenCaller("billing-prod")), backend.OrderRequest{Tariff: "small", Count: n, ClientEmail: "a@example.com"})
	f.must(err)
	want := []string{"service.processing", "job.queued", "job.running", "service.active", "job.done"}
	waitFor(t, 60*time.Second, "every event arrives", func() bool { return len(rc.unique()) == n*len(want) })
	byService := perService(rc.unique())
	for _, ps := range placed.Services {
		if got := byService[ps.Service.ID]; !slices.Equal(got, want) {
			t.Errorf("service %d: %v, want %v", ps.Service.ID, got, want)
		}
	}
	for _, g := range rc.unique() {
		if g.event == "service.active" && (len(g.body.Service.VM.IPv4) != 1 || g.body.Service.VM.ID == 0) {
			t.Errorf("service.active without the VM: %+v", g.body.Service)
		}
		if g.event == "job.done" && (g.body.Job.By != "token billing-prod" || g.body.Job.Type != "open") {
			t.Errorf("job.done: %+v", g.body.Job)
		}
	}
	waitFor(t, 10*time.Second, "nothing is pending", func() bool {
		ds, err := f.eng.Deliveries(ctx, backend.DeliveryQuery{Limit: 1})
		return err == nil && len(ds) == 1 && ds[0].State == store.DeliveryDelivered
	})
	rc.mu.Lock()
	retried := 0
	for _, k := range rc.tried {
		if k > 1 {
			retried++
		}
	}
	rc.mu.Unlock()
	if retried < n {
		t.Errorf("only %d deliveries were retried", retried)
	}
}

// TestOutboxSurvivesARestart: events written while the receiver is down stay in the outbox across an
// engine restart and arrive once it answers; a removed webhook's pending deliveries go with it.
func TestOutboxSurvivesARestart(t *testing.T) {
	f := newFixture(t)
	rc := &receiver{t: t, tried: map[uint64]int{}, down: true}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ctx := context.Background()
	added, err := f.eng.AddWebhook(ctx, backend.WebhookRequest{URL: srv.URL, Events: []string{"service.*"}, Secret: "a-secret-of-twenty-chars"})
	f.must(err)
	rc.secret = "a-secret-of-twenty-chars"
	if added.Secret != "" {
		t.Error("a given secret is printed back")
	}
	placed, err := f.eng.Order(ctx, backend.OrderRequest{Tariff: "small", Count: 3, ClientEmail: "a@example.com"})
	f.must(err)
	waitFor(t, 30*time.Second, "the services are active", func() bool {
		p, err := f.eng.Services(ctx, backend.ServiceQuery{Status: store.ServiceActive})
		return err == nil && len(p.Services) == 3
	})
	// each service's first event fails and holds back its second: order before speed
	waitFor(t, 10*time.Second, "the first deliveries failed", func() bool {
		ds, err := f.eng.Deliveries(ctx, backend.DeliveryQuery{Failed: true})
		return err == nil && len(ds) == 3
	})
	all, _ := f.eng.Deliveries(ctx, backend.DeliveryQuery{})
	for _, d := range all {
		if d.State != store.DeliveryPending || d.Event == "service.active" && d.Attempts != 0 {
			t.Errorf("delivery %d (%s): %s after %d attempts", d.ID, d.Event, d.State, d.Attempts)
		}
	}
	ds, _ := f.eng.Deliveries(ctx, backend.DeliveryQuery{Failed: true})
	if ds[0].LastError == "" || !contains(ds[0].LastError, "503") || ds[0].State != store.DeliveryPending {
		t.Errorf("a failed delivery says %+v", ds[0])
	}
	f.stop()
	rc.mu.Lock()
	rc.down = false
	rc.mu.Unlock()
	f.start()
	waitFor(t, 30*time.Second, "the events arrive after the restart", func() bool { return len(rc.unique()) == 6 })
	for _, ps := range placed.Services {
		if got := perService(rc.unique())[ps.Service.ID]; !slices.Equal(got, []string{"service.processing", "service.active"}) {
			t.Errorf("service %d: %v", ps.Service.ID, got)
		}
	}
	// a removed webhook takes its pending deliveries and its secret with it
	rc.mu.Lock()
	rc.down = true
	rc.mu.Unlock()
	_, err = f.eng.Order(ctx, backend.OrderRequest{Tariff: "small", ClientEmail: "b@example.com"})
	f.must(err)
	waitFor(t, 10*time.Second, "a new delivery is pending", func() bool {
		ds, _ := f.eng.Deliveries(ctx, backend.DeliveryQuery{})
		return len(ds) > 0 && ds[0].State == store.DeliveryPending
	})
	f.must(f.eng.RemoveWebhook(ctx, added.Webhook.ID))
	ds, _ = f.eng.Deliveries(ctx, backend.DeliveryQuery{})
	for _, d := range ds {
		if d.State == store.DeliveryPending {
			t.Errorf("delivery %d of the removed webhook is still pending", d.ID)
		}
	}
	if _, err := f.secrets.Get(store.WebhookSecretID(added.Webhook.ID)); err == nil {
		t.Error("the removed webhook's secret is still kept")
	}
}

// TestWebhookRules: URLs (https, or http to loopback only), event names, secrets.
func TestWebhookRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		r    backend.WebhookRequest
		want string
	}{
		{backend.WebhookRequest{URL: "http://billing.example.com/hook", Events: []string{"*"}}, "plain http is allowed only to a loopback address"},
		{backend.WebhookRequest{URL: "ftp://x", Events: []string{"*"}}, "must start with https://"},
		{backend.WebhookRequest{URL: "https://billing.example.com/hook", Events: []string{"service.exploded"}}, `"service.exploded" is not an event type`},
		{backend.WebhookRequest{URL: "https://billing.example.com/hook"}, "must list at least one event type"},
		{backend.WebhookRequest{URL: "https://billing.example.com/hook", Events: []string{"job.*"}, Secret: "short"}, "at least 16 characters"},
	} {
		if _, err := f.eng.AddWebhook(ctx, c.r); err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	for _, ok := range []backend.WebhookRequest{
		{URL: "https://billing.example.com/hook", Events: []string{"service.*", "job.failed"}},
		{URL: "http://127.0.0.1:9/hook", Events: []string{"job.*"}},
		{URL: "http://[::1]:9/hook", Events: []string{"*"}},
	} {
		if _, err := f.eng.AddWebhook(ctx, ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	if ws, _ := f.eng.Webhooks(ctx); len(ws) != 3 {
		t.Errorf("%d webhooks", len(ws))
	}
}

// TestSignature: Sign and Verify agree; another body, secret or an old timestamp are refused.
func TestSignature(t *testing.T) {
	body := []byte(`{"type":"service.active"}`)
	now := time.Unix(1_700_000_000, 0)
	h := webhook.Sign("s3cret", now.Unix(), body)
	if h != "t=1700000000,v1=7b6ac7e6b1e0b1b38c0f8c1a4b0cf0f0a8c3d3f1d9d7c7f5b8b1d2b7f0f2c1a9" && len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	if err := webhook.Verify("s3cret", h, body, now, time.Minute); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		secret, header string
		body           []byte
		at             time.Time
	}{
		{"other", h, body, now},
		{"s3cret", h, []byte(`{"type":"service.deleted"}`), now},
		{"s3cret", h, body, now.Add(time.Hour)},
		{"s3cret", "v1=abc", body, now},
	} {
		if err := webhook.Verify(c.secret, c.header, c.body, c.at, time.Minute); err == nil {
			t.Errorf("%+v verified", c)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
