package reconcile

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// stageDrift opens 12 services and stages one drift of each kind on services 1–10, half through the
// emulator's control calls and half through the VMmanager API itself, as an admin in the panel would.
// It returns the findings a scan must report, as got() writes them.
func stageDrift(t *testing.T, f *fixture) []string {
	t.Helper()
	svcs := f.open(12, "client@example.com")
	vm := func(i int) int { return int(svcs[i-1].VM.HostID) }
	ctx := context.Background()
	// Through the control calls.
	f.must(f.sim.DeleteVM(vm(1)), f.sim.StopVM(vm(2)), f.sim.ResizeVM(vm(4), sim.Resize{CPU: ptr(2)}), f.sim.SetOwner(vm(5), 2))
	_, err := f.engine.Enqueue(svcs[2].ID, store.OpSuspend, nil)
	f.must(err)
	f.idle()
	f.must(f.sim.StartVM(vm(3)))
	dup6, err := f.sim.DuplicateVM(vm(6))
	f.must(err)
	// Through the API.
	c := f.vmmClient()
	_, err = f.engine.Enqueue(svcs[6].ID, store.OpClose, nil)
	f.must(err)
	f.idle()
	created7, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-" + strconv.FormatUint(svcs[6].ID, 10), Cluster: 1, OS: 1, Password: "x-Passw0rd-x",
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, IPv4Count: 1})
	f.must(err)
	_, err = c.DeleteHost(ctx, uint64(vm(8)))
	f.must(err)
	_, err = c.StopHost(ctx, uint64(vm(9)))
	f.must(err)
	created10, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-" + strconv.FormatUint(svcs[9].ID, 10), Cluster: 1, OS: 1, Password: "x-Passw0rd-x",
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, IPv4Count: 1})
	f.must(err)
	waitFor(t, "the API's changes to finish", func() bool {
		return f.sim.VMState(int(created7.HostID)) == "active" && f.sim.VMState(int(created10.HostID)) == "active" && f.sim.VMState(vm(9)) == "stopped"
	})
	id := func(i int) string { return strconv.FormatUint(svcs[i-1].ID, 10) }
	return want(
		"missing_vm "+id(1)+"/0",
		"state "+id(2)+"/"+strconv.Itoa(vm(2)),
		"state "+id(3)+"/"+strconv.Itoa(vm(3)),
		"resources "+id(4)+"/"+strconv.Itoa(vm(4)),
		"owner "+id(5)+"/"+strconv.Itoa(vm(5)),
		"duplicate_vm "+id(6)+"/"+strconv.Itoa(dup6),
		"state "+id(7)+"/"+strconv.FormatUint(created7.HostID, 10),
		"missing_vm "+id(8)+"/0",
		"state "+id(9)+"/"+strconv.Itoa(vm(9)),
		"duplicate_vm "+id(10)+"/"+strconv.FormatUint(created10.HostID, 10),
	)
}

func ptr[T any](v T) *T { return &v }

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestScanFindsStagedDrift: every kind of drift, staged through the control calls or the API, is found
// with its evidence and nothing else is; a VM marked as system is listed apart; the scan writes nothing
// to VMmanager.
func TestScanFindsStagedDrift(t *testing.T) {
	f := newFixture(t, sim.Config{SeedVMs: 3})
	expect := stageDrift(t, f)
	for _, id := range []string{"1", "2"} {
		expect = append(expect, "unknown_vm 0/"+id)
	}
	expect = want(expect...)
	f.act(Action{Action: ActMarkSystem, VMs: []uint64{3}, Confirm: true})

	before := f.changes()
	rep := f.scan()
	if f.changes() != before {
		t.Fatalf("the scan made %d changing requests", f.changes()-before)
	}
	if g := got(rep); !slices.Equal(g, expect) {
		t.Fatalf("findings\n got %v\nwant %v", g, expect)
	}
	mr := rep.Modules[0]
	if len(mr.System) != 1 || mr.System[0].ID != 3 {
		t.Fatalf("system VMs %+v, want VM 3", mr.System)
	}
	if mr.Compared.HostCount != mr.Compared.VMs || mr.Compared.Pieces != 1 || mr.Compared.Requests > 6 {
		t.Fatalf("compared %+v: want the cluster in one piece, checked against host_count, in a few requests", mr.Compared)
	}
	for _, fd := range rep.Findings {
		if fd.Summary == "" || len(fd.Actions) == 0 || fd.Key == "" {
			t.Errorf("finding %+v lacks a summary, actions or key", fd)
		}
		switch fd.Class {
		case Resources:
			if len(fd.Evidence) != 1 || fd.Evidence[0] != (Evidence{Field: "cpu", VMmpm: "1", VMmanager: "2"}) {
				t.Errorf("resources evidence %+v", fd.Evidence)
			}
		case Owner:
			if fd.Evidence[0].VMmanager != "anna@example.net" || fd.Evidence[0].VMmpm != "client@example.com" {
				t.Errorf("owner evidence %+v", fd.Evidence)
			}
		case DuplicateVM:
			if fd.KeepVMID == 0 || fd.KeepVMID == fd.VMID {
				t.Errorf("duplicate keeps %d of %d", fd.KeepVMID, fd.VMID)
			}
		case UnknownVM:
			if fd.VM == nil || fd.VM.Account == "" {
				t.Errorf("unknown VM without its owner: %+v", fd.VM)
			}
		}
	}
	if mr.Counts[State] != 4 || mr.Counts[UnknownVM] != 2 {
		t.Fatalf("counts %v", mr.Counts)
	}
	last, err := LastScans(f.db)
	f.must(err)
	if len(last) != 1 || last[0].Total() != len(expect) || last[0].Failed {
		t.Fatalf("last scans %+v", last)
	}
}

