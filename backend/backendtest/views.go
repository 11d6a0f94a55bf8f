package backendtest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/wizard"
)

// me is the caller every implementation names for a call from this process: over a socket the server
// reads this uid from the kernel, in process it is this process's own user.
func me() string { return backend.UserCaller(os.Getuid(), "").String() }

// testCreateServices: the tariff goes by id or by name (any case) and is resolved on the answering
// side; the answer names it; each open is queued and records who asked.
func testCreateServices(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	o, err := b.CreateServices(ctx(t), "SMALL", 2, "client@example.com")
	must(t, err)
	if o.Tariff == nil || o.Tariff.ID != w.tariff.ID || len(o.Services) != 2 {
		t.Fatalf("create by name: %+v", o)
	}
	o, err = b.CreateServices(ctx(t), fmt.Sprint(w.tariff.ID), 1, "client@example.com")
	must(t, err)
	if o.Tariff.Name != "small" || len(o.Services) != 1 || o.Services[0].Status != store.ServiceProcessing {
		t.Fatalf("create by id: %+v", o)
	}
	_, err = b.CreateServices(ctx(t), "large", 1, "client@example.com")
	wantRule(t, "an unknown tariff", err, store.FieldRecord, `tariff "large" does not exist`)
	_, err = b.CreateServices(ctx(t), "small", 0, "client@example.com")
	wantRule(t, "no services", err, "count", "must be between 1 and")
	_, err = b.CreateServices(ctx(t), "small", 1, "") // there is no default client
	wantRule(t, "no client", err, "client", "is required: the client's email")
	jl, err := b.Jobs(ctx(t), backend.JobQuery{})
	must(t, err)
	if len(jl.Jobs) != 3 {
		t.Fatalf("%d jobs after creating 3 services", len(jl.Jobs))
	}
	for _, j := range jl.Jobs {
		if j.Type != store.OpOpen || j.By != me() || !strings.HasSuffix(j.Log[0].Text, " by "+me()) {
			t.Errorf("job %d: type %s, by %q, log %q; want an open asked by %s", j.ID, j.Type, j.By, j.Log[0].Text, me())
		}
	}
}

// testJobsView: one call answers the jobs pane: the window's jobs newest first with their places in
// their lanes, the counts, the module names; a filter runs on the answering side over a bounded
// history; a pinned job off the window is found near it, or its state said.
func testJobsView(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	_, err := b.CreateServices(ctx(t), "small", 12, "client@example.com")
	must(t, err)
	v, err := b.JobsView(ctx(t), backend.JobsQuery{Limit: 5})
	must(t, err)
	if len(v.Jobs) != 5 || v.Total != 12 || len(v.Lanes) != 5 || v.Jobs[0].ID != 12 || v.Jobs[4].ID != 8 {
		t.Fatalf("the first window: %d jobs (first %d), total %d, %d lanes", len(v.Jobs), v.Jobs[0].ID, v.Total, len(v.Lanes))
	}
	for i, l := range v.Lanes {
		if !strings.HasPrefix(l.Lane, fmt.Sprintf("q-%d-", w.module.ID)) || l.Ahead < 0 || l.Ahead > 5 {
			t.Errorf("job %d's place: %+v; want a lane of module %d and its jobs ahead", v.Jobs[i].ID, l, w.module.ID)
		}
		if len(v.Jobs[i].Log) != 1 {
			t.Errorf("job %d came with %d log lines, want its newest only", v.Jobs[i].ID, len(v.Jobs[i].Log))
		}
	}
	if c := v.Counts[w.module.ID]; c.Queued != 12 || v.Modules[w.module.ID] != "KVM one" {
		t.Errorf("counts %+v, module names %v", v.Counts, v.Modules)
	}

	v, err = b.JobsView(ctx(t), backend.JobsQuery{Limit: 10, Filter: "SVC 1"})
	must(t, err)
	if v.Total != 4 || v.Scanned != 12 || len(v.Jobs) != 4 {
		t.Fatalf("filter svc 1: %d of total %d, scanned %d; want services 1, 10, 11, 12", len(v.Jobs), v.Total, v.Scanned)
	}
	for _, j := range v.Jobs {
		if s := fmt.Sprint(j.ServiceID); !strings.HasPrefix(s, "1") {
			t.Errorf("filter svc 1 kept job %d of service %s", j.ID, s)
		}
	}

	v, err = b.JobsView(ctx(t), backend.JobsQuery{State: store.JobQueued, Limit: 3, Pin: 9})
	must(t, err)
	if v.PinRow != 3 || v.PinState != "" {
		t.Errorf("job 9, just below the window of 12..10: row %d state %q, want row 3", v.PinRow, v.PinState)
	}
	must(t, b.Cancel(ctx(t), 2))
	v, err = b.JobsView(ctx(t), backend.JobsQuery{State: store.JobQueued, Limit: 3, Pin: 2})
	must(t, err)
	if v.PinRow != -1 || v.PinState != store.JobCancelled {
		t.Errorf("job 2, cancelled, pinned on the queued tab: row %d state %q, want -1 and cancelled", v.PinRow, v.PinState)
	}
	v, err = b.JobsView(ctx(t), backend.JobsQuery{Limit: 1 << 20})
	must(t, err)
	if len(v.Jobs) != 12 {
		t.Errorf("a window over the whole history holds %d jobs, want 12", len(v.Jobs))
	}
	if v.Lanes[0].Ahead != -1 && v.Jobs[0].State == store.JobCancelled {
		t.Errorf("a cancelled job has a place in a lane: %+v", v.Lanes[0])
	}

	d, err := b.JobDetail(ctx(t), 9)
	must(t, err)
	if d.Job.ID != 9 || d.Lane.Lane == "" || d.Lane.Ahead < 0 {
		t.Errorf("job 9's detail: %+v", d)
	}
	d, err = b.JobDetail(ctx(t), 2)
	must(t, err)
	if d.Lane.Ahead != -1 || len(d.Job.Log) < 2 {
		t.Errorf("the cancelled job's detail: place %+v, %d log lines; want none and its whole log", d.Lane, len(d.Job.Log))
	}
	_, err = b.JobDetail(ctx(t), 999)
	wantIs(t, "an unknown job's detail", err, store.ErrNotFound)
}

