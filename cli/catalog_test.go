package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"vmmpm/store"
)

func TestCatalogFlow(t *testing.T) {
	db := tempDB(t)
	if out := mustCLI(t, "--db", db, "datacenter", "add", "DC One"); out != "added data center \"DC One\" with id 1\n" {
		t.Errorf("add output %q", out)
	}
	mustCLI(t, "--db", db, "datacenter", "add", "DC Ext", "--external-id", "17")
	mustCLI(t, "--db", db, "department", "add", "Support")

	var dcs []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "--db", db, "datacenter", "list", "--json")), &dcs); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"id": 1.0, "name": "DC One", "external_id": ""},
		{"id": 2.0, "name": "DC Ext", "external_id": "17"},
	}
	if !reflect.DeepEqual(dcs, want) {
		t.Fatalf("datacenter list --json = %v, want %v", dcs, want)
	}
	var deps []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "--db", db, "department", "list", "--json")), &deps); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(deps, []map[string]any{{"id": 1.0, "name": "Support"}}) {
		t.Fatalf("department list --json = %v", deps)
	}
	table := mustCLI(t, "--db", db, "datacenter", "list")
	for _, row := range []string{"ID  NAME    EXTERNAL ID", "1   DC One  -", "2   DC Ext  17"} {
		if !strings.Contains(table, row+"\n") {
			t.Errorf("table lacks %q:\n%s", row, table)
		}
	}
	fi, err := os.Stat(db)
	if err != nil || fi.Mode() != 0o600 {
		t.Fatalf("database file mode %v (%v), want 0600", fi.Mode(), err)
	}
}

func TestEmptyNameIsUsageError(t *testing.T) {
	db := tempDB(t)
	for _, args := range [][]string{
		{"datacenter", "add", ""},
		{"datacenter", "add", "  "},
		{"department", "add", ""},
	} {
		_, stderr, code := runCLI(t, "", append([]string{"--db", db}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		requireSentence(t, stderr, "name must not be empty")
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("invalid input created the database file: %v", err)
	}
}

func TestBlankExternalIDIsUsageError(t *testing.T) {
	_, stderr, code := runCLI(t, "", "--db", tempDB(t), "datacenter", "add", "DC", "--external-id", " ")
	if code != exitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	requireSentence(t, stderr, "data center --external-id must not be blank")
}

func TestDuplicateNamesRefused(t *testing.T) {
	db := tempDB(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	mustCLI(t, "--db", db, "department", "add", "Support")
	for args, want := range map[string]string{
		"datacenter add dc one ":   `data center name must be unique: a data center named "DC One" already exists (id 1); choose another name`,
		"department add SUPPORT\t": `department name must be unique: a department named "Support" already exists (id 1); choose another name`,
	} {
		f := strings.SplitN(args, " ", 3)
		_, stderr, code := runCLI(t, "", "--db", db, f[0], f[1], f[2])
		if code != exitUsage {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		requireSentence(t, stderr, want)
	}
	var dcs []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "--db", db, "datacenter", "list", "--json")), &dcs); err != nil || len(dcs) != 1 {
		t.Fatalf("after a refused duplicate: %v (%v)", dcs, err)
	}
	mustCLI(t, "--db", db, "datacenter", "add", "DC One B")
}

func TestUsageErrorsExit2(t *testing.T) {
	db := tempDB(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"datacenter", "add", "--bogus", "x"}, "unknown flag: --bogus"},
		{[]string{"--nope"}, "unknown flag: --nope"},
		{[]string{"datacenter", "list", "--json=maybe"}, "invalid argument"},
		{[]string{"datacenter", "add"}, `expected a data center NAME, got 0 arguments; see "vmmpm datacenter add --help"`},
		{[]string{"datacenter", "add", "a", "b"}, "expected a data center NAME, got 2 arguments"},
		{[]string{"department", "list", "extra"}, `expected no arguments, got 1 argument; see "vmmpm department list --help"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "vmmpm"; run "vmmpm --help"`},
		{[]string{"datacentr"}, `(did you mean "datacenter"?)`},
		{[]string{"datacenter", "remove", "x"}, `unknown command "remove" for "vmmpm datacenter"; run "vmmpm datacenter --help"`},
		{[]string{"department", "lst"}, `unknown command "lst" for "vmmpm department" (did you mean "list"?)`},
		{[]string{"service", "frobnicate", "1"}, `unknown command "frobnicate" for "vmmpm service"`},
		{[]string{"module", "lsit"}, `(did you mean "list" or "set"?)`},
		{[]string{"tariff", "remove", "1"}, `unknown command "remove" for "vmmpm tariff"`},
	} {
		out, stderr, code := runCLI(t, "", append([]string{"--db", db}, c.args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr)
		}
		if out != "" {
			t.Errorf("%v: printed %q on stdout", c.args, out)
		}
		requireSentence(t, stderr, c.want)
	}
}

