package sim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func ips(h map[string]any) []string {
	var out []string
	for _, it := range h["ip4"].([]any) {
		out = append(out, it.(map[string]any)["ip"].(string))
	}
	return out
}

func TestHostCreateRunsThenActiveWithIPs(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: 10 * time.Second, Now: clk.Now})
	res := e.ok("POST", "/vm/v3/host", vm("svc-7",
		set("recipe_list", []any{map[string]any{"recipe": 1, "recipe_params": []any{}}}),
		set("custom_interfaces", []any{
			map[string]any{"is_main_network": true, "bridge": "vmbr0", "model": "virtio"},
			map[string]any{"is_main_network": false, "ippool": 2, "ip_count": 1},
		})))
	if num(res["id"]) != 1 || num(res["task"]) != 1001 || num(res["recipe_task"]) != 1002 {
		t.Fatalf("create answer %v: want id 1, task 1001, recipe_task 1002", res)
	}
	if l := res["recipe_task_list"].([]any); len(l) != 1 || num(l[0]) != 1002 {
		t.Fatalf("recipe_task_list %v", res["recipe_task_list"])
	}
	if _, ok := res["spice_task"]; !ok {
		t.Fatal("spice_task missing from the create answer")
	}
	if st := e.taskStatus(res["task"], "host_create"); st != "running" {
		t.Fatalf("host_create %q right after create, want running", st)
	}
	if st := e.taskStatus(res["task"], "host_start"); st != "" {
		t.Fatalf("the consul id matched under another task name: %q", st)
	}
	h := e.hostFull(1)
	if h["state"] != "creating" || len(ips(h)) != 0 {
		t.Fatalf("while creating: state %v, ip4 %v", h["state"], h["ip4"])
	}

	clk.Advance(10 * time.Second)
	if st := e.taskStatus(res["task"], "host_create"); st != "complete" {
		t.Fatalf("host_create %q after TaskTime, want complete", st)
	}
	if st := e.taskStatus(res["recipe_task"], "recipe_run"); st != "running" {
		t.Fatalf("recipe_run %q when host_create ends, want running", st)
	}
	h = e.hostFull(1)
	if h["state"] != "active" || !slices.Equal(ips(h), []string{"203.0.113.1", "10.10.0.1"}) {
		t.Fatalf("after create: state %v, ip4 %v", h["state"], ips(h))
	}
	if d := h["disk"].(map[string]any); num(d["id"]) != 101 || num(d["disk_mib"]) != 10240 {
		t.Fatalf("disk %v", d)
	}
	if num(h["os"].(map[string]any)["id"]) != 1 || num(h["cluster"].(map[string]any)["id"]) != 1 ||
		num(h["account"].(map[string]any)["id"]) != 1 || num(h["cpu_number"]) != 1 || num(h["ram_mib"]) != 1024 {
		t.Fatalf("linked fields wrong: %v", h)
	}
	clk.Advance(10 * time.Second)
	if st := e.taskStatus(res["recipe_task"], "recipe_run"); st != "complete" {
		t.Fatalf("recipe_run %q, want complete", st)
	}
	own := e.ok("GET", "/vm/v3/host/1", nil)
	if own["state"] != "active" || own["name"] != "svc-7" || own["ip4"] != nil || own["disk"] != nil {
		t.Fatalf("GET by id should carry own fields only: %v", own)
	}
	if l := e.list("/vm/v3/host?where=(name+EQ+'svc-7')"); len(l) != 1 {
		t.Fatalf("by name: %v", l)
	}
	if c := e.ok("GET", "/vm/v3/cluster/1", nil); num(c["host_count"]) != 1 ||
		num(c["cpu_number"].(map[string]any)["used"]) != 1 {
		t.Fatalf("cluster usage not counted: %v", c)
	}
}

