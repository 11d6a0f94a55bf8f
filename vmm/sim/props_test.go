package sim

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// The properties public sources send to each endpoint (vmmanager6-api.md §6 and §10): accepted, stored
// on the VM or its disk and listed back under their own names; a misspelling of each is still refused
// naming it.
var sourcedProps = map[string]map[string]any{
	"POST /vm/v3/host": {
		"cpu_weight": 200, "io_weight": 300, "net_weight": 400, "io_read_mbitps": 100, "io_write_iops": 5000,
		"tcp_connections_in": 1000, "process_number": 256, "cpu_custom_model": "EPYC", "expand_part": true,
		"ip_addr": "203.0.113.200", "firewall_rules": []any{map[string]any{"action": "allow"}}, "anti_spoofing": true,
		"net_in_mbitps": 50, "net_out_mbitps": 60, "cpu_mode": "host-model", "nesting": false,
	},
	"POST /vm/v3/host/{id}/resource": {
		"firewall_rules": []any{map[string]any{"action": "deny"}}, "cpu_custom_model": "Skylake", "cpu_weight": 250,
		"io_weight": 350, "io_read_mbitps": 120, "io_write_iops": 6000, "net_in_mbitps": 70, "net_out_mbitps": 80,
		"net_weight": 450, "anti_spoofing": false, "tcp_connections_in": 2000, "process_number": 512,
	},
	"POST /vm/v3/disk/{id}":    {"name": "root", "account": 1, "expand_part": false, "pool": 1},
	"POST /vm/v3/host/{id}/ip": {"ipv6_pool": []any{7}, "ip_addr": "203.0.113.201", "interfaces": []any{0}, "vxlan": []any{}},
}

func TestSourcedPropertiesAcceptedAndListed(t *testing.T) {
	e := newEnv(t, Config{})
	body := vm("svc-props")
	for k, v := range sourcedProps["POST /vm/v3/host"] {
		body[k] = v
	}
	res := e.ok("POST", "/vm/v3/host", body)
	id := num(res["id"])
	wantListed(t, "create", e.hostFull(id), sourcedProps["POST /vm/v3/host"])
	if own := e.ok("GET", "/vm/v3/host/1", nil); own["cpu_weight"] != float64(200) {
		t.Fatalf("GET /host/{id} does not list cpu_weight: %v", own)
	}

	res = e.ok("POST", "/vm/v3/host/1/resource", merge(map[string]any{"cpu_number": 2}, sourcedProps["POST /vm/v3/host/{id}/resource"]))
	if res["task"] == nil {
		t.Fatalf("resource change answered no task: %v", res)
	}
	wantListed(t, "resource", e.hostFull(id), sourcedProps["POST /vm/v3/host/{id}/resource"])
	// firewall_rules alone (WHMCS sends it to /resource, never to /host/{id}) is a change of its own.
	e.ok("POST", "/vm/v3/host/1/resource", map[string]any{"firewall_rules": []any{}})
	wantListed(t, "firewall only", e.hostFull(id), map[string]any{"firewall_rules": []any{}})

	e.ok("POST", "/vm/v3/disk/101", merge(map[string]any{"size_mib": 20480}, sourcedProps["POST /vm/v3/disk/{id}"]))
	disk, _ := e.hostFull(id)["disk"].(map[string]any)
	wantListed(t, "disk", disk, sourcedProps["POST /vm/v3/disk/{id}"])
	if num(disk["disk_mib"]) != 20480 {
		t.Fatalf("disk %v, want 20480 MiB", disk)
	}

	e.ok("POST", "/vm/v3/host/1/ip", merge(map[string]any{"ipv4_number": 1}, sourcedProps["POST /vm/v3/host/{id}/ip"]))
	h := e.hostFull(id)
	wantListed(t, "ip", h, sourcedProps["POST /vm/v3/host/{id}/ip"])
	if len(ips(h)) != 2 {
		t.Fatalf("ip4 %v, want 2 addresses", ips(h))
	}

	for endpoint, props := range sourcedProps {
		path := map[string]string{"POST /vm/v3/host": "/vm/v3/host", "POST /vm/v3/host/{id}/resource": "/vm/v3/host/1/resource",
			"POST /vm/v3/disk/{id}": "/vm/v3/disk/101", "POST /vm/v3/host/{id}/ip": "/vm/v3/host/1/ip"}[endpoint]
		for k, v := range props {
			typo := k + "s"
			b := map[string]any{typo: v}
			if endpoint == "POST /vm/v3/host" {
				b = vm("svc-typo", set(typo, v))
			}
			st, obj := e.admin("POST", path, b)
			wantError(t, endpoint+" "+typo, st, obj, http.StatusBadRequest, codeBadParam)
			if p := obj["error"].(map[string]any)["value"].(map[string]any)["param"]; p != typo {
				t.Fatalf("%s %s: refusal names %v", endpoint, typo, p)
			}
		}
	}
}

// ip_name in custom_interfaces (GO1, TF) asks for one literal address; it must lie in a pool on that
// interface and be free.
func TestFixedAddress(t *testing.T) {
	e := newEnv(t, Config{})
	fixed := func(name string, main bool, ip string) map[string]any {
		return vm(name, set("custom_interfaces", []any{map[string]any{"is_main_network": main, "ip_name": ip}}))
	}
	e.ok("POST", "/vm/v3/host", fixed("svc-a", true, "203.0.113.9"))
	if got := ips(e.hostFull(1)); !reflect.DeepEqual(got, []string{"203.0.113.9"}) {
		t.Fatalf("ip4 %v, want the fixed address", got)
	}
	e.ok("POST", "/vm/v3/host", vm("svc-b"))
	if got := ips(e.hostFull(2)); !reflect.DeepEqual(got, []string{"203.0.113.1"}) {
		t.Fatalf("next VM got %v, want the lowest free address", got)
	}
	for what, b := range map[string]map[string]any{
		"taken":               fixed("svc-c", true, "203.0.113.9"),
		"not in a pool":       fixed("svc-c", true, "192.0.2.5"),
		"additional for main": fixed("svc-c", true, "10.10.0.5"),
	} {
		st, obj := e.admin("POST", "/vm/v3/host", b)
		if st != http.StatusBadRequest {
			t.Fatalf("%s: %d %v", what, st, obj)
		}
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func wantListed(t *testing.T, what string, item, props map[string]any) {
	t.Helper()
	for k, v := range props {
		want, _ := json.Marshal(v)
		got, _ := json.Marshal(item[k])
		if string(got) != string(want) {
			t.Errorf("%s: %s listed as %s, want %s", what, k, got, want)
		}
	}
}
