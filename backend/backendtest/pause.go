package backendtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/store"
)

// testPauseModule: a pause names who paused, holds the module's new jobs (which say why), shows in
// Status, survives a reopen, is audited, and a resume ends it; an unknown module is one sentence.
func testPauseModule(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	a, err := b.PauseModule(ctx(t), w.module.ID, true)
	must(t, err)
	if a.Paused == nil || a.Paused.By != me() || a.Name != w.module.Name || a.Running != 0 {
		t.Fatalf("the pause answered %+v", a)
	}
	j, err := b.Enqueue(ctx(t), env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
	must(t, err)
	if d, err := b.JobDetail(ctx(t), j.ID); err != nil || !strings.Contains(d.Job.Error, "module paused by "+me()) {
		t.Errorf("a job queued on the paused module reads %+v, %v; want why it waits", d, err)
	}
	wantPaused(t, b, w.module.ID, true)

	b = env.Reopen()
	a, err = b.ModuleActivity(ctx(t), w.module.ID)
	must(t, err)
	if a.Paused == nil || a.Paused.By != me() || a.Queued != 1 {
		t.Errorf("after a reopen the module reads %+v; want still paused, one job queued", a)
	}
	a, err = b.PauseModule(ctx(t), w.module.ID, false)
	must(t, err)
	if a.Paused != nil {
		t.Errorf("the resume answered %+v", a)
	}
	wantPaused(t, b, w.module.ID, false)
	if d, err := b.JobDetail(ctx(t), j.ID); err != nil || strings.Contains(d.Job.Error, "paused") {
		t.Errorf("after the resume the job reads %+v, %v", d, err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		entries, err := b.Audit(ctx(t), backend.AuditQuery{})
		seen := map[string]bool{}
		for _, e := range entries {
			seen[e.Action] = seen[e.Action] || e.Target == fmt.Sprintf("module %d", w.module.ID) && e.Actor == me()
		}
		return err == nil && seen["module.pause"] && seen["module.resume"], fmt.Sprintf("the audit trail %+v, %v", entries, err)
	})
	_, err = b.PauseModule(ctx(t), 999, true)
	wantRule(t, "pausing module 999", err, store.FieldRecord, "module 999 does not exist")
	_, err = b.ModuleActivity(ctx(t), 999)
	wantRule(t, "module 999's activity", err, store.FieldRecord, "module 999 does not exist")
}

func wantPaused(t *testing.T, b backend.Backend, module uint64, paused bool) {
	t.Helper()
	st, err := b.Status(ctx(t))
	must(t, err)
	for _, m := range st.Modules {
		if m.ID == module && (m.Paused != nil) != paused {
			t.Errorf("status says module %d paused %+v; want paused %v", module, m.Paused, paused)
		}
	}
}

// testCancelRunning: a running job is cancelled through the Backend: it ends cancelled once the
// engine stopped waiting, with one task opened for its failure.
func testCancelRunning(t *testing.T, env *Env) {
	env.RunEngine()
	w := newWorld(t, env, true)
	b := w.b
	// Every VMmanager answer takes 5 s, so the open (a login, the create, its task: at least three
	// answers) still runs when it is cancelled; a login cut short by the cancel runs on for its
	// waiters (vmm.Client), and the emulator's Close waits it out, so longer would only slow the test.
	env.Sim.SetLatency(5 * time.Second)
	j, err := b.Enqueue(ctx(t), env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
	must(t, err)
	eventually(t, 30*time.Second, func() (bool, string) {
		d, err := b.JobDetail(ctx(t), j.ID)
		return err == nil && d.Job.State == store.JobRunning, fmt.Sprintf("job %+v, %v", d, err)
	})
	must(t, b.Cancel(ctx(t), j.ID))
	d, err := b.JobDetail(ctx(t), j.ID)
	must(t, err)
	if d.Job.State != store.JobCancelled || !strings.Contains(d.Job.Error, "Cancelled while running by "+me()) {
		t.Errorf("the cancelled job reads %s: %q", d.Job.State, d.Job.Error)
	}
	open := 0
	for _, k := range all[store.Task](t, b) {
		if k.JobID == j.ID && k.ClosedAt.IsZero() {
			open++
		}
	}
	if open != 1 {
		t.Errorf("the cancel left %d open tasks for job %d; want one", open, j.ID)
	}
}