// step runs a VM operation, checks its task runs then completes, and returns the answer.
func (e *env) step(clk *fakeClock, path string, body any, name string) map[string]any {
	e.t.Helper()
	res := e.ok("POST", path, body)
	if st := e.taskStatus(res["task"], name); st != "running" {
		e.t.Fatalf("%s: task %s is %q, want running", path, name, st)
	}
	clk.Advance(5 * time.Second)
	if st := e.taskStatus(res["task"], name); st != "complete" {
		e.t.Fatalf("%s: task %s is %q, want complete", path, name, st)
	}
	return res
}

func TestHostOperations(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: 5 * time.Second, Now: clk.Now})
	e.ok("POST", "/vm/v3/host", vm("svc-1"))
	clk.Advance(5 * time.Second)

	e.step(clk, "/vm/v3/host/1/stop", map[string]any{}, "host_stop")
	if s := e.hostFull(1)["state"]; s != "stopped" {
		t.Fatalf("after stop: %v", s)
	}
	e.step(clk, "/vm/v3/host/1/start", nil, "host_start")
	if s := e.hostFull(1)["state"]; s != "active" {
		t.Fatalf("after start: %v", s)
	}
	res := e.ok("POST", "/vm/v3/host/1/restart", map[string]any{})
	clk.Advance(5 * time.Second)
	if st := e.taskStatus(res["start_task"], "host_start"); st != "running" {
		t.Fatalf("start_task %q once the restart part ended, want running", st)
	}
	clk.Advance(5 * time.Second)
	if st := e.taskStatus(res["start_task"], "host_start"); st != "complete" {
		t.Fatalf("start_task %q, want complete", st)
	}
	e.step(clk, "/vm/v3/host/1/password", map[string]any{"password": "n3w-pass"}, "host_password")
	e.step(clk, "/vm/v3/host/1/reinstall", map[string]any{"os": 2, "password": "x-pass"}, "host_reinstall")
	e.step(clk, "/vm/v3/host/1/resource", map[string]any{"cpu_number": 2, "ram_mib": 2048}, "host_change_params")
	e.step(clk, "/vm/v3/disk/101", map[string]any{"size_mib": 20480}, "disk_resize")
	h := e.hostFull(1)
	if num(h["cpu_number"]) != 2 || num(h["ram_mib"]) != 2048 || num(h["disk"].(map[string]any)["disk_mib"]) != 20480 ||
		num(h["os"].(map[string]any)["id"]) != 2 {
		t.Fatalf("changes not applied: %v", h)
	}

	st, obj := e.admin("POST", "/vm/v3/disk/101", map[string]any{"size_mib": 10240})
	wantError(t, "disk shrink", st, obj, http.StatusBadRequest, codeShrink)
	st, obj = e.admin("POST", "/vm/v3/host/1/password", map[string]any{})
	wantError(t, "empty password", st, obj, http.StatusBadRequest, codeBadParam)
	st, obj = e.admin("POST", "/vm/v3/host/1/reinstall", map[string]any{"os": 3})
	wantError(t, "LXD image on KVM", st, obj, http.StatusBadRequest, codeUnknownRef)
}

