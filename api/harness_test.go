package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/api/apitest"
	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// env is a real API: a bbolt file, the emulator on loopback, the engine, and the API on a loopback
// TLS listener with a self-signed certificate; its client pins the certificate, and every answer it
// gets is validated against openapi.json.
type env struct {
	t      testing.TB
	path   string
	db     *store.DB
	eng    *backend.Engine
	sim    *sim.Sim
	srv    *Server
	url    string
	fp     string
	client *http.Client
	check  *apitest.Validator
	tariff *store.Tariff
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t testing.TB, opt Options) *env {
	t.Helper()
	return newEnvWith(t, opt, nil)
}

// newEnvWith is newEnv with the engine's executor (nil: VMmanager, the emulator).
func newEnvWith(t testing.TB, opt Options, exec queue.Executor) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "vmmpm.db")}
	e.sim = sim.New(sim.Config{TaskTime: 20 * time.Millisecond, Seed: 1})
	vm := httptest.NewServer(e.sim)
	t.Cleanup(vm.Close)
	db, err := store.Open(e.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	secrets := store.NewMemorySecrets()
	dc, dept := &store.DataCenter{Name: "DC One"}, &store.Department{Name: "Support"}
	must(t, db.Save(dc), db.Save(dept))
	m := &store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: vm.URL,
		Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID, Enabled: true, Params: store.DefaultParams(),
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}}
	must(t, db.Save(m), secrets.Set(m.ID, "demo-password"))
	e.tariff = &store.Tariff{Name: "small", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024,
		DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "@USERNAME@-@ID@.example.net"}
	must(t, db.Save(e.tariff))
	e.eng, err = backend.NewEngine(db, secrets, backend.EngineOptions{Version: "test",
		Queue: queue.Options{BackoffBase: time.Millisecond, PollEvery: 5 * time.Millisecond, Executor: exec}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.eng.Start(ctx)
	cert, _, err := SelfSigned(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.fp = Fingerprint(cert)
	opt.Version = "test"
	e.srv = New(e.eng, opt)
	ln, url, err := e.srv.Listen("127.0.0.1:0", &cert)
	if err != nil {
		t.Fatal(err)
	}
	e.url = url
	e.done = make(chan error, 1)
	go func() { e.done <- e.srv.Serve(ctx, ln, time.Second) }()
	e.client = &http.Client{Transport: &http.Transport{TLSClientConfig: PinnedConfig(e.fp), MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	e.check = apitest.New(t, OpenAPI, url)
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("the API server stopped with %v", err)
	}
	e.client.CloseIdleConnections()
	if err := e.eng.Close(); err != nil {
		e.t.Errorf("the engine stopped with %v", err)
	}
	_ = e.db.Close()
}

func must(t testing.TB, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// token makes an API token with role and returns it.
func (e *env) token(name, role string) string {
	e.t.Helper()
	added, err := e.eng.AddToken(context.Background(), backend.TokenRequest{Name: name, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return added.Secret
}

// reply is one answer, validated.
type reply struct {
	status int
	body   []byte
	header http.Header
}

func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not the JSON expected: %v\n%s", r.status, err, r.body)
	}
}

// errCode is the code of an error answer.
func (r reply) errCode(t testing.TB) (code, msg, field string) {
	t.Helper()
	var eb errorBody
	r.decode(t, &eb)
	return eb.Error.Code, eb.Error.Message, eb.Error.Field
}

// do sends one request (body: nil, a []byte as is, or a value as JSON; hdr: name, value pairs) and
// validates the answer against the OpenAPI document.
func (e *env) do(method, path, token string, body any, hdr ...string) reply {
	e.t.Helper()
	r, err := e.try(method, path, token, body, hdr...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) try(method, path, token string, body any, hdr ...string) (reply, error) {
	return e.tryWith(e.client, method, path, token, body, hdr...)
}

func (e *env) tryWith(client *http.Client, method, path, token string, body any, hdr ...string) (reply, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return reply{}, err
		}
	}
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(raw))
	if err != nil {
		return reply{}, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, out, err := e.check.Do(e.t, client, req, raw)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, body: out, header: resp.Header}, nil
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
