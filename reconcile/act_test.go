package reconcile

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// fixAll queues each finding's first action (imports in one bulk per module, with the fixture's tariff)
// and runs the jobs; it returns how many actions it queued.
func fixAll(t testing.TB, f *fixture, rep *Report) int {
	t.Helper()
	n := 0
	var unknown []uint64
	for _, fd := range rep.Findings {
		if fd.Class == UnknownVM {
			unknown = append(unknown, fd.VMID)
			continue
		}
		a := Action{Action: fd.Actions[0], Service: fd.ServiceID, Confirm: true}
		if fd.Class == DuplicateVM || fd.Class == State {
			a.VMs = []uint64{fd.VMID}
		}
		out := f.act(a)
		if len(out.Steps) != 1 || out.Steps[0].JobID == 0 {
			t.Fatalf("%s on %s: %+v", a.Action, fd.Summary, out)
		}
		n++
	}
	if len(unknown) > 0 {
		out := f.act(Action{Action: ActImport, VMs: unknown, Tariff: f.tariff.Name, Confirm: true})
		if len(out.Steps) != len(unknown) || len(out.Skipped) != 0 {
			t.Fatalf("import of %d VMs: %d steps, skipped %+v", len(unknown), len(out.Steps), out.Skipped)
		}
		n += len(unknown)
	}
	f.idle()
	return n
}

// TestActionsClearEveryFinding: each finding's usual action, queued and run, leaves nothing for the next
// scan; no job failed, each says in its log what it did, and no service got a VM twice.
func TestActionsClearEveryFinding(t *testing.T) {
	f := newFixture(t, sim.Config{SeedVMs: 3})
	stageDrift(t, f)
	f.act(Action{Action: ActMarkSystem, VMs: []uint64{3}, Confirm: true})
	rep := f.scan()
	if len(rep.Findings) != 12 {
		t.Fatalf("%d findings before the actions: %v", len(rep.Findings), got(rep))
	}
	fixAll(t, f, rep)
	if again := f.scan(); len(again.Findings) != 0 {
		t.Fatalf("after the actions: %v", got(again))
	}
	jobs, err := store.All[store.Job](f.db)
	f.must(err)
	rc := 0
	for _, j := range jobs {
		if j.Type != store.OpReconcile {
			continue
		}
		rc++
		if j.State != store.JobDone {
			t.Errorf("job %d (%s) %s: %s", j.ID, j.Args["action"], j.State, j.Error)
		}
		if j.By != "uid 0 (test)" || len(j.Log) < 3 {
			t.Errorf("job %d: by %q, log %v", j.ID, j.By, j.Log)
		}
	}
	if rc != 12 {
		t.Fatalf("%d reconcile jobs, want 12", rc)
	}
	for name, n := range f.sim.Stats().HostsCreated {
		if n > 1 && !strings.HasPrefix(name, "svc-") {
			t.Errorf("VM %s created %d times", name, n)
		}
	}
}

