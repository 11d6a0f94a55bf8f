package cli

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// TestServiceOpenAfterAFailedOpen (issue 10 point 5): a service whose open failed can be opened again,
// as o on Services offers; a service whose open is still pending or that is active cannot.
func TestServiceOpenAfterAFailedOpen(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.sim.FailHost("svc-1")
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small")
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
	mustCLI(t, "--db", db, "service", "create", "--client", "client@example.com", "--tariff", "small")
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
	cli("service", "reinstall", "1", "--recipe-id", "7", "--yes")
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

// dbJobs reads the jobs straight from the closed database file, not through the command under test.
func dbJobs(t *testing.T, path string) []*store.Job {
	t.Helper()
	db, err := store.Open(path, store.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	jobs, err := store.All[store.Job](db)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// activeWorld is the engine's world with services 1 and 2 opened on module "vmm" (each with a VM).
func activeWorld(t *testing.T) *engineEnv {
	t.Helper()
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "ann@example.org", "--tariff", "small", "--count", "2")
	env.cli("engine", "--until-idle")
	return env
}

// TestDestructiveOpsAsk (issue 23 point 1): close and reinstall name what they destroy and for whom;
// with no terminal and no --yes they are refused (exit 2) and nothing is queued, as the database
// shows; --dry-run queues nothing either; --yes queues them.
func TestDestructiveOpsAsk(t *testing.T) {
	env := activeWorld(t)
	before := len(dbJobs(t, env.db))
	services := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json"))
	vm := services[0].VM.HostID
	want := fmt.Sprintf("close service 1 (VM %d on module 'vmm', client ann@example.org): the VM and its disks are deleted\n", vm)
	for _, c := range []struct {
		args     []string
		services int
	}{{[]string{"close", "1"}, 1}, {[]string{"reinstall", "1", "--os-id", "2"}, 1}, {[]string{"close", "1", "2"}, 2}} {
		out, errOut, code := runCLI(t, "", append([]string{"--db", env.db, "service"}, c.args...)...)
		if code != exitUsage {
			t.Errorf("service %v without --yes and no terminal: exit %d, want 2", c.args, code)
		}
		requireSentence(t, errOut, "run the same command with --yes")
		if strings.Count(out, ", client ann@example.org): ") != c.services || !strings.HasPrefix(out, c.args[0]+" service 1 (VM ") {
			t.Errorf("service %v did not name each service it would destroy:\n%s", c.args, out)
		}
	}
	if out, _, _ := runCLI(t, "", "--db", env.db, "service", "close", "1"); out != want {
		t.Errorf("close said\n%q\nwant\n%q", out, want)
	}
	out, _, _ := runCLI(t, "", "--db", env.db, "service", "reinstall", "2")
	if !strings.Contains(out, "reinstall service 2 (VM ") || !strings.Contains(out, "its disk is wiped") {
		t.Errorf("reinstall said %q", out)
	}

	dry := env.cli("service", "close", "1", "2", "--dry-run")
	if !strings.HasPrefix(dry, "would queue "+want) || !strings.HasSuffix(dry, "nothing was queued (--dry-run)\n") {
		t.Errorf("--dry-run said:\n%s", dry)
	}
	plans := decodeJSON[[]plannedOp](t, env.cli("service", "reinstall", "1", "--os-id", "5", "--dry-run", "--json"))
	if len(plans) != 1 || plans[0].ServiceID != 1 || plans[0].Type != store.OpReinstall || plans[0].VMID != vm ||
		plans[0].Module != "vmm" || plans[0].Client != "ann@example.org" || plans[0].Args[queue.ArgOSID] != "5" || plans[0].Destroys == "" {
		t.Errorf("--dry-run --json: %+v", plans)
	}
	refuseCLI(t, "service 9 does not exist", "--db", env.db, "service", "close", "1", "9", "--yes")
	if n := len(dbJobs(t, env.db)); n != before {
		t.Fatalf("%d jobs in the database after the refusals and dry runs, %d before", n, before)
	}

	out = env.cli("service", "close", "1", "--yes")
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "queued close of service 1 as job") {
		t.Errorf("close --yes said %q", out)
	}
	env.cli("service", "reinstall", "2", "-y")
	jobs := dbJobs(t, env.db)
	if len(jobs) != before+2 || jobs[before].Type != store.OpClose || jobs[before].ServiceID != 1 ||
		jobs[before+1].Type != store.OpReinstall || jobs[before+1].ServiceID != 2 {
		t.Fatalf("after --yes the database holds %d jobs (%d before); the new ones: %+v", len(jobs), before, jobs[before:])
	}
	// An operation that destroys nothing does not ask, and has no --yes.
	env.cli("service", "reboot", "1", "2")
	refuseCLI(t, "unknown flag: --yes", "--db", env.db, "service", "reboot", "1", "--yes")
}

// TestDestructiveOpAsksInATerminal: in a real terminal, close asks; an answer other than yes or the
// service id queues nothing, the id typed queues it.
func TestDestructiveOpAsksInATerminal(t *testing.T) {
	env := activeWorld(t)
	before := len(dbJobs(t, env.db))
	ask := func(answer string) *tui {
		u := runInPTY(t, 120, 30, vmmpmCmd("--db", env.db, "service", "close", "2"))
		u.expect("close service 2 (VM ", "client ann@example.org): the VM and its disks are deleted",
			`Type "yes" or "2" to go on, anything else stops [no]: `)
		u.typeText(answer + "\r")
		return u
	}
	u := ask("y")
	u.expect(`nothing was done: the answer was not "yes" or "2"`)
	if err := u.wait("the answer"); err == nil {
		t.Error("a refused close exited 0")
	}
	if n := len(dbJobs(t, env.db)); n != before {
		t.Fatalf("%d jobs after the refused close, %d before", n, before)
	}
	u = ask("2")
	u.expect("queued close of service 2 as job")
	if err := u.wait("the answer"); err != nil {
		t.Fatalf("the confirmed close: %v", err)
	}
	jobs := dbJobs(t, env.db)
	if len(jobs) != before+1 || jobs[before].Type != store.OpClose || jobs[before].ServiceID != 2 {
		t.Fatalf("after the confirmed close: %d jobs (%d before), new %+v", len(jobs), before, jobs[before:])
	}
}

// TestCreateNeedsAClient (issue 23 point 1): there is no default client; the command line and the
// backend refuse an order without one, with one sentence.
func TestCreateNeedsAClient(t *testing.T) {
	db := opWorld(t)
	refuseCLI(t, "give the client's email as --client EMAIL", "--db", db, "service", "create", "--tariff", "small")
	before := len(dbJobs(t, db))
	_, err := queueCreateWithoutClient(t, db)
	if err == nil || !strings.Contains(err.Error(), "client: is required: the client's email") {
		t.Errorf("the backend ordered a service without a client: %v", err)
	}
	if n := len(dbJobs(t, db)); n != before {
		t.Errorf("%d jobs after the refusal, %d before", n, before)
	}
}

func queueCreateWithoutClient(t *testing.T, path string) (*backend.Ordered, error) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := backend.NewLocal(db, store.NewMemorySecrets(), nil, version)
	l.OwnsDB = true
	defer l.Close()
	return l.CreateServices(context.Background(), "small", 1, "")
}