func TestDeletedHostIs404Everywhere(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: time.Second, Now: clk.Now})
	e.ok("POST", "/vm/v3/host", vm("svc-del"))
	clk.Advance(time.Second)
	res := e.ok("DELETE", "/vm/v3/host/1", nil)
	if st := e.taskStatus(res["task"], "host_delete"); st != "running" {
		t.Fatalf("host_delete %q, want running", st)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/vm/v3/host/1"}, {"DELETE", "/vm/v3/host/1"}, {"POST", "/vm/v3/host/1/start"},
		{"POST", "/vm/v3/host/1/stop"}, {"POST", "/vm/v3/host/1/restart"}, {"POST", "/vm/v3/host/1/reinstall"},
		{"POST", "/vm/v3/host/1/password"}, {"POST", "/vm/v3/host/1/resource"}, {"POST", "/vm/v3/disk/101"},
	} {
		st, obj := e.admin(c.method, c.path, map[string]any{})
		wantError(t, c.method+" "+c.path, st, obj, http.StatusNotFound, codeNotFound)
	}
	if l := e.list("/vm/v3/host?where=(id+EQ+'1')"); len(l) != 0 {
		t.Fatalf("deleted VM still listed: %v", l)
	}
	clk.Advance(time.Second)
	if st := e.taskStatus(res["task"], "host_delete"); st != "complete" {
		t.Fatalf("host_delete %q, want complete", st)
	}
	// Its address and capacity are free again: the next VM gets the same IP.
	e.ok("POST", "/vm/v3/host", vm("svc-next"))
	clk.Advance(time.Second)
	if got := ips(e.hostFull(2)); !slices.Equal(got, []string{"203.0.113.1"}) {
		t.Fatalf("next VM got %v, want the freed 203.0.113.1", got)
	}
	if c := e.ok("GET", "/vm/v3/cluster/1", nil); num(c["host_count"]) != 1 {
		t.Fatalf("host_count %v, want 1", c["host_count"])
	}
}

func TestCapacityExceeded(t *testing.T) {
	e := newEnv(t, Config{})
	st, obj := e.admin("POST", "/vm/v3/host", vm("big", set("cpu_number", kvmCPU+1)))
	wantError(t, "cpu over total", st, obj, http.StatusBadRequest, codeNoCapacity)
	e.ok("POST", "/vm/v3/host", vm("half", set("cluster", 2), set("ram_mib", 200000)))
	st, obj = e.admin("POST", "/vm/v3/host", vm("rest", set("cluster", 2), set("ram_mib", 62145)))
	wantError(t, "ram over what is left", st, obj, http.StatusBadRequest, codeNoCapacity)
	e.ok("POST", "/vm/v3/host", vm("fits", set("cluster", 2), set("ram_mib", 62144)))
	st, obj = e.admin("POST", "/vm/v3/host/1/resource", map[string]any{"ram_mib": 200001})
	wantError(t, "grow over capacity", st, obj, http.StatusBadRequest, codeNoCapacity)
	st, obj = e.admin("POST", "/vm/v3/host", vm("ips", set("ipv4_number", DefaultIPv4PoolSize+1)))
	wantError(t, "more addresses than the pool", st, obj, http.StatusBadRequest, codeNoAddress)
	if got := e.sim.Stats().HostsCreated; len(got) != 2 || got["half"] != 1 || got["fits"] != 1 {
		t.Fatalf("refused creates must leave nothing: %v", got)
	}
}

func TestCreateRefusesUnknownReferences(t *testing.T) {
	e := newEnv(t, Config{})
	cases := []struct {
		what string
		body map[string]any
		code int
	}{
		{"unknown OS", vm("a", set("os", 99)), codeUnknownRef},
		{"unknown cluster", vm("a", set("cluster", 9)), codeUnknownRef},
		{"unknown account", vm("a", set("account", 42)), codeUnknownRef},
		{"unknown recipe", vm("a", set("recipe", 7)), codeUnknownRef},
		{"LXD image on KVM", vm("a", set("os", 3)), codeUnknownRef},
		{"image", vm("a", set("image", 1)), codeUnknownRef},
		{"preset", vm("a", set("preset", 1)), codeUnknownRef},
		{"unknown pool", vm("a", set("ipv4_pool", []any{9})), codeUnknownRef},
		{"no os", vm("a", set("os", 0)), codeBadParam},
		{"no name", vm(""), codeBadParam},
		{"no password", vm("a", set("password", "")), codeBadParam},
		{"no cpu", vm("a", set("cpu_number", 0)), codeBadParam},
		{"pool of another interface", vm("a", set("ipv4_pool", []any{2})), codeNoAddress},
	}
	for _, c := range cases {
		st, obj := e.admin("POST", "/vm/v3/host", c.body)
		wantError(t, c.what, st, obj, http.StatusBadRequest, c.code)
	}
	// Numbers as strings, as PHP clients send them, are accepted.
	e.ok("POST", "/vm/v3/host", vm("strings", set("cluster", "1"), set("os", "2"), set("cpu_number", "2")))
}

