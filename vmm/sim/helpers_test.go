package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable Config.Now for schedules that must be exact.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator behind real loopback HTTP plus an admin token.
type env struct {
	t     *testing.T
	sim   *Sim
	url   string
	token string
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	s := New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e := &env{t: t, sim: s, url: srv.URL}
	email, pw := cfg.AdminEmail, cfg.AdminPassword
	if email == "" {
		email = defaultAdminEmail
	}
	if pw == "" {
		pw = defaultAdminPassword
	}
	e.token = e.login(email, pw)
	return e
}

func (e *env) login(email, password string) string {
	e.t.Helper()
	st, obj := e.call("POST", "/auth/v4/public/token", "", map[string]any{"email": email, "password": password})
	if st != http.StatusCreated {
		e.t.Fatalf("login %s: status %d %v", email, st, obj)
	}
	return obj["token"].(string)
}

// call sends a request with no Content-Type (as GO1 does) and decodes the JSON object answered.
func (e *env) call(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("x-xsrf-token", token)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) (int, map[string]any) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %q", req.Method, req.URL, raw)
	}
	return resp.StatusCode, obj
}

// admin is call with the admin token.
func (e *env) admin(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	return e.call(method, path, e.token, body)
}

// ok is admin that requires status 200 (or 201).
func (e *env) ok(method, path string, body any) map[string]any {
	e.t.Helper()
	st, obj := e.admin(method, path, body)
	if st != http.StatusOK && st != http.StatusCreated {
		e.t.Fatalf("%s %s: status %d %v", method, path, st, obj)
	}
	return obj
}

// list returns the list of a list envelope, failing if the envelope is wrong.
func (e *env) list(path string) []map[string]any {
	e.t.Helper()
	obj := e.ok("GET", path, nil)
	if _, ok := obj["last_notify"]; !ok {
		e.t.Fatalf("GET %s: no last_notify in %v", path, obj)
	}
	raw, ok := obj["list"].([]any)
	if !ok {
		e.t.Fatalf("GET %s: list is %T", path, obj["list"])
	}
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		out[i] = it.(map[string]any)
	}
	return out
}

// wantError checks status and the VMmanager error object's code.
func wantError(t *testing.T, what string, status int, obj map[string]any, wantStatus, wantCode int) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d (%v)", what, status, wantStatus, obj)
	}
	eo, ok := obj["error"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no error object in %v", what, obj)
	}
	if code := num(eo["code"]); code != wantCode {
		t.Fatalf("%s: error code %d, want %d (%v)", what, code, wantCode, eo)
	}
	if msg, _ := eo["msg"].(string); msg == "" {
		t.Fatalf("%s: empty msg in %v", what, eo)
	}
}

func num(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int:
		return x
	}
	return -1
}

// vm is a create-host body on cluster 1 with the given name; mods adjust it.
func vm(name string, mods ...func(map[string]any)) map[string]any {
	b := map[string]any{
		"name": name, "cluster": 1, "os": 1, "password": "s3cret-pass", "account": 1,
		"cpu_number": 1, "ram_mib": 1024, "hdd_mib": 10240, "ipv4_number": 1, "domain": name + ".example.net",
	}
	for _, m := range mods {
		m(b)
	}
	return b
}

func set(k string, v any) func(map[string]any) { return func(b map[string]any) { b[k] = v } }

// task polls a task the way WHMCS does and returns its status ("" when the list is empty).
func (e *env) taskStatus(consul any, name string) string {
	e.t.Helper()
	l := e.list(fmt.Sprintf("/vm/v3/task?where=((consul_id+EQ+'%d')+AND+(name+EQ+'%s'))", num(consul), name))
	if len(l) == 0 {
		return ""
	}
	if len(l) > 1 {
		e.t.Fatalf("task %v %s: %d matches", consul, name, len(l))
	}
	return l[0]["status"].(string)
}

func (e *env) hostFull(id any) map[string]any {
	e.t.Helper()
	l := e.list(fmt.Sprintf("/vm/v3/host?where=(id+EQ+'%d')", num(id)))
	if len(l) != 1 {
		e.t.Fatalf("host %v: %d list entries", id, len(l))
	}
	return l[0]
}

func itoa(v any) string { return fmt.Sprint(num(v)) }
