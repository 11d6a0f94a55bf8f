package backend

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/reconcile"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestReconcileSchedule: serve's schedule scans a module once its reconcile_every has passed since the
// last scan; new findings open one department task per module and class (not one per VM) and raise a
// ReconcileFound event; the same findings again open nothing, nor do new ones of a class whose task is
// still open; status shows the last scan and its counts.
func TestReconcileSchedule(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := sim.New(sim.Config{SeedVMs: 2})
	srv := httptest.NewServer(s)
	defer srv.Close()
	secrets := store.NewMemorySecrets()
	dc, dept := &store.DataCenter{Name: "dc"}, &store.Department{Name: "Support"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.Save(dc))
	must(db.Save(dept))
	m := &store.Module{Name: "vmm-a", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: srv.URL,
		Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID, Enabled: true, Params: store.DefaultParams(),
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}, ReconcileEvery: "1h"}
	must(db.Save(m))
	must(secrets.Set(m.ID, "demo-password"))
	tariff := &store.Tariff{Name: "s", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	must(db.Save(tariff))
	eng, err := queue.New(db, secrets, queue.Options{PollEvery: 5 * time.Millisecond})
	must(err)
	defer eng.Close()
	svcs, err := eng.CreateServices(tariff.ID, 2, "c@example.com")
	must(err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(eng.RunUntilIdle(ctx))
	svc, _ := store.Load[store.Service](db, svcs[0].ID)
	must(s.DeleteVM(int(svc.VM.HostID)))

	l := NewLocal(db, secrets, eng, "test")
	events, unsubscribe := eng.Subscribe(64)
	defer unsubscribe()
	was := ReconcileCheck
	ReconcileCheck = 10 * time.Millisecond
	defer func() { ReconcileCheck = was }()
	stop := l.StartReconcileSchedule(ctx, nil)
	var last []reconcile.Summary
	for deadline := time.Now().Add(10 * time.Second); len(last) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the schedule did not scan within 10 s")
		}
		last, err = reconcile.LastScans(db)
		must(err)
	}
	stop()
	if last, _ := reconcile.LastScans(db); len(last) != 1 || !last[0].Scheduled || last[0].Counts[reconcile.UnknownVM] != 2 || last[0].Counts[reconcile.MissingVM] != 1 {
		t.Fatalf("last scans %+v", last)
	}
	tasks := func() []*store.Task {
		t.Helper()
		all, err := store.All[store.Task](db)
		must(err)
		return all
	}
	ts := tasks()
	if len(ts) != 2 || !strings.Contains(ts[0].Title+ts[1].Title, "2 new unknown_vm") || ts[0].DepartmentID != dept.ID {
		t.Fatalf("tasks %+v: want one per class", ts)
	}
	found := false
	for !found {
		select {
		case ev := <-events:
			found = ev.Kind == queue.ReconcileFound && ev.ModuleID == m.ID && ev.Findings[reconcile.UnknownVM] == 2 && ev.Findings[reconcile.MissingVM] == 1
		case <-time.After(5 * time.Second):
			t.Fatal("no ReconcileFound event")
		}
	}

	// The same findings: nothing new. One more VM while the class's task is open: still one task.
	_, err = l.ScheduledScan(ctx, m.ID)
	must(err)
	_, _, err = s.SeedVMs(1)
	must(err)
	_, err = l.ScheduledScan(ctx, m.ID)
	must(err)
	if n := len(tasks()); n != 2 {
		t.Fatalf("%d tasks after scans with nothing or little new", n)
	}
	// Its task closed, the next new unknown VM opens another.
	for _, tk := range tasks() {
		if strings.Contains(tk.Title, "unknown_vm") {
			must(db.Update(func(tx *store.Tx) error { return store.CloseTask(tx, tk.ID, time.Now()) }))
		}
	}
	_, _, err = s.SeedVMs(1)
	must(err)
	_, err = l.ScheduledScan(ctx, m.ID)
	must(err)
	if ts := tasks(); len(ts) != 3 || !strings.Contains(ts[2].Title, "1 new unknown_vm") {
		t.Fatalf("tasks %+v", ts)
	}
	st, err := l.Status(ctx)
	must(err)
	if r := st.Modules[0].Reconcile; r == nil || r.Counts[reconcile.UnknownVM] != 4 || r.Total() != 5 {
		t.Fatalf("status: %+v", st.Modules[0].Reconcile)
	}
}