func TestSecondInterfaceNeedsAPoolOnInterfaceOne(t *testing.T) {
	e := newEnv(t, Config{})
	extra := []any{map[string]any{"is_main_network": false}}
	st, obj := e.admin("POST", "/vm/v3/host", vm("lxd-2nic", set("cluster", 2), set("os", 3), set("custom_interfaces", extra)))
	wantError(t, "LXD custom_interfaces", st, obj, http.StatusBadRequest, codeNoAddress)
	st, obj = e.admin("POST", "/vm/v3/host", vm("lxd-2nic", set("cluster", 2), set("interfaces", []any{map[string]any{"interface": 1}})))
	wantError(t, "LXD interfaces[1]", st, obj, http.StatusBadRequest, codeNoAddress)
	st, obj = e.admin("POST", "/vm/v3/host", vm("kvm-bad", set("custom_interfaces", []any{map[string]any{"is_main_network": false, "ippool": 1}})))
	wantError(t, "main pool as second NIC", st, obj, http.StatusBadRequest, codeNoAddress)
	e.ok("POST", "/vm/v3/host", vm("lxd-1nic", set("cluster", 2), set("os", 3)))
	e.ok("POST", "/vm/v3/host", vm("kvm-2nic", set("custom_interfaces", extra)))
	if got := e.sim.Stats().HostsCreated; len(got) != 2 {
		t.Fatalf("hosts created %v, want only the two valid ones", got)
	}
}

func TestFailHostEndsCreateInFail(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: time.Second, Now: clk.Now})
	e.sim.FailHost("svc-bad")
	res := e.ok("POST", "/vm/v3/host", vm("svc-bad", set("recipe", 2)))
	ok := e.ok("POST", "/vm/v3/host", vm("svc-good"))
	clk.Advance(2 * time.Second)
	if st := e.taskStatus(res["task"], "host_create"); st != "fail" {
		t.Fatalf("host_create %q, want fail", st)
	}
	if st := e.taskStatus(res["recipe_task"], "recipe_run"); st != "fail" {
		t.Fatalf("recipe after failed create %q, want fail", st)
	}
	task := e.list("/vm/v3/task?where=(consul_id+EQ+" + itoa(res["task"]) + ")")[0]
	if task["output"] == nil || task["output"] == "" {
		t.Fatalf("failed task carries no reason: %v", task)
	}
	if h := e.hostFull(res["id"]); h["state"] != "failed" || len(ips(h)) != 0 {
		t.Fatalf("failed VM: %v", h)
	}
	if st := e.taskStatus(ok["task"], "host_create"); st != "complete" {
		t.Fatalf("other VM %q, want complete", st)
	}
	if got := e.sim.Stats().Tasks; got["fail"] != 2 || got["complete"] != 1 {
		t.Fatalf("task stats %v", got)
	}
}

func TestZeroTaskTimeCompletesAtNextPoll(t *testing.T) {
	e := newEnv(t, Config{})
	res := e.ok("POST", "/vm/v3/host", vm("fast"))
	if st := e.taskStatus(res["task"], "host_create"); st != "complete" {
		t.Fatalf("host_create %q, want complete", st)
	}
	if h := e.hostFull(res["id"]); h["state"] != "active" || len(ips(h)) != 1 {
		t.Fatalf("VM %v", h)
	}
}