func TestGroupWithoutSubcommandShowsHelp(t *testing.T) {
	out, _, code := runCLI(t, "", "--db", tempDB(t), "department")
	if code != 0 || !strings.Contains(out, "add") || !strings.Contains(out, "list") {
		t.Fatalf("bare group: exit %d, out %q", code, out)
	}
}

func TestEmptyListsAndEnvDB(t *testing.T) {
	db := filepath.Join(t.TempDir(), "env", "vmmpm.db")
	t.Setenv("VMMPM_DB", db)
	// Reading a database that is not there says so and creates nothing: a mistyped path is not data loss.
	_, stderr, code := runCLI(t, "", "datacenter", "list", "--json")
	if code != exitUsage {
		t.Errorf("list of a missing database: exit %d, want 2", code)
	}
	requireSentence(t, stderr, "does not exist, and nothing was created; check --db or VMMPM_DB")
	if _, err := os.Stat(filepath.Dir(db)); !os.IsNotExist(err) {
		t.Fatalf("listing created %s: %v", filepath.Dir(db), err)
	}
	mustCLI(t, "department", "add", "Ops")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("VMMPM_DB was not used: %v", err)
	}
	if out := mustCLI(t, "datacenter", "list", "--json"); out != "[]\n" {
		t.Errorf("empty list --json = %q, want []", out)
	}
}

func TestDamagedDatabaseIsOneSentence(t *testing.T) {
	db := tempDB(t)
	mustCLI(t, "--db", db, "department", "add", "Ops")
	// A damaged file is the one failure of opening we can cause in-process; the store tests cover the lock.
	if err := os.WriteFile(db, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "", "--db", db, "department", "list")
	if code != exitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	requireSentence(t, stderr, "is damaged or not a vmmpm database")
}

// saveRecords writes records straight into the database file at path (between commands).
func saveRecords(t *testing.T, path string, rs ...store.Record) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, r := range rs {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
}

// refuseCLI runs a command that must exit 2 with one sentence containing want.
func refuseCLI(t *testing.T, want string, args ...string) {
	t.Helper()
	out, stderr, code := runCLI(t, "", args...)
	if code != exitUsage || out != "" {
		t.Errorf("%v: exit %d, stdout %q; want 2 and nothing on stdout (stderr %q)", args, code, out, stderr)
	}
	requireSentence(t, stderr, want)
}

// catalogWorld: data centers 1 "DC One" (module 1 on it) and 2 "DC Two" (tariff 1 on it), departments
// 1 "Support" (module 1's) and 2 "Billing" (task 1, open).
func catalogWorld(t *testing.T) string {
	t.Helper()
	db := tempDB(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	mustCLI(t, "--db", db, "datacenter", "add", "DC Two")
	mustCLI(t, "--db", db, "department", "add", "Support")
	mustCLI(t, "--db", db, "department", "add", "Billing")
	saveRecords(t, db,
		&store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: "https://vmm.example.com",
			Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Params: store.DefaultParams(),
			Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}},
		&store.Tariff{Name: "small", DataCenterID: 2, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1},
		&store.Task{DepartmentID: 2, Title: "set up service 4 by hand", Reason: "no module fits"})
	return db
}