// TestActionsAreConfirmed: without Confirm an action says what it would do and writes nothing, to
// VMmanager or the database; an action whose finding went away is refused before anything is queued.
func TestActionsAreConfirmed(t *testing.T) {
	f := newFixture(t, sim.Config{SeedVMs: 2})
	svcs := f.open(2, "client@example.com")
	dup, err := f.sim.DuplicateVM(int(svcs[0].VM.HostID))
	f.must(err)
	writes := f.changes()
	jobsBefore, _ := store.All[store.Job](f.db)
	for _, a := range []Action{
		{Action: ActRemoveDup, Service: svcs[0].ID, VMs: []uint64{uint64(dup)}},
		{Action: ActImport, All: true, Tariff: "vps-s"},
		{Action: ActMarkSystem, VMs: []uint64{1}},
	} {
		out := f.act(a)
		if out.Confirmed || len(out.Steps) == 0 {
			t.Fatalf("%s unconfirmed: %+v", a.Action, out)
		}
	}
	if !strings.Contains(f.act(Action{Action: ActRemoveDup, Service: svcs[0].ID, VMs: []uint64{uint64(dup)}}).Steps[0].Text,
		"keeps VM "+itoa(svcs[0].VM.HostID)) {
		t.Fatal("remove_duplicate does not say which VM stays")
	}
	jobsAfter, _ := store.All[store.Job](f.db)
	svcsAfter, _ := store.All[store.Service](f.db)
	if f.changes() != writes || len(jobsAfter) != len(jobsBefore) || len(svcsAfter) != 2 || len(f.scan().Modules[0].System) != 0 {
		t.Fatal("an unconfirmed action changed something")
	}
	// Stale premises are refused with a sentence saying so.
	for _, a := range []Action{
		{Action: ActRemoveDup, Service: svcs[0].ID, VMs: []uint64{svcs[0].VM.HostID}}, // the kept one
		{Action: ActReopen, Service: svcs[1].ID, Confirm: true},                       // its VM is there
		{Action: ActStartVM, Service: svcs[1].ID, Confirm: true},                      // it runs already
		{Action: ActImport, VMs: []uint64{svcs[1].VM.HostID}, Tariff: "vps-s", Confirm: true},
	} {
		a.Module = f.module.ID
		out, err := f.scanner().Act(context.Background(), a, f.engine.As("t"), "t")
		var ve *store.ValidationError
		if a.Action == ActImport {
			if err != nil || len(out.Steps) != 0 || len(out.Skipped) != 1 {
				t.Fatalf("import of a service's VM: %+v %v", out, err)
			}
			continue
		}
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "does not apply") {
			t.Fatalf("%s: %v", a.Action, err)
		}
	}
	if jobs, _ := store.All[store.Job](f.db); len(jobs) != len(jobsBefore) {
		t.Fatal("a refused action queued a job")
	}
}

// TestBulkImport1000: 1,000 VMs nobody ordered become 1,000 services in one command, each bound to
// exactly one VM, none opened; nothing is written to VMmanager during the scan, before the
// confirmation, or by the imports; a second import finds nothing left.
func TestBulkImport1000(t *testing.T) {
	f := newFixture(t, sim.Config{SeedVMs: 1000})
	rep := f.scan()
	if n := rep.Modules[0].Counts[UnknownVM]; n != 1000 {
		t.Fatalf("%d import candidates", n)
	}
	plan := f.act(Action{Action: ActImport, All: true, Tariff: "vps-s"})
	if len(plan.Steps) != 1000 || plan.Confirmed {
		t.Fatalf("plan: %d steps", len(plan.Steps))
	}
	if svcs, _ := store.All[store.Service](f.db); len(svcs) != 0 || f.changes() != 0 {
		t.Fatalf("before the confirmation: %d services, %d writes", len(svcs), f.changes())
	}
	done := f.act(Action{Action: ActImport, All: true, Tariff: "vps-s", Confirm: true})
	if len(done.Steps) != 1000 {
		t.Fatalf("%d imports queued", len(done.Steps))
	}
	f.idle()
	svcs, err := store.All[store.Service](f.db)
	f.must(err)
	bound := map[uint64]uint64{}
	for _, s := range svcs {
		if s.VM.HostID == 0 || (s.Status != store.ServiceActive && s.Status != store.ServiceSuspended) || s.VM.CPU == 0 {
			t.Fatalf("service %+v", s)
		}
		if other, dup := bound[s.VM.HostID]; dup {
			t.Fatalf("VM %d bound to services %d and %d", s.VM.HostID, other, s.ID)
		}
		bound[s.VM.HostID] = s.ID
	}
	st := f.sim.Stats()
	if len(svcs) != 1000 || len(bound) != 1000 || len(st.HostsCreated) != 0 || f.changes() != 0 {
		t.Fatalf("%d services on %d VMs, %d VMs created, %d writes", len(svcs), len(bound), len(st.HostsCreated), f.changes())
	}
	if again := f.act(Action{Action: ActImport, All: true, Tariff: "vps-s", Confirm: true}); len(again.Steps) != 0 {
		t.Fatalf("a second import queued %d", len(again.Steps))
	}
	if rep := f.scan(); len(rep.Findings) != 0 {
		t.Fatalf("after the import: %v", got(rep)[:min(5, len(rep.Findings))])
	}
	if !slices.ContainsFunc(svcs, func(s *store.Service) bool { return s.Status == store.ServiceSuspended }) {
		t.Fatal("no stopped VM became a suspended service")
	}
}

func itoa(id uint64) string { return strconv.FormatUint(id, 10) }
