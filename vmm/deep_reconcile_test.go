package vmm_test

import (
	"slices"
	"strings"
	"testing"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// TestDeepCheckProbesListCut: a VMmanager whose lists are cut (as one paging by default would) is a
// difference the deep check names, with the counts.
func TestDeepCheckProbesListCut(t *testing.T) {
	_, srv := startSim(t, sim.Config{History: true, SeedVMs: 5, ListLimit: 3})
	rep, err := vmm.DeepCheck(ctxT(t), newClient(t, srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Differs(), "host list whole per cluster") {
		t.Fatalf("differs %v", rep.Differs())
	}
	for _, p := range rep.Probes {
		if p.Name == "host list whole per cluster" && !strings.Contains(p.Seen, "3 VMs listed, host_count 5") {
			t.Fatalf("seen %q", p.Seen)
		}
	}
}