// ISPsystem's module lowers CPU and RAM too; with defer on an active VM the change waits for the next
// stop or restart and the VM reads back its old sizes until then.
func TestDeferredDecreaseAppliesAtRestart(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: time.Second, Now: clk.Now})
	e.ok("POST", "/vm/v3/host", vm("svc-down", set("cpu_number", 4), set("ram_mib", 4096)))
	clk.Advance(time.Second)
	used := func() int { return num(e.ok("GET", "/vm/v3/cluster/1", nil)["cpu_number"].(map[string]any)["used"]) }
	onStop := map[string]any{"action": "host_stop"}
	e.step(clk, "/vm/v3/host/1/resource", map[string]any{"cpu_number": 2, "ram_mib": 2048, "defer": onStop}, "host_change_params")
	e.step(clk, "/vm/v3/disk/101", map[string]any{"size_mib": 20480, "defer": onStop}, "disk_resize")
	h := e.hostFull(1)
	if num(h["cpu_number"]) != 4 || num(h["ram_mib"]) != 4096 || num(h["disk"].(map[string]any)["disk_mib"]) != 10240 || used() != 4 {
		t.Fatalf("deferred change applied before the stop: %v", h)
	}
	res := e.ok("POST", "/vm/v3/host/1/restart", map[string]any{})
	clk.Advance(2 * time.Second)
	if st := e.taskStatus(res["start_task"], "host_start"); st != "complete" {
		t.Fatalf("start_task %q", st)
	}
	h = e.hostFull(1)
	if num(h["cpu_number"]) != 2 || num(h["ram_mib"]) != 2048 || num(h["disk"].(map[string]any)["disk_mib"]) != 20480 ||
		h["state"] != "active" || used() != 2 {
		t.Fatalf("after restart: %v (cluster cpu used %d)", h, used())
	}
	e.step(clk, "/vm/v3/host/1/resource", map[string]any{"cpu_number": 1}, "host_change_params")
	if got := num(e.hostFull(1)["cpu_number"]); got != 1 {
		t.Fatalf("undeferred decrease: cpu %d, want 1 at once", got)
	}
	st, obj := e.admin("POST", "/vm/v3/host/1/resource", map[string]any{"cpu_number": 2, "defer": map[string]any{"action": "reboot"}})
	wantError(t, "unknown defer action", st, obj, http.StatusBadRequest, codeBadParam)
}

func TestHostIPChange(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: time.Second, Now: clk.Now, IPv4PoolSize: 300})
	e.ok("POST", "/vm/v3/host", vm("svc-ip"))
	clk.Advance(time.Second)
	e.step(clk, "/vm/v3/host/1/ip", map[string]any{"ipv4_number": 2, "ipv4_pool": []int{1}}, "ip_change")
	if got := ips(e.hostFull(1)); !slices.Equal(got, []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}) {
		t.Fatalf("after +2: %v", got)
	}
	e.step(clk, "/vm/v3/host/1/ip", map[string]any{"ipv4_number": -1}, "ip_change")
	if got := ips(e.hostFull(1)); !slices.Equal(got, []string{"203.0.113.1", "203.0.113.2"}) {
		t.Fatalf("after -1: %v", got)
	}
	st, obj := e.admin("POST", "/vm/v3/host/1/ip", map[string]any{"ipv4_number": 1, "ipv4_pool": []int{2}})
	wantError(t, "pool of another interface", st, obj, http.StatusBadRequest, codeNoAddress)
	st, obj = e.admin("POST", "/vm/v3/host/1/ip", map[string]any{"ipv4_number": 299})
	wantError(t, "more than the pool holds", st, obj, http.StatusBadRequest, codeNoAddress)
	// Past the first /24 the pool skips .255 and .0.
	e.step(clk, "/vm/v3/host/1/ip", map[string]any{"ipv4_number": 298}, "ip_change")
	got := ips(e.hostFull(1))
	if len(got) != 300 || got[253] != "203.0.113.254" || got[254] != "203.0.114.1" {
		t.Fatalf("addresses around the /24 boundary: %v", got[250:258])
	}
}

