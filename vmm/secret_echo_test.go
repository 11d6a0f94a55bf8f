package vmm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// echoServer answers every POST whose JSON body holds a "password" with a 400 that quotes it, the way a
// password-policy check might; everything else goes to the emulator.
func echoServer(t *testing.T) string {
	t.Helper()
	s := sim.New(sim.Config{Seed: 1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path != "/auth/v4/public/token" {
			body, _ := io.ReadAll(r.Body)
			var b struct {
				Password string `json:"password"`
			}
			if json.Unmarshal(body, &b) == nil && b.Password != "" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				msg := fmt.Sprintf("password '%s' does not meet the policy", b.Password)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 2002, "msg": msg}})
				return
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A password sent in a request body never comes back in an error, even when VMmanager quotes it.
func TestErrorsNeverEchoPasswords(t *testing.T) {
	const secret = "N3w-R00t-Secret"
	c := newClient(t, echoServer(t), nil)
	ctx := context.Background()
	calls := map[string]func() error{
		"SetPassword":   func() error { _, err := c.SetPassword(ctx, 1, secret); return err },
		"ReinstallHost": func() error { _, err := c.ReinstallHost(ctx, 1, 1, 0, secret); return err },
		"CreateAccount": func() error { _, err := c.CreateAccount(ctx, "x@example.com", secret); return err },
		"CreateHost": func() error {
			_, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-1", Cluster: 1, OS: 1, Password: secret,
				CPU: 1, RAMMiB: 512, DiskMiB: 5120})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if !isAPIStatus(err, http.StatusBadRequest) {
			t.Fatalf("%s: want the 400, got %v", name, err)
		}
		for _, text := range []string{err.Error(), vmm.Describe(err)} {
			if strings.Contains(text, secret) {
				t.Errorf("%s: password leaked: %q", name, text)
			}
		}
	}
}
