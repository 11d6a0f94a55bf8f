package sim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTokenIssuedWith201(t *testing.T) {
	e := newEnv(t, Config{})
	st, obj := e.call("POST", "/auth/v4/public/token", "", `{"email":"admin@example.com","password":"demo-password"}`)
	if st != http.StatusCreated {
		t.Fatalf("status %d, want 201: %v", st, obj)
	}
	if num(obj["id"]) < 1 || obj["confirmed"] != true {
		t.Fatalf("id/confirmed wrong: %v", obj)
	}
	tok, _ := obj["token"].(string)
	if tok == "" || tok == e.token {
		t.Fatalf("token %q should be new and non-empty", tok)
	}
	exp, err := time.Parse("2006-01-02 15:04:05", obj["expires_at"].(string))
	if err != nil || time.Until(exp) < 50*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Fatalf("expires_at %v (err %v) should be about an hour ahead", obj["expires_at"], err)
	}
	if got := e.sim.Stats().LoginsOK; got != 2 {
		t.Fatalf("logins_ok %d, want 2", got)
	}
}

func TestWrongPasswordIs401WithErrorObject(t *testing.T) {
	e := newEnv(t, Config{AdminPassword: "right-one"})
	st, obj := e.call("POST", "/auth/v4/public/token", "", map[string]any{"email": "admin@example.com", "password": "demo-password"})
	wantError(t, "wrong password", st, obj, http.StatusUnauthorized, codeBadLogin)
	st, obj = e.call("POST", "/auth/v4/public/token", "", map[string]any{"email": "nobody@example.com", "password": "right-one"})
	wantError(t, "unknown email", st, obj, http.StatusUnauthorized, codeBadLogin)
	st, obj = e.call("POST", "/auth/v4/public/token", "", map[string]any{"email": "admin@example.com"})
	wantError(t, "no password", st, obj, http.StatusUnauthorized, codeBadLogin)
	if s := e.sim.Stats(); s.LoginsFailed != 3 || s.LoginsOK != 1 {
		t.Fatalf("logins ok %d failed %d, want 1 and 3", s.LoginsOK, s.LoginsFailed)
	}
}

func TestSes6CookieAccepted(t *testing.T) {
	e := newEnv(t, Config{})
	req, _ := http.NewRequest("GET", e.url+"/auth/v4/whoami", nil)
	req.AddCookie(&http.Cookie{Name: "ses6", Value: e.token})
	st, obj := e.send(req)
	if st != http.StatusOK || obj["email"] != "admin@example.com" {
		t.Fatalf("whoami with ses6: %d %v", st, obj)
	}
}

func TestMissingOrUnknownTokenIs401(t *testing.T) {
	e := newEnv(t, Config{})
	st, obj := e.call("GET", "/vm/v3/cluster", "", nil)
	wantError(t, "no token", st, obj, http.StatusUnauthorized, codeNoSession)
	st, obj = e.call("GET", "/vm/v3/cluster", "1-not-a-token", nil)
	wantError(t, "unknown token", st, obj, http.StatusUnauthorized, codeNoSession)
	req, _ := http.NewRequest("GET", e.url+"/vm/v3/cluster", nil)
	req.AddCookie(&http.Cookie{Name: "ses6", Value: "forged"})
	st, obj = e.send(req)
	wantError(t, "unknown cookie", st, obj, http.StatusUnauthorized, codeNoSession)
}

func TestTokenExpiresAfterTTL(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TokenTTL: time.Minute, Now: clk.Now})
	clk.Advance(59 * time.Second)
	e.ok("GET", "/vm/v3/cluster", nil)
	clk.Advance(time.Second)
	st, obj := e.admin("GET", "/vm/v3/cluster", nil)
	wantError(t, "expired token", st, obj, http.StatusUnauthorized, codeNoSession)
}

func TestAccountWhereFindsAdmin(t *testing.T) {
	e := newEnv(t, Config{})
	for _, q := range []string{
		"(email+EQ+'admin@example.com')",
		"(email%20EQ%20'admin@example.com')",
		"%28email+EQ+%27admin%40example.com%27%29",
		"(roles+CP+'%25@admin%25')",
	} {
		l := e.list("/vm/v3/account?where=" + q)
		if len(l) != 1 || num(l[0]["id"]) != 1 {
			t.Fatalf("where=%s: %v", q, l)
		}
		if roles := l[0]["roles"].([]any); len(roles) != 1 || roles[0] != "@admin" {
			t.Fatalf("where=%s: roles %v", q, roles)
		}
	}
	if l := e.list("/vm/v3/account?where=(email+EQ+'other@example.com')"); len(l) != 0 {
		t.Fatalf("unknown email matched: %v", l)
	}
}

