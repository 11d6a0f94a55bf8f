package api

import (
	"context"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/store"
)

// TestModulePause: an admin pauses the module; an order then waits, its reason naming the token that
// paused; the answers match the document; the resume lets the open run; an unknown module is 404.
func TestModulePause(t *testing.T) {
	e := newEnv(t, Options{})
	admin, op := e.token("ops-admin", store.RoleAdmin), e.token("billing-prod", store.RoleOperator)
	var act backend.ModuleActivity
	r := e.do("POST", "/api/v1/modules/1/pause", admin, nil)
	if r.status != 200 {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	r.decode(t, &act)
	if act.Paused == nil || act.Paused.By != "token ops-admin" || act.ModuleID != 1 || !act.Engine {
		t.Fatalf("pause answered %s", r.body)
	}
	r = e.do("POST", "/api/v1/services", op, map[string]any{"tariff": 1, "client_email": "a@example.com"})
	if r.status != 201 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	var o ordered
	r.decode(t, &o)
	job := o.Services[0].Job.ID
	d, err := e.eng.JobDetail(context.Background(), job)
	must(t, err)
	if d.Job.State != store.JobQueued || !contains(d.Job.Error, "module paused by token ops-admin at ") {
		t.Errorf("the order's open reads %s: %q; want queued, saying who paused", d.Job.State, d.Job.Error)
	}
	r = e.do("POST", "/api/v1/modules/1/resume", admin, map[string]any{})
	if r.status != 200 {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	act = backend.ModuleActivity{}
	r.decode(t, &act)
	if act.Paused != nil {
		t.Errorf("resume answered %s", r.body)
	}
	waitFor(t, 30*time.Second, "the open after the resume", func() bool {
		d, err := e.eng.JobDetail(context.Background(), job)
		return err == nil && d.Job.State == store.JobDone
	})
	r = e.do("POST", "/api/v1/modules/99/pause", admin, nil)
	if code, msg, _ := r.errCode(t); r.status != 404 || code != "not_found" || !contains(msg, "there is no module 99") {
		t.Errorf("pausing module 99: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/modules/1/pause", admin, map[string]any{"why": "upgrade"})
	if code, _, _ := r.errCode(t); r.status != 400 || code == "" {
		t.Errorf("a pause with a body: %d %s", r.status, r.body)
	}
}
