package queue

import (
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestInterfaceAsString: a VMmanager answering ip4[].interface as a string (GO1 types it so), as digits
// or as interface names. Opens with an additional interface finish, the main-interface addresses are
// counted right (no warning that the tariff's count differs), and a setparam adds exactly the missing one.
func TestInterfaceAsString(t *testing.T) {
	for _, quirk := range []string{"interface:string", "interface:name"} {
		t.Run(quirk, func(t *testing.T) {
			q, err := sim.ParseQuirk(quirk)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, sim.Config{Seed: 31, Quirks: []sim.Quirk{q}}, store.DefaultParams())
			f.module.AdditionalInterface = true
			f.must(f.db.Save(f.module))
			l := f.logged()
			e := f.engine(fastOptions())
			svcs, err := e.CreateServices(f.tariff.ID, 3, "iris@example.org")
			if err != nil {
				t.Fatal(err)
			}
			runIdle(t, e, 30*time.Second)
			for _, j := range allJobs(t, f.db) {
				if j.State != store.JobDone {
					t.Fatalf("job %d %s: %s", j.ID, j.State, j.Error)
				}
				for _, line := range j.Log {
					if strings.Contains(line.Text, "warning") {
						t.Fatalf("job %d miscounted the addresses: %s", j.ID, line.Text)
					}
				}
			}
			svc, _ := store.Load[store.Service](f.db, svcs[0].ID)
			if svc.Status != store.ServiceActive || len(svc.VM.IPv4) != 2 {
				t.Fatalf("service %+v, want active with a main and an additional address", svc)
			}
			mark := l.len()
			f.run(e, svc.ID, store.OpSetParam, map[string]string{ArgIPv4Count: "2"})
			ip := find(l.since(mark), "POST", "/ip")
			if len(ip) != 1 || ip[0].body["ipv4_number"] != float64(1) {
				t.Fatalf("ip requests %+v, want one adding 1 address", ip)
			}
			if h := f.host(svc.VM.HostID); len(h.MainIPv4) != 2 || len(h.IPv4) != 3 {
				t.Fatalf("VM after setparam: main %v, all %v; want 2 main of 3", h.MainIPv4, h.IPv4)
			}
		})
	}
}
