package sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// authenticate resolves the x-xsrf-token header or the ses6 cookie to an account.
func (s *Sim) authenticate(c *call, level authLevel) error {
	if level == authNone {
		return nil
	}
	value := c.r.Header.Get("x-xsrf-token")
	if value == "" {
		if ck, err := c.r.Cookie("ses6"); err == nil {
			value = ck.Value
		}
	}
	if value == "" {
		return errf(http.StatusUnauthorized, codeNoSession, "no session token: log in at /auth/v4/public/token and send x-xsrf-token")
	}
	t := s.tokens[value]
	if t != nil && !c.now.Before(t.expires) {
		delete(s.tokens, value)
		t = nil
	}
	if t == nil {
		return errf(http.StatusUnauthorized, codeNoSession, "session token is unknown or expired: log in again")
	}
	c.acct = t.acct
	if level == authAdmin && !t.acct.isAdmin() {
		return errf(http.StatusForbidden, codeNotAdmin, "account %s is not an administrator", t.acct.email)
	}
	return nil
}

func (c *call) login() (any, error) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	s := c.s
	a := s.accountByEmail(req.Email)
	if a == nil || req.Password == "" || a.password != req.Password {
		s.loginsFailed++
		return nil, errf(http.StatusUnauthorized, codeBadLogin, "wrong email or password")
	}
	s.loginsOK++
	s.seq.token++
	t := &token{id: s.seq.token, value: newTokenValue(s.seq.token), acct: a, expires: c.now.Add(s.cfg.TokenTTL)}
	s.tokens[t.value] = t
	return reply{http.StatusCreated, map[string]any{
		"id":         t.id,
		"token":      t.value,
		"expires_at": t.expires.UTC().Format("2006-01-02 15:04:05"),
		"confirmed":  true,
	}}, nil
}

// newTokenValue looks like VMmanager's "<id>-<uuid>" session tokens.
func newTokenValue(id int) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%d-%s-%s-%s-%s-%s", id, h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

func (s *Sim) accountByEmail(email string) *account {
	for _, a := range s.accounts {
		if strings.EqualFold(a.email, email) {
			return a
		}
	}
	return nil
}

func (c *call) whoami() (any, error) {
	a := c.acct
	return map[string]any{"id": a.id, "email": a.email, "roles": stringsAny(a.roles), "state": "active", "confirmed": true}, nil
}

func (c *call) accountItem(a *account) map[string]any {
	var ids []any
	cpu, ram, hdd := 0, 0, 0
	for _, h := range a.hosts {
		if !h.deleted {
			ids = append(ids, h.id)
			cpu, ram, hdd = cpu+h.cpu, ram+h.ram, hdd+h.diskMiB
		}
	}
	return map[string]any{
		"id": a.id, "email": a.email, "state": "active", "roles": stringsAny(a.roles), "auth_source": "local",
		"host_count": len(ids), "host_ids": orEmpty(ids), "cpu_count": cpu, "ram_mib": ram, "hdd_mib": hdd,
	}
}

// listAccounts shows an @user only its own account; an admin sees all.
func (c *call) listAccounts() (any, error) {
	w, err := c.whereFilter()
	if err != nil {
		return nil, err
	}
	email, byEmail := eqHint(w, "email")
	var items []map[string]any
	for _, a := range c.s.accounts {
		// The email shortcut only skips rendering accounts where= would drop anyway.
		if (c.acct.isAdmin() || a == c.acct) && (!byEmail || strings.EqualFold(a.email, email)) {
			items = append(items, c.accountItem(a))
		}
	}
	return envelope(items, w), nil
}

func (c *call) createAccount() (any, error) {
	var req struct {
		Email       string          `json:"email"`
		Password    string          `json:"password"`
		Role        string          `json:"role"`
		FullName    json.RawMessage `json:"full_name"`    // GO2; ignored
		PhoneNumber json.RawMessage `json:"phone_number"` // GO2; ignored
	}
	if err := c.decodeBody(&req); err != nil {
		return nil, err
	}
	switch {
	case !validEmail(req.Email):
		return nil, badParam("email", "email %q is not a valid address", req.Email)
	case req.Password == "":
		return nil, badParam("password", "password is required")
	case req.Role != "@user" && req.Role != "@admin":
		return nil, badParam("role", "role must be @user or @admin, not %q", req.Role)
	case c.s.accountByEmail(req.Email) != nil:
		e := errf(http.StatusBadRequest, codeEmailTaken, "an account with email %s already exists", req.Email)
		e.value = map[string]any{"param": "email"}
		return nil, e
	}
	a := &account{id: len(c.s.accounts) + 1, email: req.Email, password: req.Password, roles: []string{req.Role}}
	c.s.accounts = append(c.s.accounts, a)
	return map[string]any{"id": a.id}, nil
}

func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n'") && strings.Count(s, "@") == 1
}

func stringsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func orEmpty(xs []any) []any {
	if xs == nil {
		return []any{}
	}
	return xs
}
