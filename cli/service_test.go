package cli

import (
	"regexp"
	"strings"
	"testing"

	"vmmpm/queue"
	"vmmpm/store"
)

// TestServiceOpenAfterAFailedOpen (issue 10 point 5): a service whose open failed can be opened again,
// as o on Services offers; a service whose open is still pending or that is active cannot.
func TestServiceOpenAfterAFailedOpen(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.sim.FailHost("svc-1")
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "small")
	env.cli("engine", "--until-idle")
	if s := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json")); s[0].Status != store.ServiceFailed {
		t.Fatalf("after the failed open the service is %s, want failed", s[0].Status)
	}
	env.cli("service", "open", "1")
	queued := decodeJSON[[]store.Job](t, env.cli("jobs", "--state", "queued", "--json"))
	if len(queued) != 1 || queued[0].Type != store.OpOpen || queued[0].ServiceID != 1 {
		t.Fatalf("queued after service open: %+v", queued)
	}
	if _, errOut, code := runCLI(t, "", "--db", env.db, "service", "open", "1"); code == 0 || errOut == "" {
		t.Fatalf("a second open while one is pending: exit %d, %q", code, errOut)
	}
}

// opWorld is a database with one module and tariff "small" and service 1 ordered (its open queued), so
// further operations on it are accepted and wait behind the open.
func opWorld(t *testing.T) string {
	t.Helper()
	db := tempDB(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	mustCLI(t, "--db", db, "department", "add", "Support")
	saveRecords(t, db,
		&store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: "https://vmm.example.com",
			Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Enabled: true, Params: store.DefaultParams(),
			Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}},
		&store.Tariff{Name: "small", DataCenterID: 1, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1})
	mustCLI(t, "--db", db, "service", "create", "--tariff", "small")
	return db
}

// TestServiceOpFlagsFromTable: every operation is a subcommand with one flag per argument of queue's
// table, and its --help shows the table's help for each.
func TestServiceOpFlagsFromTable(t *testing.T) {
	for _, op := range queue.Operations() {
		out := mustCLI(t, "service", op.Name, "--help")
		if !strings.HasPrefix(out, op.Help) {
			t.Errorf("service %s --help does not start with the table's help %q:\n%s", op.Name, op.Help, out)
		}
		for _, arg := range op.Args {
			if arg.Flag == "" {
				if !strings.Contains(out, arg.Help) || !strings.Contains(out, "stdin") {
					t.Errorf("service %s --help does not say what %s is and that it comes from stdin:\n%s", op.Name, arg.Name, out)
				}
				continue
			}
			if !regexp.MustCompile(`(?m)^\s+--` + arg.Flag + ` uint\s+` + regexp.QuoteMeta(arg.Help) + `$`).MatchString(out) {
				t.Errorf("service %s --help lacks --%s with %q:\n%s", op.Name, arg.Flag, arg.Help, out)
			}
		}
	}
	// The flags README and scripts use, whatever the table says.
	out := mustCLI(t, "service", "setparam", "--help")
	for _, f := range []string{"--cpu", "--ram-mib", "--disk-mib", "--ipv4-count"} {
		if !strings.Contains(out, f+" uint") {
			t.Errorf("service setparam --help lacks %s:\n%s", f, out)
		}
	}
	out = mustCLI(t, "service", "reinstall", "--help")
	if !strings.Contains(out, "--os-id uint") || !strings.Contains(out, "--recipe-id uint") || strings.Contains(out, "--cpu") {
		t.Errorf("service reinstall --help:\n%s", out)
	}
}

// TestServiceOpArgs: flags reach the job as the table's arguments; a bad value or a flag of another
// operation is one sentence and exit 2, and nothing is queued.
func TestServiceOpArgs(t *testing.T) {
	db := opWorld(t)
	cli := func(args ...string) string { return mustCLI(t, append([]string{"--db", db}, args...)...) }
	cli("service", "setparam", "1", "--ipv4-count", "3", "--ram-mib", "512")
	cli("service", "reinstall", "1", "--recipe-id", "7")
	jobs := decodeJSON[[]store.Job](t, cli("jobs", "--json"))
	byType := map[string]store.Job{}
	for _, j := range jobs {
		byType[j.Type] = j
	}
	if a := byType[store.OpSetParam].Args; len(a) != 2 || a[queue.ArgIPv4Count] != "3" || a[queue.ArgRAMMiB] != "512" {
		t.Errorf("setparam args %v", a)
	}
	if a := byType[store.OpReinstall].Args; len(a) != 1 || a[queue.ArgRecipeID] != "7" {
		t.Errorf("reinstall args %v", a)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"setparam", "1", "--ram-mib", "lots"}, "ram_mib: must be a whole number between 1 and 4294967295"},
		// 0 is a value, not "not given".
		{[]string{"setparam", "1", "--cpu", "0"}, "cpu: must be a whole number between 1 and 4294967295"},
		{[]string{"setparam", "1", "--ipv4-count", "4294967296"}, "ipv4_count: must be a whole number between 1 and 4294967295"},
		{[]string{"setparam", "1"}, "setparam: give at least one of cpu, ram_mib, disk_mib, ipv4_count"},
		{[]string{"reinstall", "1", "--os-id", "-3"}, "os_id: must be a whole number"},
		{[]string{"reinstall", "1", "--cpu", "2"}, "unknown flag: --cpu"},
		{[]string{"reboot", "1", "--os-id", "2"}, "unknown flag: --os-id"},
	} {
		refuseCLI(t, c.want, append([]string{"--db", db, "service"}, c.args...)...)
	}
	if n := len(decodeJSON[[]store.Job](t, cli("jobs", "--json"))); n != len(jobs) {
		t.Fatalf("%d jobs after the refusals, %d before", n, len(jobs))
	}
}
