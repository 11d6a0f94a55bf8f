package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/store/kv"
)

// syncBuf is a log buffer safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// digest is a digest of every bucket of the database but the figures (written on their own once a minute).
func digest(t testing.TB, db *store.DB) string {
	t.Helper()
	h := sha256.New()
	err := db.KV().View(func(tx kv.Tx) error {
		return tx.ForEach(func(name []byte, b kv.Bucket) error {
			if strings.HasPrefix(string(name), "stats") {
				return nil
			}
			fmt.Fprintf(h, "[%s]", name)
			return b.ForEach(func(k, v []byte) error { h.Write(k); h.Write(v); return nil })
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestRoles: a reader token is refused every POST (403) and nothing is written; an operator is refused
// the admin calls; a removed token gets 401 within 1 s, an expired one 401; unknown and missing tokens
// 401; no token appears in the server's log.
func TestRoles(t *testing.T) {
	var log syncBuf
	e := newEnv(t, Options{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	op, rd := e.token("billing-prod", store.RoleOperator), e.token("dashboard", store.RoleReader)
	r := e.do("POST", "/api/v1/services", op, map[string]any{"tariff": 1, "client_email": "a@example.com"})
	if r.status != 201 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	var o ordered
	r.decode(t, &o)
	svc, job := o.Services[0].ID, o.Services[0].Job.ID
	waitFor(t, 30*time.Second, "the open ends", func() bool {
		jobs, err := e.eng.Jobs(context.Background(), backend.JobQuery{})
		return err == nil && len(jobs.Jobs) == 1 && store.Finished(jobs.Jobs[0].State)
	})
	e.do("GET", "/api/v1/services", rd, nil) // the reader's first use is recorded before the refusals
	waitFor(t, 5*time.Second, "the reader's last use is written", func() bool {
		ts, _ := e.eng.Tokens(context.Background())
		return len(ts) == 2 && !ts[1].LastUsed.IsZero()
	})
	before := digest(t, e.db)
	posts := []struct{ method, path, body string }{
		{"POST", "/api/v1/services", `{"tariff": 1, "client_email": "b@example.com"}`},
		{"POST", fmt.Sprintf("/api/v1/services/%d/operations", svc), `{"type": "suspend"}`},
		{"POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", job), ``},
		{"POST", fmt.Sprintf("/api/v1/jobs/%d/retry", job), ``},
		{"POST", "/api/v1/tariffs", `{"name": "x"}`},
		{"PATCH", "/api/v1/tariffs/1", `{"cpu": 2}`},
		{"POST", "/api/v1/modules/1/check", ``},
		{"POST", "/api/v1/modules/1/pause", ``},
		{"POST", "/api/v1/modules/1/resume", `{}`},
	}
	for _, p := range posts {
		r := e.do(p.method, p.path, rd, p.body, HeaderIdempotencyKey, "k-"+p.path)
		if code, msg, _ := r.errCode(t); r.status != 403 || code != "forbidden" || !contains(msg, `token "dashboard" has the role reader`) {
			t.Errorf("reader %s %s: %d %s", p.method, p.path, r.status, r.body)
		}
	}
	for _, p := range posts[4:] {
		if r := e.do(p.method, p.path, op, p.body); r.status != 403 {
			t.Errorf("operator %s %s: %d %s", p.method, p.path, r.status, r.body)
		}
	}
	if after := digest(t, e.db); after != before {
		t.Error("a refused call wrote to the database")
	}

	r = e.do("GET", "/api/v1/services", "", nil)
	if code, msg, _ := r.errCode(t); r.status != 401 || code != "unauthorized" || !contains(msg, "Authorization: Bearer") || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.do("GET", "/api/v1/services", "vmmpm_not-a-token", nil); r.status != 401 {
		t.Errorf("an unknown token: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/services", op, nil, "Authorization", "Basic "+op); r.status != 401 {
		t.Errorf("a token in another scheme: %d", r.status)
	}

	// removal takes effect within a second
	must(t, e.eng.RemoveToken(context.Background(), "billing-prod"))
	removed := time.Now()
	for e.do("GET", "/api/v1/services", op, nil).status != 401 {
		if time.Since(removed) > time.Second {
			t.Fatal("a removed token still works a second later")
		}
		time.Sleep(10 * time.Millisecond)
	}

	added, err := e.eng.AddToken(context.Background(), backend.TokenRequest{Name: "short", Role: store.RoleReader, Expires: time.Now().Add(300 * time.Millisecond)})
	must(t, err)
	if r := e.do("GET", "/api/v1/services", added.Secret, nil); r.status != 200 {
		t.Fatalf("a fresh token: %d", r.status)
	}
	waitFor(t, 5*time.Second, "the token expires", func() bool {
		r := e.do("GET", "/api/v1/services", added.Secret, nil)
		_, msg, _ := r.errCode(t)
		return r.status == 401 && contains(msg, `token "short" expired`)
	})
	for _, secret := range []string{op, rd, added.Secret} {
		if contains(log.String(), secret) {
			t.Fatal("a token appears in the server's log")
		}
	}
	if !contains(log.String(), "refused an API call without a valid token") {
		t.Errorf("refusals are not logged:\n%s", log.String())
	}
}

// TestFailedAuthIsRateLimited: past the limit, an address gets 429 (even with a good token) until the
// window ends; another address is not held back.
func TestFailedAuthIsRateLimited(t *testing.T) {
	e := newEnv(t, Options{AuthFailures: 5, AuthWindow: time.Hour})
	good := e.token("ok", store.RoleReader)
	for i := range 5 {
		if r := e.do("GET", "/api/v1/services", fmt.Sprintf("bad-%d", i), nil); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := e.do("GET", "/api/v1/services", "bad-again", nil)
	if code, msg, _ := r.errCode(t); r.status != 429 || code != "rate_limited" || !contains(msg, "too many failed authentications from 127.0.0.1") || r.header.Get("Retry-After") == "" {
		t.Errorf("the 6th failure: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.do("GET", "/api/v1/services", good, nil); r.status != 429 {
		t.Errorf("a good token from the blocked address: %d", r.status)
	}
	other := e.from("127.0.0.2")
	resp, err := other.Do(authed(t, "GET", e.url+"/api/v1/services", good))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("another address: %d", resp.StatusCode)
	}
	if r := e.do("GET", "/api/v1/health", "", nil); r.status != 200 {
		t.Errorf("health from the blocked address: %d", r.status)
	}
}

// from is a pinned client whose connections come from local address ip (another loopback address).
func (e *env) from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: PinnedConfig(e.fp)}}
}

func authed(t testing.TB, method, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
