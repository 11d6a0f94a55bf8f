package queue

import (
	"context"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

func TestParseEpochMark(t *testing.T) {
	if svc, ep, ok := ParseEpochMark(EpochMark(12, 3)); !ok || svc != 12 || ep != 3 {
		t.Errorf("ParseEpochMark(EpochMark(12, 3)) = %d, %d, %v", svc, ep, ok)
	}
	for _, c := range []string{"", "made by hand", "vmmpm service 12, engine epoch 3 and more", "vmmpm service x, engine epoch 3"} {
		if _, _, ok := ParseEpochMark(c); ok {
			t.Errorf("ParseEpochMark(%q) took it for a mark", c)
		}
	}
}

// TestVMsMarkedWithEpoch: on a shared database (Options.Epoch set) the VM an open creates carries the
// lease's epoch in its comment; without one it carries none.
func TestVMsMarkedWithEpoch(t *testing.T) {
	for _, epoch := range []int64{0, 7} {
		f := newFixture(t, sim.Config{Seed: 3, TaskTime: 10 * time.Millisecond}, store.DefaultParams())
		opt := fastOptions()
		if epoch > 0 {
			opt.Epoch = func(uint64) int64 { return epoch }
		}
		e := f.engine(opt)
		svcs, err := e.CreateServices(f.tariff.ID, 1, "mark@example.org")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = e.RunUntilIdle(ctx)
		cancel()
		f.must(err, e.Close())
		vms := f.sim.VMsNamed(VMName(svcs[0].ID))
		if len(vms) != 1 {
			t.Fatalf("epoch %d: VMs %v for the service, want one", epoch, vms)
		}
		want := ""
		if epoch > 0 {
			want = EpochMark(svcs[0].ID, epoch)
		}
		if got := f.sim.VMComment(vms[0]); got != want {
			t.Errorf("epoch %d: the VM's comment is %q, want %q", epoch, got, want)
		}
	}
}