func TestUserAccountSeesOnlyItself(t *testing.T) {
	e := newEnv(t, Config{})
	body := map[string]any{"email": "client@example.com", "password": "pw-123456", "role": "@user"}
	created := e.ok("POST", "/vm/v3/account", body)
	if num(created["id"]) != 2 {
		t.Fatalf("first created account id %v, want 2", created["id"])
	}
	st, obj := e.admin("POST", "/vm/v3/account", body)
	wantError(t, "duplicate email", st, obj, http.StatusBadRequest, codeEmailTaken)
	st, obj = e.admin("POST", "/vm/v3/account", map[string]any{"email": "x@example.com", "password": "p", "role": "root"})
	wantError(t, "bad role", st, obj, http.StatusBadRequest, codeBadParam)

	user := e.login("client@example.com", "pw-123456")
	st, obj = e.call("GET", "/vm/v3/account", user, nil)
	l := obj["list"].([]any)
	if st != http.StatusOK || len(l) != 1 || l[0].(map[string]any)["roles"].([]any)[0] != "@user" {
		t.Fatalf("user account list: %d %v", st, obj)
	}
	st, obj = e.call("GET", "/vm/v3/cluster", user, nil)
	wantError(t, "user lists clusters", st, obj, http.StatusForbidden, codeNotAdmin)
	if l := e.list("/vm/v3/account"); len(l) != 2 {
		t.Fatalf("admin sees %d accounts, want 2", len(l))
	}
}

func TestNoContentTypeNeeded(t *testing.T) {
	e := newEnv(t, Config{})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest("POST", e.url+"/auth/v4/public/token",
			strings.NewReader(`{"email":"admin@example.com","password":"demo-password"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if st, obj := e.send(req); st != http.StatusCreated {
			t.Fatalf("Content-Type %q: %d %v", ct, st, obj)
		}
	}
	// An empty body counts as {} for calls that need nothing.
	id := e.ok("POST", "/vm/v3/host", vm("svc-ct"))["id"]
	req, _ := http.NewRequest("POST", e.url+"/vm/v3/host/"+itoa(id)+"/start", nil)
	req.Header.Set("x-xsrf-token", e.token)
	if st, obj := e.send(req); st != http.StatusOK || obj["task"] == nil {
		t.Fatalf("start with no body: %d %v", st, obj)
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, Config{})
	cases := []struct {
		method, path string
		body         any
		status, code int
	}{
		{"POST", "/auth/v4/public/token", `{"email":`, 400, codeBadJSON},
		{"POST", "/vm/v3/host", `[1,2]`, 400, codeBadJSON},
		{"POST", "/vm/v3/host", `{"name":"a","cluster":"one"}`, 400, codeBadParam},
		{"PUT", "/vm/v3/host", nil, 405, codeBadMethod},
		{"PATCH", "/nowhere", nil, 405, codeBadMethod},
		{"GET", "/vm/v3/host/1/start", nil, 405, codeBadMethod},
		{"DELETE", "/vm/v3/cluster", nil, 405, codeBadMethod},
		{"GET", "/vm/v3/nothing", nil, 404, codeNoRoute},
		{"GET", "/vm/v3/host/abc", nil, 404, codeNoRoute},
		{"GET", "/vm/v3/host/", nil, 404, codeNoRoute},
		{"GET", "//vm/v3/host", nil, 404, codeNoRoute},
		{"GET", "/vm/v3/host/99", nil, 404, codeNotFound},
		{"GET", "/vm/v3/cluster/9", nil, 404, codeNotFound},
		{"GET", "/vm/v3/task/9", nil, 404, codeNotFound},
		{"GET", "/vm/v3/host?where=(name+EQ+'x'", nil, 400, codeBadWhere},
		{"GET", "/vm/v3/task?where=name+LIKE+'x'", nil, 400, codeBadWhere},
	}
	for _, c := range cases {
		st, obj := e.admin(c.method, c.path, c.body)
		wantError(t, c.method+" "+c.path, st, obj, c.status, c.code)
	}
}
