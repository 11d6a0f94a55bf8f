package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
		"datacenter add dc one ":   `data center "DC One" already exists (id 1); choose another name`,
		"department add SUPPORT\t": `department "Support" already exists (id 1); choose another name`,
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
	if out := mustCLI(t, "datacenter", "list", "--json"); out != "[]\n" {
		t.Errorf("empty list --json = %q, want []", out)
	}
	mustCLI(t, "department", "add", "Ops")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("VMMPM_DB was not used: %v", err)
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
