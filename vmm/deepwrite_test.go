package vmm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// fastWrite is a WriteSpec for the emulator: short polls and timeouts.
func fastWrite(cluster uint64, additional bool) vmm.WriteSpec {
	return vmm.WriteSpec{Cluster: cluster, AdditionalInterface: additional, Poll: 5 * time.Millisecond,
		TaskTimeout: 5 * time.Second, CleanupTimeout: 5 * time.Second}
}

func quirked(t *testing.T, quirks ...string) sim.Config {
	t.Helper()
	cfg := sim.Config{TaskTime: 20 * time.Millisecond}
	for _, q := range quirks {
		qq, err := sim.ParseQuirk(q)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Quirks = append(cfg.Quirks, qq)
	}
	return cfg
}

// TestDeepCheckEmptyEmulatorInconclusive: on a fresh VMmanager (no VM, no task) the probes that have
// nothing to compare say so, with what to create, and the summary counts them; none of them is "ok".
func TestDeepCheckEmptyEmulatorInconclusive(t *testing.T) {
	_, srv := startSim(t, sim.Config{})
	rep, err := vmm.DeepCheck(ctxT(t), newClient(t, srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"host list with ip4/ip6", "host by id and by name", "host list whole per cluster", "task list", "task names", "task by consul id"}
	if got := rep.Inconclusive(); !slices.Equal(got, want) {
		t.Fatalf("inconclusive %v, want %v", got, want)
	}
	if !rep.OK || len(rep.Differs()) != 0 || rep.Counts.Inconclusive != 6 || rep.Counts.OK != len(rep.Probes)-6 {
		t.Fatalf("report %+v", rep)
	}
	for _, p := range rep.Probes {
		if p.Result == vmm.ResultInconclusive && (p.OK || !strings.Contains(p.Create, "create a VM")) {
			t.Errorf("inconclusive probe %s: ok %v, create %q", p.Name, p.OK, p.Create)
		}
	}
	if s := rep.Summary(); !strings.Contains(s, "6 inconclusive") || !strings.Contains(s, "task names") || !strings.Contains(s, "--write") {
		t.Fatalf("summary %q", s)
	}
}

// TestDeepCheckWritePasses: --write against the emulator creates a VM on the module's cluster, runs every
// operation the engine uses, passes, turns the read probes an empty VMmanager leaves inconclusive into
// ok, records masked answers (no password, email or address), and leaves no VM behind.
func TestDeepCheckWritePasses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cluster    uint64
		additional bool
		quirk      string
		mode       func(*sim.Config)
	}{
		{"kvm with an additional interface", 1, true, "", nil},
		{"lxd", 2, false, "", nil},
		{"interface as digits", 1, true, "interface:string", nil},
		{"interface as names", 1, true, "interface:name", nil},
		{"deferred tasks pending until the restart, one task per VM", 1, true, "", func(c *sim.Config) { c.DeferPending, c.OneTaskPerVM = true, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var quirks []string
			if tc.quirk != "" {
				quirks = append(quirks, tc.quirk)
			}
			cfg := quirked(t, quirks...)
			if tc.mode != nil {
				tc.mode(&cfg)
			}
			s, srv := startSim(t, cfg)
			rep, err := vmm.DeepCheckWrite(ctxT(t), newClient(t, srv.URL, nil), fastWrite(tc.cluster, tc.additional))
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || rep.Counts.Mismatch != 0 || rep.Counts.Inconclusive != 0 {
				for _, p := range rep.Probes {
					if p.Result != vmm.ResultOK {
						t.Errorf("%s: %s: %s", p.Name, p.Result, p.Seen)
					}
				}
				t.FailNow()
			}
			for _, p := range rep.Probes {
				if p.Name == "write: create" && !strings.Contains(p.Seen, "the comment sent on create is kept") {
					t.Errorf("write: create does not say the comment was kept: %s", p.Seen)
				}
			}
			names := probeNames(rep)
			for _, want := range []string{"write: create", "write: deferred change and restart", "write: password", "write: reboot", "write: nothing left behind"} {
				if !slices.Contains(names, want) {
					t.Fatalf("probes %v lack %s", names, want)
				}
			}
			if st := s.Stats(); st.LiveHosts != 0 || len(st.HostsCreated) != 1 {
				t.Fatalf("after --write: %d live VMs, created %v", st.LiveHosts, st.HostsCreated)
			}
			dir := filepath.Join(t.TempDir(), "rec")
			if err := vmm.WriteRecord(dir, rep.Answers); err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				all.Write(b)
			}
			for _, leak := range []string{adminPass, adminEmail, "203.0.113.", "10.10.0.", "198.51.100.", "Vd-"} {
				if strings.Contains(all.String(), leak) {
					t.Fatalf("the recording holds %q", leak)
				}
			}
			for _, want := range []string{`"path": "/vm/v3/host/`, `"start_task"`, `"method": "DELETE"`, "write-deferred-change-and-restart"} {
				if !strings.Contains(all.String()+strings.Join(files, " "), want) {
					t.Fatalf("the recording lacks %s", want)
				}
			}
		})
	}
}