func TestDatacenterEditAndRm(t *testing.T) {
	db := catalogWorld(t)
	dc := func(args ...string) []string { return append([]string{"--db", db, "datacenter"}, args...) }
	refuseCLI(t, `data center name must be unique: a data center named "DC One" already exists (id 1); choose another name`,
		dc("edit", "2", "--name", "dc one ")...)
	refuseCLI(t, "data center --external-id cannot be set while 1 module(s) (1) use data center 1, because a VMmanager 6 module binds only to a data center without one; remove those modules first (a module keeps the data center it was added with)",
		dc("edit", "1", "--external-id", "ext-1")...)
	refuseCLI(t, "data center name must not be empty", dc("edit", "2", "--name", " ")...)
	refuseCLI(t, "there is no data center 9 (see `vmmpm datacenter list`)", dc("edit", "9", "--name", "X")...)
	refuseCLI(t, `give --name or --external-id; see "vmmpm datacenter edit --help"`, dc("edit", "1")...)
	refuseCLI(t, `data center id must be a positive number, not "x"`, dc("edit", "x", "--name", "X")...)

	if out := mustCLI(t, dc("edit", "2", "--name", " Paris ", "--external-id", "ext-2")...); out != "updated data center 2\n" {
		t.Errorf("edit said %q", out)
	}
	mustCLI(t, dc("edit", "1", "--name", "Moscow")...) // a data center with modules may be renamed
	list := mustCLI(t, dc("list")...)
	for _, row := range []string{"1   Moscow  -", "2   Paris   ext-2"} {
		if !strings.Contains(list, row+"\n") {
			t.Errorf("list lacks %q:\n%s", row, list)
		}
	}
	mustCLI(t, dc("edit", "2", "--external-id", "")...)
	if list := mustCLI(t, dc("list")...); !strings.Contains(list, "2   Paris   -\n") {
		t.Errorf(`--external-id "" must remove it:`+"\n%s", list)
	}

	refuseCLI(t, "data center 1 is used by 1 module(s) (1); remove them first (a module keeps the data center it was added with)", dc("rm", "1")...)
	refuseCLI(t, "data center 2 is used by 1 tariff(s) (1); delete them or move them to another data center first (tariff edit)", dc("rm", "2")...)
	mustCLI(t, dc("add", "Spare")...)
	if out := mustCLI(t, dc("rm", "3")...); out != "removed data center 3\n" {
		t.Errorf("rm said %q", out)
	}
	refuseCLI(t, "there is no data center 3 (see `vmmpm datacenter list`)", dc("rm", "3")...)
	refuseCLI(t, `expected a data center ID, got 0 arguments`, dc("rm")...)
}

func TestDepartmentEditAndRm(t *testing.T) {
	db := catalogWorld(t)
	dept := func(args ...string) []string { return append([]string{"--db", db, "department"}, args...) }
	refuseCLI(t, `department name must be unique: a department named "Support" already exists (id 1)`, dept("edit", "2", "--name", "SUPPORT")...)
	refuseCLI(t, `give --name; see "vmmpm department edit --help"`, dept("edit", "2")...)
	refuseCLI(t, "there is no department 5 (see `vmmpm department list`)", dept("edit", "5", "--name", "X")...)
	if out := mustCLI(t, dept("edit", "2", "--name", "Accounts")...); out != "updated department 2\n" {
		t.Errorf("edit said %q", out)
	}
	if list := mustCLI(t, dept("list")...); !strings.Contains(list, "2   Accounts\n") {
		t.Errorf("list after edit:\n%s", list)
	}
	refuseCLI(t, "department 1 receives the tasks of 1 module(s) (1); give them another department first", dept("rm", "1")...)
	refuseCLI(t, "department 2 has 1 open task(s) (1); close them first", dept("rm", "2")...)
	mustCLI(t, "--db", db, "tasks", "close", "1")
	if out := mustCLI(t, dept("rm", "2")...); out != "removed department 2\n" {
		t.Errorf("rm said %q", out)
	}
	refuseCLI(t, "there is no department 2", dept("rm", "2")...)
}