func TestUnknownPropertyRefused(t *testing.T) {
	e := newEnv(t, Config{})
	st, obj := e.admin("POST", "/vm/v3/host", vm("svc-typo", set("ram_mb", 1024)))
	wantError(t, "typo in create", st, obj, http.StatusBadRequest, codeBadParam)
	if msg := obj["error"].(map[string]any)["msg"].(string); !strings.Contains(msg, `"ram_mb"`) {
		t.Fatalf("message %q does not name the property", msg)
	}
	if v := obj["error"].(map[string]any)["value"].(map[string]any)["param"]; v != "ram_mb" {
		t.Fatalf("error value param %v, want ram_mb", v)
	}
	nested := vm("svc-nested", set("custom_interfaces", []any{map[string]any{"is_main_network": true, "ip_cnt": 1}}))
	st, obj = e.admin("POST", "/vm/v3/host", nested)
	wantError(t, "typo inside custom_interfaces", st, obj, http.StatusBadRequest, codeBadParam)
	if got := e.sim.Stats().HostsCreated; len(got) != 0 {
		t.Fatalf("refused requests created VMs: %v", got)
	}
	e.ok("POST", "/vm/v3/host", vm("svc-ok", set("send_email_mode", "default"), set("ipv6_enabled", false)))
	st, obj = e.admin("POST", "/vm/v3/host/1/stop", map[string]any{"forse": true})
	wantError(t, "typo in stop", st, obj, http.StatusBadRequest, codeBadParam)
}

func TestQuirks(t *testing.T) {
	clk := newClock()
	qf, err := ParseQuirk("field:virtualization_type=virt")
	if err != nil {
		t.Fatal(err)
	}
	qt, _ := ParseQuirk("task:host_create=vm_create")
	e := newEnv(t, Config{TaskTime: time.Second, Now: clk.Now, Quirks: []Quirk{qf, qt}})
	cl := e.list("/vm/v3/cluster")[0]
	if _, ok := cl["virtualization_type"]; ok || cl["virt"] != "kvm" {
		t.Fatalf("field quirk not applied: %v", cl)
	}
	res := e.ok("POST", "/vm/v3/host", vm("svc-q"))
	if l := e.list("/vm/v3/task?where=(consul_id+EQ+'" + itoa(res["task"]) + "')"); len(l) != 1 || l[0]["name"] != "vm_create" {
		t.Fatalf("task quirk not applied: %v", l)
	}
	for _, bad := range []string{"field:a", "name:a=b", "task:=b", "", "interface:number", "interface:"} {
		if _, err := ParseQuirk(bad); err == nil {
			t.Fatalf("ParseQuirk(%q) accepted", bad)
		}
	}
}

// interface:string and interface:name answer ip4[].interface as GO1 types it (a string); the cluster list
// keeps its interface indexes.
func TestInterfaceQuirk(t *testing.T) {
	for quirk, want := range map[string][2]any{"interface:string": {"0", "1"}, "interface:name": {"vmbr0", "vmbr1"}} {
		q, err := ParseQuirk(quirk)
		if err != nil || q.String() != quirk {
			t.Fatalf("ParseQuirk(%q) = %v, %v", quirk, q, err)
		}
		e := newEnv(t, Config{Quirks: []Quirk{q}})
		extra := []any{map[string]any{"is_main_network": true, "ippool": 1, "ip_count": 1}, map[string]any{"is_main_network": false, "ippool": 2}}
		e.ok("POST", "/vm/v3/host", vm("svc-if", set("custom_interfaces", extra)))
		e.list("/vm/v3/host") // settles the create task
		ip4, _ := e.list("/vm/v3/host")[0]["ip4"].([]any)
		if len(ip4) != 2 || ip4[0].(map[string]any)["interface"] != want[0] || ip4[1].(map[string]any)["interface"] != want[1] {
			t.Fatalf("%s: ip4 %v, want interfaces %v", quirk, ip4, want)
		}
		ifaces, _ := e.list("/vm/v3/cluster")[0]["interfaces"].([]any)
		if v := ifaces[0].(map[string]any)["interface"]; v != float64(0) {
			t.Fatalf("%s: cluster interface %v, want the number 0", quirk, v)
		}
	}
}
