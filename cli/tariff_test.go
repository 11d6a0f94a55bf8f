package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/store"
)

// specFile writes a tariff spec (or changes) to a temp file.
func specFile(t *testing.T, json string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tariff.json")
	if err := os.WriteFile(p, []byte(json), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTariffEdit(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	if out := env.cli("tariff", "edit", "1", "--spec", specFile(t, `{"cpu": 2, "name": " Small+ "}`)); out != "updated tariff \"Small+\" (id 1)\n" {
		t.Errorf("edit said %q", out)
	}
	tf := decodeJSON[[]store.Tariff](t, env.cli("tariff", "list", "--json"))[0]
	if tf.CPU != 2 || tf.Name != "Small+" || tf.RAMMiB != 1024 || tf.DataCenterID != 1 || tf.DomainTemplate != "@USERNAME@-@ID@.example.net" {
		t.Fatalf("after edit: %+v; want cpu and name replaced, the rest kept", tf)
	}

	env.cli("datacenter", "add", "DC Two")
	out, errOut, code := runCLI(t, "", "--db", env.db, "tariff", "edit", "1", "--spec", specFile(t, `{"datacenter": "DC Two"}`))
	if code != 0 || out != "updated tariff \"Small+\" (id 1)\n" ||
		errOut != "vmmpm: warning: module(s) 1 are on another data center than \"DC Two\", so they will never be chosen for this tariff\n" {
		t.Fatalf("moving to another data center: exit %d, %q, %q", code, out, errOut)
	}

	env.cli("tariff", "add", "--spec", specFile(t, `{"name": "big", "datacenter": 1, "modules": [1], "cpu": 8,
		"ram_mib": 8192, "disk_mib": 81920, "os_id": 1, "ipv4_count": 1}`))
	before := env.cli("tariff", "list", "--json")
	edit := func(id, json string) []string {
		return []string{"--db", env.db, "tariff", "edit", id, "--spec", specFile(t, json)}
	}
	refuseCLI(t, `name: must be unique: a tariff named "Small+" already exists (id 1); choose another name`, edit("2", `{"name": "small+"}`)...)
	refuseCLI(t, "modules: must list existing modules; 7 is not one", edit("2", `{"modules": [1, 7]}`)...)
	refuseCLI(t, "cpu: must be between 1 and 256", edit("2", `{"cpu": 0}`)...)
	refuseCLI(t, `datacenter: must name an existing data center; there is none called "Nowhere"`, edit("2", `{"datacenter": "Nowhere"}`)...)
	refuseCLI(t, "ram: is not a tariff spec field; fields: name, datacenter, modules", edit("2", `{"ram": 1}`)...)
	refuseCLI(t, "there is no tariff 9 (see `vmmpm tariff list`)", edit("9", `{"cpu": 2}`)...)
	refuseCLI(t, "give the changes as --spec FILE", "--db", env.db, "tariff", "edit", "2")
	refuseCLI(t, `tariff id must be a positive number, not "big"`, edit("big", `{"cpu": 2}`)...)
	if after := env.cli("tariff", "list", "--json"); after != before {
		t.Errorf("refused edits changed the tariffs:\n%s\nwas\n%s", after, before)
	}
}

func TestTariffRm(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("tariff", "add", "--spec", specFile(t, `{"name": "spare", "datacenter": "DC One", "modules": [1], "cpu": 1,
		"ram_mib": 1024, "disk_mib": 10240, "os_id": 1}`))
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "2")
	refuseCLI(t, "tariff 1 has 2 service(s) that are not deleted (1, 2); close them first", "--db", env.db, "tariff", "rm", "1")
	if out := env.cli("tariff", "rm", "2"); out != "removed tariff 2\n" {
		t.Errorf("rm said %q", out)
	}
	refuseCLI(t, "there is no tariff 2 (see `vmmpm tariff list`)", "--db", env.db, "tariff", "rm", "2")
	env.cli("engine", "--until-idle")
	env.cli("service", "close", "1", "2", "--yes")
	env.cli("engine", "--until-idle")
	env.cli("tariff", "rm", "1")
	if out := env.cli("tariff", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("tariffs left: %s", out)
	}
}

// TestTariffCheckedAgainstVMmanager (issue 10 point 6): tariff add and edit refuse an OS image or a
// recipe the module's VMmanager does not offer (an LXD image for a KVM cluster included), naming what
// it offers, and save nothing.
func TestTariffCheckedAgainstVMmanager(t *testing.T) {
	env := newEngineEnv(t, 0)
	add := func(json string) []string {
		return []string{"--db", env.db, "tariff", "add", "--spec", specFile(t, json)}
	}
	spec := func(os, recipe int) string {
		return fmt.Sprintf(`{"name": "small", "datacenter": "DC One", "modules": [1], "cpu": 1, "ram_mib": 1024,
			"disk_mib": 10240, "os_id": %d, "recipe_id": %d}`, os, recipe)
	}
	refuseCLI(t, `os_id: must be an OS image module 1 "vmm" can install on cluster "kvm-main"; 99 is not one (it offers: 1 Ubuntu 22.04, 2 Debian 12, 4 AlmaLinux 9)`,
		add(spec(99, 0))...)
	refuseCLI(t, "3 is not one", add(spec(3, 0))...) // the LXD image
	refuseCLI(t, `recipe_id: must be a recipe of module 1 "vmm"'s VMmanager; 9 is not one (it has: 1 LAMP, 2 Docker)`,
		add(spec(2, 9))...)
	if out := env.cli("tariff", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("refused tariffs were saved: %s", out)
	}
	env.cli(add(spec(2, 1))[2:]...)
	refuseCLI(t, "99 is not one", "--db", env.db, "tariff", "edit", "1", "--spec", specFile(t, `{"os_id": 99}`))
	if tf := decodeJSON[[]store.Tariff](t, env.cli("tariff", "list", "--json"))[0]; tf.OSID != 2 || tf.RecipeID != 1 {
		t.Fatalf("tariff after the refused edit: %+v", tf)
	}
}
