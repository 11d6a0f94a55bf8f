package backendtest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"vmmpm/backend"
	"vmmpm/reconcile"
	"vmmpm/store"
)

// testReconcile: a scan reports the VMs nobody ordered with their owners and says how far it got as it
// goes; an unknown module is refused by rule; an unconfirmed import writes nothing and says what it
// would do, a confirmed one queues a job per VM on services bound to them; the last scan is kept; a
// cancelled scan returns the context's error.
func testReconcile(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	if _, _, err := env.Sim.SeedVMs(3); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []reconcile.Progress
	rep, err := b.ReconcileScan(ctx(t), reconcile.Query{}, func(p reconcile.Progress) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	})
	must(t, err)
	if len(rep.Modules) != 1 || rep.Modules[0].ModuleID != w.module.ID || rep.Failed() || len(rep.Findings) != 3 {
		t.Fatalf("scan: %+v", rep)
	}
	for _, f := range rep.Findings {
		if f.Class != reconcile.UnknownVM || f.ModuleID != w.module.ID || f.VM == nil || f.VM.Account == "" {
			t.Fatalf("finding %+v", f)
		}
	}
	mu.Lock()
	if len(seen) == 0 || seen[len(seen)-1].Done == 0 {
		t.Errorf("progress reports %+v", seen)
	}
	mu.Unlock()
	_, err = b.ReconcileScan(ctx(t), reconcile.Query{Module: 99}, nil)
	wantRule(t, "scan of an unknown module", err, store.FieldRecord, "module 99 does not exist")

	plan, err := b.ReconcileAct(ctx(t), reconcile.Action{Module: w.module.ID, Action: reconcile.ActImport, All: true, Tariff: w.tariff.Name})
	must(t, err)
	if plan.Confirmed || len(plan.Steps) != 3 {
		t.Fatalf("unconfirmed import: %+v", plan)
	}
	if svcs, err := backend.All[store.Service](ctx(t), b); err != nil || len(svcs) != 0 {
		t.Fatalf("an unconfirmed import made services: %d, %v", len(svcs), err)
	}
	done, err := b.ReconcileAct(ctx(t), reconcile.Action{Module: w.module.ID, Action: reconcile.ActImport, All: true, Tariff: w.tariff.Name, Confirm: true})
	must(t, err)
	svcs, err := backend.All[store.Service](ctx(t), b)
	must(t, err)
	if !done.Confirmed || len(done.Steps) != 3 || len(svcs) != 3 {
		t.Fatalf("import: %+v, %d services", done, len(svcs))
	}
	for i, s := range done.Steps {
		if s.JobID == 0 || s.ServiceID != svcs[i].ID || svcs[i].VM.HostID != s.VMID || svcs[i].ModuleID != w.module.ID {
			t.Fatalf("step %+v, service %+v", s, svcs[i])
		}
	}
	_, err = b.ReconcileAct(ctx(t), reconcile.Action{Module: w.module.ID, Action: "explode"})
	wantRule(t, "an unknown action", err, "action", "is not an action")

	last, err := b.ReconcileLast(ctx(t))
	must(t, err)
	if len(last) != 1 || last[0].ModuleID != w.module.ID || last[0].Counts[reconcile.UnknownVM] != 3 {
		t.Fatalf("last scans %+v", last)
	}
	cctx, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := b.ReconcileScan(cctx, reconcile.Query{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled scan: %v", err)
	}
}
