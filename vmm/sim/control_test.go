package sim

import (
	"net/http"
	"strings"
	"testing"
)

// TestSeedVMs: --seed-vms makes VMs under client accounts, listed by the API like any other VM and
// counted on the cluster; none is named like a vmmpm service.
func TestSeedVMs(t *testing.T) {
	e := newEnv(t, Config{SeedVMs: 30})
	hosts := e.list("/vm/v3/host?where=(cluster.id+EQ+'1')")
	if len(hosts) != 30 {
		t.Fatalf("%d hosts listed, want 30", len(hosts))
	}
	owners := map[int]bool{}
	stopped := 0
	for _, h := range hosts {
		if strings.HasPrefix(h["name"].(string), "svc-") {
			t.Fatalf("seeded VM named like a service: %v", h["name"])
		}
		owners[num(h["account"].(map[string]any)["id"])] = true
		if h["state"] == "stopped" {
			stopped++
		}
		if ips := h["ip4"].([]any); len(ips) != 1 {
			t.Fatalf("VM %v has %d addresses", h["id"], len(ips))
		}
	}
	if len(owners) != len(seedClients) || owners[1] {
		t.Fatalf("owners %v: want the %d client accounts, not the admin", owners, len(seedClients))
	}
	if stopped != 3 {
		t.Fatalf("%d stopped, want every tenth (3)", stopped)
	}
	cl := e.ok("GET", "/vm/v3/cluster/1", nil)
	if num(cl["host_count"]) != 30 {
		t.Fatalf("host_count %v, want 30", cl["host_count"])
	}
	// More seeding goes on numbering the names.
	_, obj := e.call("POST", "/sim/seed-vms", "", map[string]any{"count": 2})
	if num(obj["last_id"])-num(obj["first_id"]) != 1 {
		t.Fatalf("seed answer %v", obj)
	}
	if got := e.sim.VMsNamed(SeedVMName(32)); len(got) != 1 {
		t.Fatalf("VMs named %s: %v", SeedVMName(32), got)
	}
	if st := e.sim.Stats(); st.Requests["POST /sim/seed-vms"] != 0 {
		t.Fatalf("control calls counted as API requests: %v", st.Requests)
	}
}

// TestControlCalls: each /sim/vm call changes the VM at once, as the API then shows it, without a token.
func TestControlCalls(t *testing.T) {
	e := newEnv(t, Config{SeedVMs: 3})
	ctl := func(path string, body any) (int, map[string]any) {
		t.Helper()
		return e.call("POST", path, "", body)
	}
	if st, obj := ctl("/sim/vm/1/stop", nil); st != http.StatusOK || obj["state"] != "stopped" {
		t.Fatalf("stop: %d %v", st, obj)
	}
	if e.hostFull(1)["state"] != "stopped" {
		t.Fatal("the API does not show the stop")
	}
	if st, obj := ctl("/sim/vm/1/start", nil); st != http.StatusOK || obj["state"] != "active" {
		t.Fatalf("start: %d %v", st, obj)
	}
	st, obj := ctl("/sim/vm/2/resize", map[string]any{"cpu_number": 8, "ram_mib": 8192, "disk_mib": 81920, "ipv4_number": 3})
	if st != http.StatusOK {
		t.Fatalf("resize: %d %v", st, obj)
	}
	h := e.hostFull(2)
	if num(h["cpu_number"]) != 8 || num(h["ram_mib"]) != 8192 || num(h["disk"].(map[string]any)["disk_mib"]) != 81920 || len(h["ip4"].([]any)) != 3 {
		t.Fatalf("after resize: %v", h)
	}
	if st, _ := ctl("/sim/vm/2/resize", map[string]any{"ipv4_number": 1}); st != http.StatusOK || len(e.hostFull(2)["ip4"].([]any)) != 1 {
		t.Fatalf("shrinking the addresses: %d %v", st, e.hostFull(2)["ip4"])
	}
	if st, obj := ctl("/sim/vm/2/owner", map[string]any{"account": 1}); st != http.StatusOK || num(obj["account"].(map[string]any)["id"]) != 1 {
		t.Fatalf("owner: %d %v", st, obj)
	}
	st, obj = ctl("/sim/vm/3/duplicate", nil)
	if st != http.StatusOK || num(obj["id"]) != 4 || obj["name"] != SeedVMName(3) {
		t.Fatalf("duplicate: %d %v", st, obj)
	}
	if got := e.list("/vm/v3/host?where=(name+EQ+'" + SeedVMName(3) + "')"); len(got) != 2 {
		t.Fatalf("%d VMs named %s after the duplicate", len(got), SeedVMName(3))
	}
	if st, _ := ctl("/sim/vm/3/delete", nil); st != http.StatusOK {
		t.Fatalf("delete: %d", st)
	}
	if got := e.list("/vm/v3/host?where=(id+EQ+'3')"); len(got) != 0 {
		t.Fatalf("deleted VM still listed: %v", got)
	}
	if num(e.ok("GET", "/vm/v3/cluster/1", nil)["host_count"]) != 3 {
		t.Fatal("host_count not kept with the changes")
	}
	// Refusals name what is wrong.
	st, obj = ctl("/sim/vm/3/stop", nil)
	wantError(t, "stop a deleted VM", st, obj, http.StatusNotFound, codeNotFound)
	st, obj = ctl("/sim/vm/1/resize", map[string]any{"cpu": 2})
	wantError(t, "unknown property", st, obj, http.StatusBadRequest, codeBadParam)
	st, obj = ctl("/sim/vm/1/explode", nil)
	wantError(t, "unknown action", st, obj, http.StatusNotFound, codeNoRoute)
	st, obj = e.call("GET", "/sim/vm/1/stop", "", nil)
	wantError(t, "GET on a control call", st, obj, http.StatusMethodNotAllowed, codeBadMethod)
	if n := e.sim.Stats().Requests; n["POST /sim/vm/{id}/stop"] != 0 || n["POST (unknown)"] != 0 {
		t.Fatalf("control calls counted: %v", n)
	}
}

// TestListLimit: the paging knob cuts list answers, and only lists.
func TestListLimit(t *testing.T) {
	e := newEnv(t, Config{SeedVMs: 12, ListLimit: 5})
	if got := e.list("/vm/v3/host"); len(got) != 5 {
		t.Fatalf("%d hosts with ListLimit 5", len(got))
	}
	if got := e.list("/vm/v3/host?where=((id+EQ+'11')+OR+(id+EQ+'12'))"); len(got) != 2 {
		t.Fatalf("%d hosts for a two-id filter", len(got))
	}
	if cl := e.ok("GET", "/vm/v3/cluster/1", nil); num(cl["host_count"]) != 12 {
		t.Fatalf("host_count %v", cl["host_count"])
	}
}
