package cli

import (
	"testing"
	"vmmpm/store"
)

// TestServiceOpenAfterAFailedOpen (issue 10 point 5): a service whose open failed can be opened again,
// as o on Services offers; a service whose open is still pending or that is active cannot.
func TestServiceOpenAfterAFailedOpen(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.sim.FailHost("svc-1")
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "small")
	env.cli("engine", "--until-idle")
	if s := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json")); s[0].Status != store.ServiceFailed {
		t.Fatalf("after the failed open the service is %s, want failed", s[0].Status)
	}
	env.cli("service", "open", "1")
	queued := decodeJSON[[]store.Job](t, env.cli("jobs", "--state", "queued", "--json"))
	if len(queued) != 1 || queued[0].Type != store.OpOpen || queued[0].ServiceID != 1 {
		t.Fatalf("queued after service open: %+v", queued)
	}
	if _, errOut, code := runCLI(t, "", "--db", env.db, "service", "open", "1"); code == 0 || errOut == "" {
		t.Fatalf("a second open while one is pending: exit %d, %q", code, errOut)
	}
}
