package backendtest

import (
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// testEnqueue: the operation and its arguments checked before anything is stored; the job as the
// engine planned it; a setpassword's password in the secrets only.
func testEnqueue(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	ordered := env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0)
	active := env.AddService(w.tariff.ID, w.module.ID, store.ServiceActive, 1)

	_, err := b.Enqueue(ctx(t), 999, store.OpReboot, nil)
	wantIs(t, "an unknown service", err, queue.ErrNotFound)
	wantRule(t, "an unknown service", err, store.FieldRecord, "service 999 does not exist")
	refusals := []struct {
		what, op    string
		args        map[string]string
		field, says string
	}{
		{"an unknown operation", "format", nil, "type", `unknown operation "format"`},
		{"an argument the operation does not take", store.OpReboot, map[string]string{"cpu": "2"}, "cpu", "is not an argument of reboot"},
		{"an argument that is not a number", store.OpSetParam, map[string]string{"cpu": "two"}, "cpu", "whole number between 1 and"},
		{"a zero argument", store.OpSetParam, map[string]string{"ram_mib": "0"}, "ram_mib", "whole number between 1 and"},
		{"setparam with nothing to set", store.OpSetParam, nil, "setparam", "give at least one of"},
		{"setpassword without a password", store.OpSetPassword, nil, "password", "is required by setpassword"},
		{"a password for reboot", store.OpReboot, map[string]string{"password": "x"}, "password", "only setpassword"},
	}
	for _, r := range refusals {
		j, err := b.Enqueue(ctx(t), active.ID, r.op, r.args)
		wantRule(t, r.what, err, r.field, r.says)
		if j != nil {
			t.Errorf("%s: a refused enqueue gave job %+v", r.what, j)
		}
	}
	_, err = b.Enqueue(ctx(t), ordered.ID, store.OpReboot, nil)
	wantSentence(t, "reboot of a service without a VM", err, "has no VM yet; open it first")
	if jobs := all[store.Job](t, b); len(jobs) != 0 {
		t.Fatalf("refused enqueues stored jobs: %+v", jobs)
	}

	open, err := b.Enqueue(ctx(t), ordered.ID, store.OpOpen, nil)
	must(t, err)
	if open.ID == 0 || open.State != store.JobQueued || open.ServiceID != ordered.ID || open.ModuleID != w.module.ID ||
		open.QueueKey != "q-1-1" || open.Type != store.OpOpen {
		t.Errorf("the queued open is %+v", open)
	}
	if got := load[store.Job](t, b, open.ID); got.State != store.JobQueued || got.QueueKey != open.QueueKey || len(got.Log) == 0 {
		t.Errorf("the open reads back as %+v", got)
	}
	if s := load[store.Service](t, b, ordered.ID); s.Status != store.ServiceProcessing || s.ModuleID != w.module.ID {
		t.Errorf("the service being opened is %+v", s)
	}
	_, err = b.Enqueue(ctx(t), ordered.ID, store.OpOpen, nil)
	wantSentence(t, "a second open", err, "already has an open operation")

	const rootPassword = "Root-Password-41c9"
	sp, err := b.Enqueue(ctx(t), active.ID, store.OpSetPassword, map[string]string{queue.ArgPassword: rootPassword})
	must(t, err)
	if _, ok := sp.Args[queue.ArgPassword]; ok {
		t.Errorf("the setpassword job carries its password: %+v", sp.Args)
	}
	if pw, err := env.Secrets.Get(store.JobSecretID(sp.ID)); err != nil || pw != rootPassword {
		t.Errorf("the job's password in the secrets: %q, %v", pw, err)
	}
	if env.Stored(rootPassword) {
		t.Error("the job's password is in the database file")
	}
	rs, err := b.Enqueue(ctx(t), active.ID, store.OpSetParam, map[string]string{queue.ArgCPU: "2", queue.ArgRAMMiB: "2048"})
	must(t, err)
	if rs.Args[queue.ArgCPU] != "2" || rs.Args[queue.ArgRAMMiB] != "2048" {
		t.Errorf("the setparam job's arguments: %+v", rs.Args)
	}
	if jobs := all[store.Job](t, b); len(jobs) != 3 {
		t.Errorf("after three enqueues the jobs are %+v", jobs)
	}
}