// TestScanListCut: when VMmanager's list answer holds fewer VMs than the cluster's host_count (a
// paging VMmanager), the scan reads again in windows of ids no larger than the cut answer, and finds
// every VM with its owner; no service is called missing because a list was short.
func TestScanListCut(t *testing.T) {
	for _, limit := range []int{4, 3} {
		f := newFixture(t, sim.Config{SeedVMs: 12})
		f.open(4, "client@example.com")
		f.sim.SetListLimit(limit)
		before := f.changes()
		rep := f.scan()
		if f.changes() != before {
			t.Fatal("the scan changed VMmanager")
		}
		mr := rep.Modules[0]
		if mr.Compared.Pieces < 2 || len(mr.Notes) == 0 || mr.Compared.VMs != 16 {
			t.Fatalf("limit %d: compared %+v, notes %v: the cut list was not read again in pieces", limit, mr.Compared, mr.Notes)
		}
		for _, fd := range rep.Findings {
			if fd.Class != UnknownVM || fd.VM.Account == "" {
				t.Fatalf("limit %d: a false %s finding, or no owner: %s", limit, fd.Class, fd.Summary)
			}
		}
		if n := mr.Counts[UnknownVM]; n != 12 {
			t.Fatalf("limit %d: %d unknown VMs of the 12 seeded", limit, n)
		}
	}
}

// TestScanListUnreadable: VMs the windows cannot reach (ids far past any seen) leave the module failed
// with what could not be read said, and nothing false reported.
func TestScanListUnreadable(t *testing.T) {
	f := newFixture(t, sim.Config{SeedVMs: 200})
	for id := 4; id <= 196; id++ {
		f.must(f.sim.DeleteVM(id))
	}
	f.sim.SetListLimit(3)
	rep, _, err := f.scanner().ScanAndRecord(context.Background(), Query{}, nil, false)
	f.must(err)
	mr := rep.Modules[0]
	if !mr.Failed() || len(mr.Unreadable) != 1 || !rep.Failed() {
		t.Fatalf("module %+v: want it failed, with what could not be read", mr)
	}
	if n := len(rep.Findings); n != 3 || mr.Compared.HostCount != 7 {
		t.Fatalf("%d findings, host_count %d: want the 3 VMs read of the 7", n, mr.Compared.HostCount)
	}
	last, err := LastScans(f.db)
	f.must(err)
	if !last[0].Failed || len(last[0].Unreadable) != 1 {
		t.Fatalf("last scan %+v", last[0])
	}
}

// TestScheduleDue: a module is due once its reconcile_every has passed since its last scan (at once
// when it never had one); 0 turns it off; the default is 6 hours.
func TestScheduleDue(t *testing.T) {
	f := newFixture(t, sim.Config{})
	s := &Schedule{DB: f.db}
	now := time.Now()
	if due := s.due(now, nil); !slices.Equal(due, []uint64{f.module.ID}) {
		t.Fatalf("never scanned: due %v", due)
	}
	f.scan()
	for _, tc := range []struct {
		every string
		after time.Duration
		due   bool
	}{{"", 5 * time.Hour, false}, {"", 6*time.Hour + time.Second, true}, {"30m", 29 * time.Minute, false},
		{"30m", 31 * time.Minute, true}, {"0", 1000 * time.Hour, false}} {
		f.module.ReconcileEvery = tc.every
		f.must(f.db.Save(f.module))
		if got := len(s.due(now.Add(tc.after), nil)) == 1; got != tc.due {
			t.Errorf("every %q, %s after the scan: due %v", tc.every, tc.after, got)
		}
	}
}
