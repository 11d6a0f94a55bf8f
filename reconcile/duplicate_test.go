package reconcile

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// TestOpenKeepsOneVMOfTwo: the engine is stopped between "VM created" and "recorded" (the create's
// answer never reaches it) and meanwhile a second VM of the same name appears. The restarted open keeps
// one VM (the oldest, as none is recorded), says so in the job's log and raises a duplicate finding;
// the scan reports the other, and removing it leaves exactly one.
func TestOpenKeepsOneVMOfTwo(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 10 * time.Millisecond})
	created := make(chan int, 1)
	var once atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/vm/v3/host" && once.CompareAndSwap(false, true) {
			rec := httptest.NewRecorder()
			f.sim.ServeHTTP(rec, r) // VMmanager makes the VM…
			ids := f.sim.VMsNamed("svc-1")
			dup, err := f.sim.DuplicateVM(ids[0]) // …a second one appears…
			if err != nil {
				t.Error(err)
			}
			created <- dup
			<-r.Context().Done() // …and the engine is stopped before the answer arrives
			return
		}
		f.sim.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	f.module.URL = proxy.URL
	f.must(f.db.Save(f.module))

	svcs, err := f.engine.CreateServices(f.tariff.ID, 1, "client@example.com")
	f.must(err)
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- f.engine.Run(ctx) }()
	var dup int
	select {
	case dup = <-created:
	case <-time.After(30 * time.Second):
		t.Fatal("the open never created its VM")
	}
	stop()
	<-ran
	if s := f.service(svcs[0].ID); s.VM.HostID != 0 {
		t.Fatalf("the VM was recorded (%d) before the engine stopped", s.VM.HostID)
	}
	f.restart()
	events, unsubscribe := f.engine.Subscribe(64)
	defer unsubscribe()
	f.idle()

	named := f.sim.VMsNamed("svc-1")
	s := f.service(svcs[0].ID)
	if len(named) != 2 || s.Status != store.ServiceActive || s.VM.HostID != uint64(named[0]) || s.VM.HostID == uint64(dup) {
		t.Fatalf("service %+v, VMs named svc-1 %v: want the oldest kept", s, named)
	}
	jobs, err := store.All[store.Job](f.db)
	f.must(err)
	logged := false
	for _, l := range jobs[0].Log {
		logged = logged || strings.Contains(l.Text, "found 2 VMs named svc-1: keeping VM "+itoa(s.VM.HostID)+" (the oldest)")
	}
	if !logged || jobs[0].State != store.JobDone {
		t.Fatalf("job %s, log %v", jobs[0].State, jobs[0].Log)
	}
	raised := false
	for !raised {
		select {
		case ev := <-events:
			raised = ev.Kind == queue.ReconcileFound && ev.Findings[DuplicateVM] == 1 && ev.ModuleID == f.module.ID
		case <-time.After(5 * time.Second):
			t.Fatal("no duplicate finding was raised")
		}
	}

	rep := f.scan()
	if g := got(rep); len(g) != 1 || g[0] != "duplicate_vm "+itoa(s.ID)+"/"+itoa(uint64(dup)) || rep.Findings[0].KeepVMID != s.VM.HostID {
		t.Fatalf("scan: %v", g)
	}
	fixAll(t, f, rep)
	if named := f.sim.VMsNamed("svc-1"); len(named) != 1 || named[0] != int(s.VM.HostID) {
		t.Fatalf("VMs named svc-1 after the removal: %v", named)
	}
	if rep := f.scan(); len(rep.Findings) != 0 {
		t.Fatalf("after the removal: %v", got(rep))
	}
}

// TestOpenKeepsTheRecordedVM: with two VMs of its name, an open keeps the one the service records
// (here the newer), not the oldest, and the scan reports the other.
func TestOpenKeepsTheRecordedVM(t *testing.T) {
	f := newFixture(t, sim.Config{})
	svcs, err := f.engine.CreateServices(f.tariff.ID, 1, "client@example.com")
	f.must(err)
	c := f.vmmClient()
	var ids []uint64
	for range 2 {
		cr, err := c.CreateHost(context.Background(), vmmSpec(svcs[0].ID))
		f.must(err)
		ids = append(ids, cr.HostID)
	}
	s := f.service(svcs[0].ID)
	s.VM.HostID = ids[1]
	f.must(f.db.Save(s))
	f.idle()
	if s := f.service(svcs[0].ID); s.VM.HostID != ids[1] || s.Status != store.ServiceActive {
		t.Fatalf("service %+v: want VM %d kept", s, ids[1])
	}
	// Both were made by the admin's account, so the owner differs from the service's client too.
	want := want("duplicate_vm "+itoa(svcs[0].ID)+"/"+itoa(ids[0]), "owner "+itoa(svcs[0].ID)+"/"+itoa(ids[1]))
	if g := got(f.scan()); !slices.Equal(g, want) {
		t.Fatalf("scan: %v, want %v", g, want)
	}
}

func vmmSpec(service uint64) vmm.HostSpec {
	return vmm.HostSpec{Name: queue.VMName(service), Cluster: 1, OS: 1, Password: "x-Passw0rd-x", CPU: 1, RAMMiB: 1024, DiskMiB: 10240, IPv4Count: 1}
}

// TestDuplicateNamesEngineEpochs: when both VMs of a service carry vmmpm's engine-epoch mark (a
// shared database's engines put it in the comment), the duplicate finding says which epoch made each,
// and the JSON carries the duplicate's epoch; a VM without the mark has none.
func TestDuplicateNamesEngineEpochs(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 10 * time.Millisecond})
	svc := f.open(1, "client@example.com")[0]
	kept := int(svc.VM.HostID)
	dup, err := f.sim.DuplicateVM(kept)
	f.must(err)
	if !f.sim.SetVMComment(kept, queue.EpochMark(svc.ID, 4)) || !f.sim.SetVMComment(dup, queue.EpochMark(svc.ID, 3)) {
		t.Fatal("the emulator lost the VMs")
	}
	var found *Finding
	for _, fd := range f.scan().Findings {
		if fd.Class == DuplicateVM {
			found = &fd
		}
	}
	if found == nil || found.VMID != uint64(dup) || found.VM == nil || found.VM.EngineEpoch != 3 ||
		!strings.Contains(found.Summary, "made under engine epoch 3, the VM staying under epoch 4") {
		t.Fatalf("duplicate finding %+v: want VM %d named as made under epoch 3, beside epoch 4", found, dup)
	}
	f.sim.SetVMComment(dup, "made by hand")
	for _, fd := range f.scan().Findings {
		if fd.Class == DuplicateVM && (fd.VM.EngineEpoch != 0 || strings.Contains(fd.Summary, "epoch")) {
			t.Errorf("a VM without the mark is given an epoch: %+v", fd)
		}
	}
}
