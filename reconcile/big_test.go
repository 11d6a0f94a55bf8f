package reconcile

import (
	"fmt"
	"testing"
	"time"

	"vmmpm/vmm/sim"
)

// stage10000 makes an emulator of 10,000 VMs through real opens and control calls: 9,800 services
// opened, then 200 each deleted, stopped, resized, given to another account and duplicated, plus 200
// VMs nobody ordered. 2% of the VMs fall into each class. It returns the findings a scan must report.
func stage10000(t testing.TB) (*fixture, map[string]bool) {
	t.Helper()
	f := newFixture(t, sim.Config{SeedVMs: 200})
	began := time.Now()
	svcs := f.open(9800, "client@example.com")
	t.Logf("9,800 opens took %s", time.Since(began).Round(time.Millisecond))
	want := map[string]bool{}
	for i := 1; i <= 200; i++ {
		want[fmt.Sprintf("unknown_vm 0/%d", i)] = true
	}
	for i, s := range svcs[:1000] {
		vm := int(s.VM.HostID)
		switch i / 200 {
		case 0:
			f.must(f.sim.DeleteVM(vm))
			want[fmt.Sprintf("missing_vm %d/0", s.ID)] = true
		case 1:
			f.must(f.sim.StopVM(vm))
			want[fmt.Sprintf("state %d/%d", s.ID, vm)] = true
		case 2:
			f.must(f.sim.ResizeVM(vm, sim.Resize{RAMMiB: ptr(2048)}))
			want[fmt.Sprintf("resources %d/%d", s.ID, vm)] = true
		case 3:
			f.must(f.sim.SetOwner(vm, 2))
			want[fmt.Sprintf("owner %d/%d", s.ID, vm)] = true
		case 4:
			dup, err := f.sim.DuplicateVM(vm)
			f.must(err)
			want[fmt.Sprintf("duplicate_vm %d/%d", s.ID, dup)] = true
		}
	}
	if n := f.sim.VMCount(); n != 10000 {
		t.Fatalf("%d VMs staged, want 10,000", n)
	}
	return f, want
}

// TestScan10000: the scan of 10,000 VMs finds each of the 1,200 staged findings (2% of the VMs in each
// class) and nothing else, writes nothing to VMmanager, and after each finding's action a second scan
// finds nothing.
func TestScan10000(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 9,800 services")
	}
	f, want := stage10000(t)
	before := f.changes()
	rep := f.scan()
	if f.changes() != before {
		t.Fatalf("the scan made %d changing requests", f.changes()-before)
	}
	found := map[string]bool{}
	for _, g := range got(rep) {
		found[g] = true
		if !want[g] {
			t.Errorf("false positive: %s", g)
		}
	}
	for w := range want {
		if !found[w] {
			t.Errorf("not found: %s", w)
		}
	}
	if len(rep.Findings) != 1200 || t.Failed() {
		t.Fatalf("%d findings, want 1,200", len(rep.Findings))
	}
	mr := rep.Modules[0]
	t.Logf("scan: %d VMs, %d services, %d requests, %d pieces, %.2fs", mr.Compared.VMs, mr.Compared.Services, mr.Compared.Requests, mr.Compared.Pieces, mr.Took)
	fixAll(t, f, rep)
	if again := f.scan(); len(again.Findings) != 0 {
		t.Fatalf("after the actions, %d findings, e.g. %v", len(again.Findings), got(again)[:min(5, len(again.Findings))])
	}
}