// TestDeepCheckWriteQuirks: --write against each of the emulator's departures fails naming the field
// (or task name) that differs, and leaves no VM behind.
func TestDeepCheckWriteQuirks(t *testing.T) {
	for quirk, want := range map[string][2]string{
		"field:task=task_id":           {"write: create", "has no task"},
		"field:start_task=restart_job": {"write: deferred change and restart", "has no start_task"},
		"field:disk_mib=size":          {"write: create", "disk has no disk_mib"},
		"field:ip4=ipv4":               {"write: create", "has no ip4"},
		"field:state=status":           {"write: create", "has no state"},
		"field:consul_id=consul":       {"write: create", "has no consul_id"},
		"task:host_create=vm_create":   {"write: create", "named vm_create, where the sources show host_create"},
		"task:host_stop=vm_stop":       {"write: stop", "named vm_stop, where the sources show host_stop"},
		"task:disk_resize=disk_change": {"write: deferred change and restart", "named disk_change, where the sources show disk_resize"},
		"field:id=vm_id":               {"clusters", "has no id"},
		"field:roles=groups":           {"account by email", "listed without roles, so vmmpm cannot tell it holds @admin"},
	} {
		t.Run(quirk, func(t *testing.T) {
			s, srv := startSim(t, quirked(t, quirk))
			rep, err := vmm.DeepCheckWrite(ctxT(t), newClient(t, srv.URL, nil), fastWrite(1, true))
			if err != nil {
				t.Fatalf("the check could not run: %v", err)
			}
			i := slices.IndexFunc(rep.Probes, func(p vmm.Probe) bool { return p.Name == want[0] })
			if rep.OK || i < 0 || rep.Probes[i].Result != vmm.ResultMismatch || !strings.Contains(rep.Probes[i].Seen, want[1]) {
				t.Fatalf("want %s to be a mismatch naming %q; probes:\n%s", want[0], want[1], probeTable(rep))
			}
			if st := s.Stats(); st.LiveHosts != 0 {
				t.Fatalf("a VM was left behind: %d live, created %v\n%s", st.LiveHosts, st.HostsCreated, probeTable(rep))
			}
			last := rep.Probes[len(rep.Probes)-1]
			if last.Name != "write: nothing left behind" || (last.Result == vmm.ResultMismatch) {
				t.Fatalf("last probe %+v", last)
			}
		})
	}
}

// A deferred task VMmanager keeps pending until the VM restarts is awaited only after the restart.
func TestDeepCheckWriteDeferredOrder(t *testing.T) {
	_, srv := startSim(t, sim.Config{TaskTime: 20 * time.Millisecond})
	rep, err := vmm.DeepCheckWrite(ctxT(t), newClient(t, srv.URL, nil), fastWrite(1, false))
	if err != nil || !rep.OK {
		t.Fatalf("%v\n%s", err, probeTable(rep))
	}
	var order []string
	for _, a := range rep.Answers {
		if a.Probe == "write: deferred change and restart" && a.Method == "POST" {
			order = append(order, a.Path[strings.LastIndex(a.Path, "/"):])
		}
	}
	if !slices.Equal(order, []string{"/resource", "/101", "/ip", "/restart"}) && !slices.Equal(order, []string{"/resource", "/102", "/ip", "/restart"}) {
		t.Fatalf("posts in the deferred step: %v, want resource, disk, ip, then restart", order)
	}
}

func probeTable(rep vmm.Report) string {
	var b strings.Builder
	for _, p := range rep.Probes {
		b.WriteString(p.Name + " | " + p.Result + " | " + p.Seen + "\n")
	}
	return b.String()
}

// Interrupted after the VM exists (here at its stop), the check still removes it and says so.
func TestDeepCheckWriteCancelledRemovesVM(t *testing.T) {
	s, _ := startSim(t, sim.Config{TaskTime: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stop") {
			cancel()
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rep, err := vmm.DeepCheckWrite(ctx, newClient(t, srv.URL, nil), fastWrite(1, false))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want cancelled", err)
	}
	last := rep.Probes[len(rep.Probes)-1]
	if last.Name != "write: nothing left behind" || last.Result != vmm.ResultOK || s.Stats().LiveHosts != 0 {
		t.Fatalf("after cancelling: %d live VMs\n%s", s.Stats().LiveHosts, probeTable(rep))
	}
	if !strings.Contains(probeTable(rep), "not run: the check was cancelled") || strings.Contains(probeTable(rep), "| mismatch |") {
		t.Fatalf("the steps after the cancel do not say so:\n%s", probeTable(rep))
	}
}