// testCancel: only a job that has not started; an open cancelled gives the service back.
func testCancel(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	s := env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0)
	j, err := b.Enqueue(ctx(t), s.ID, store.OpOpen, nil)
	must(t, err)
	must(t, b.Cancel(ctx(t), j.ID))
	got := load[store.Job](t, b, j.ID)
	if got.State != store.JobCancelled || got.FinishedAt.IsZero() {
		t.Errorf("the cancelled job reads %+v", got)
	}
	if s := load[store.Service](t, b, s.ID); s.Status != store.ServiceOrdered {
		t.Errorf("the service of a cancelled open is %s, want ordered", s.Status)
	}
	err = b.Cancel(ctx(t), j.ID)
	wantSentence(t, "a second cancel", err, "is cancelled; only unfinished jobs can be cancelled")
	err = b.Cancel(ctx(t), 999)
	wantIs(t, "cancel of job 999", err, queue.ErrNotFound)
	wantRule(t, "cancel of job 999", err, store.FieldRecord, "job 999 does not exist")
}

// testRetry: a failed job goes back in the queue; anything else is refused.
func testRetry(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	// The tariff points at a data center its module is not on: the open fails at once, "manual setup".
	two := &store.DataCenter{Name: "DC Two"}
	_, err := b.Save(ctx(t), two)
	must(t, err)
	stray := w.addTariff(t, "stray", two.ID, w.module.ID)
	s := env.AddService(stray.ID, 0, store.ServiceOrdered, 0)
	failed, err := b.Enqueue(ctx(t), s.ID, store.OpOpen, nil)
	must(t, err)
	if failed.State != store.JobFailed || failed.Error == "" {
		t.Fatalf("an open no module serves: %+v", failed)
	}
	queued, err := b.Enqueue(ctx(t), env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
	must(t, err)
	wantSentence(t, "retry of a queued job", b.Retry(ctx(t), queued.ID), "has not failed; only failed jobs can be retried")
	err = b.Retry(ctx(t), 999)
	wantIs(t, "retry of job 999", err, queue.ErrNotFound)
	wantRule(t, "retry of job 999", err, store.FieldRecord, "job 999 does not exist")

	stray.DataCenterID = w.dc
	_, err = b.Save(ctx(t), stray)
	must(t, err)
	must(t, b.Retry(ctx(t), failed.ID))
	got := load[store.Job](t, b, failed.ID)
	if got.State != store.JobQueued || got.ModuleID != w.module.ID || got.Error != "" || got.Attempt != 0 {
		t.Errorf("the retried job reads %+v", got)
	}
	if s := load[store.Service](t, b, s.ID); s.Status != store.ServiceProcessing || s.ModuleID != w.module.ID {
		t.Errorf("the retried open's service is %+v", s)
	}
	wantSentence(t, "a second retry", b.Retry(ctx(t), failed.ID), "has not failed")
}

// testStats: each module's figures and its lanes, with what waits in them.
func testStats(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	j, err := b.Enqueue(ctx(t), env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
	must(t, err)
	s, err := b.Stats(ctx(t))
	must(t, err)
	if s.At.IsZero() || time.Since(s.At) > time.Minute {
		t.Errorf("Stats.At is %v", s.At)
	}
	if len(s.Modules) != 1 {
		t.Fatalf("Stats.Modules is %+v, want the one module", s.Modules)
	}
	m := s.Modules[0]
	if m.ID != w.module.ID || m.Name != "KVM one" || !m.Healthy || m.LastCheck == nil || !m.LastCheck.OK {
		t.Errorf("Stats.Modules[0] is %+v", m)
	}
	if m.Logins != nil {
		t.Errorf("Stats.Modules[0].Logins is %+v with no engine running, want none", m.Logins)
	}
	waiting := map[string]int{}
	for _, l := range s.Lanes {
		if l.Module == w.module.ID {
			waiting[l.Key] = l.Waiting
		}
	}
	if len(waiting) != queueCount || waiting[j.QueueKey] != 1 || waiting["q-1-2"] != 0 {
		t.Errorf("the module's lanes are %v, want q-1-1 with the queued open and q-1-2 empty", waiting)
	}
}