// testListings: a listing comes with the names of what its rows refer to, and Jobs with its jobs'.
func testListings(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	var tariffs []*store.Tariff
	names, err := b.Listing(ctx(t), backend.KindOf[store.Tariff](), &tariffs)
	must(t, err)
	if len(tariffs) != 1 || names.DataCenters[w.dc] != "DC One" || names.Modules[w.module.ID] != "KVM one" ||
		names.Departments[w.dept] != "Support" || names.Tariffs[w.tariff.ID] != "small" {
		t.Fatalf("tariffs %+v with names %+v", tariffs, names)
	}
	_, err = b.Listing(ctx(t), "planets", &tariffs)
	wantRule(t, "a listing of an unknown kind", err, store.FieldRecord, `"planets" is not a kind`)
	_, err = b.CreateServices(ctx(t), "small", 1, "client@example.com")
	must(t, err)
	jl, err := b.Jobs(ctx(t), backend.JobQuery{Module: w.module.ID})
	must(t, err)
	if len(jl.Jobs) != 1 || jl.Names.Modules[w.module.ID] != "KVM one" {
		t.Fatalf("jobs of module %d: %d, names %+v", w.module.ID, len(jl.Jobs), jl.Names)
	}
	_, err = b.Jobs(ctx(t), backend.JobQuery{Module: 99})
	wantRule(t, "jobs of an unknown module", err, store.FieldRecord, "module 99 does not exist")
}

// testSetModule: settings change by typed values; a live one logs in with the stored password first;
// a refusal changes nothing.
func testSetModule(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	sort, queue, count := 25, true, 3
	m, warnings, err := b.SetModule(ctx(t), w.module.ID, &wizard.ModuleChanges{Sort: &sort, Queue: &queue, QueueCount: &count})
	must(t, err)
	if m.Sort != 25 || !m.Params.Queue || m.Params.QueueCount != 3 || len(warnings) != 0 {
		t.Fatalf("after the change: sort %d, params %+v, warnings %v", m.Sort, m.Params, warnings)
	}
	if got := load[store.Module](t, b, w.module.ID); got.Sort != 25 || got.Params.QueueCount != 3 {
		t.Fatalf("stored after the change: %s", describeModule(got))
	}
	logins := env.Sim.Stats().LoginsOK
	cluster := wizard.Ref{Name: "kvm-main"}
	if _, _, err := b.SetModule(ctx(t), w.module.ID, &wizard.ModuleChanges{Cluster: &cluster}); err != nil {
		t.Fatalf("choosing the cluster again by name: %v", err)
	}
	if env.Sim.Stats().LoginsOK <= logins {
		t.Errorf("a live change saved without logging in to VMmanager")
	}
	big := 65
	_, _, err = b.SetModule(ctx(t), w.module.ID, &wizard.ModuleChanges{QueueCount: &big, Sort: &sort})
	wantRule(t, "65 queues", err, "queue_count", "between 1 and 64")
	nowhere := wizard.Ref{Name: "Nowhere"}
	_, _, err = b.SetModule(ctx(t), w.module.ID, &wizard.ModuleChanges{DataCenter: &nowhere})
	wantRule(t, "an unknown data center", err, "datacenter", "Nowhere")
	_, _, err = b.SetModule(ctx(t), w.module.ID, &wizard.ModuleChanges{})
	wantRule(t, "no change", err, "changes", "give at least one setting")
	if got := load[store.Module](t, b, w.module.ID); got.Params.QueueCount != 3 || got.DataCenterID != w.dc {
		t.Errorf("refusals changed the module: %s", describeModule(got))
	}
	_, _, err = b.SetModule(ctx(t), 99, &wizard.ModuleChanges{Sort: &sort})
	wantIs(t, "an unknown module", err, store.ErrNotFound)
}
