package wizard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

func TestParseTariffSpec(t *testing.T) {
	s, err := ParseTariffSpec(strings.NewReader(ExampleTariffSpec))
	if err != nil {
		t.Fatal(err)
	}
	if *s.Name != "vps-small" || s.DataCenter.Name != "DC One" || len(s.Modules) != 1 || *s.RecipeID != 0 || s.CPU == nil {
		t.Fatalf("spec %+v", s)
	}
	if s, err := ParseTariffSpec(strings.NewReader(`{"cpu": 2, "os_id": null}`)); err != nil || s.Name != nil || s.OSID != nil || *s.CPU != 2 {
		t.Fatalf("a partial spec: %+v, %v", s, err)
	}
	for _, c := range []struct{ in, field, frag string }{
		{`{"ram": 1}`, "ram", "not a tariff spec field; fields: name, datacenter, modules, cpu, ram_mib, disk_mib, os_id, recipe_id, ipv4_count, domain_template"},
		{`{"cpu": "2"}`, "cpu", "JSON int"},
		{`{"modules": [-1]}`, "modules", "JSON uint64"},
		{`{"datacenter": [1]}`, "spec", "name (string) or an id"},
		{`{"name": `, "spec", "not valid"},
		{`{} {}`, "spec", "exactly one"},
		{`[1]`, "spec", "must be a JSON object, not array"},
	} {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseTariffSpec(strings.NewReader(c.in))
			wantRule(t, err, c.field, c.frag)
		})
	}
}

// tariffWorld is seededDB with module 1 on data center 1 ("Moscow") against the emulator, its
// password stored.
func tariffWorld(t *testing.T) (*store.DB, store.Secrets) {
	t.Helper()
	db := seededDB(t)
	m := savedModule(t, db, simServer(t, sim.Config{}).URL)
	secrets := store.NewMemorySecrets()
	if err := secrets.Set(m.ID, simPassword); err != nil {
		t.Fatal(err)
	}
	return db, secrets
}

func tariffSpec(t *testing.T, json string) *TariffSpec {
	t.Helper()
	s, err := ParseTariffSpec(strings.NewReader(json))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSaveTariffSpec(t *testing.T) {
	db, secrets := tariffWorld(t)
	ctx := context.Background()
	save := func(id uint64, json string) (*store.Tariff, []string, error) {
		return SaveTariffSpec(ctx, db, secrets, id, tariffSpec(t, json))
	}
	tf, warnings, err := save(0, `{"name": "small", "datacenter": "moscow", "modules": [1], "cpu": 1, "ram_mib": 1024,
		"disk_mib": 10240, "os_id": 2, "recipe_id": 1, "ipv4_count": 1}`)
	if err != nil || len(warnings) != 0 || tf.ID != 1 || tf.DataCenterID != 1 || tf.RecipeID != 1 {
		t.Fatalf("add: %+v, %q, %v", tf, warnings, err)
	}
	// An edit replaces what the spec holds, a present 0 included, and keeps the rest.
	if tf, _, err = save(1, `{"cpu": 2, "recipe_id": 0}`); err != nil || tf.CPU != 2 || tf.RecipeID != 0 || tf.OSID != 2 || tf.Name != "small" {
		t.Fatalf("edit: %+v, %v", tf, err)
	}
	if err := db.Save(&store.DataCenter{Name: "Kazan"}); err != nil {
		t.Fatal(err)
	}
	if tf, warnings, err = save(1, `{"datacenter": "3"}`); err != nil || tf.DataCenterID != 3 || len(warnings) != 1 ||
		!strings.Contains(warnings[0], "module(s) 1 are on another data center") {
		t.Fatalf("moved to data center 3: %+v, %q, %v", tf, warnings, err)
	}
	before, _ := store.Load[store.Tariff](db, 1)

	for _, c := range []struct {
		name  string
		id    uint64
		json  string
		check func(error)
	}{
		{"no data center", 0, `{"name": "x", "modules": [1], "cpu": 1, "ram_mib": 1, "disk_mib": 1, "os_id": 1}`,
			func(err error) { wantRule(t, err, "datacenter", "must be given") }},
		{"unknown data center", 1, `{"datacenter": "Nowhere"}`,
			func(err error) { wantRule(t, err, "datacenter", `there is none called "Nowhere"`) }},
		{"OS not offered", 1, `{"os_id": 3}`, func(err error) { wantRule(t, err, "os_id", "3 is not one") }},
		{"recipe not offered", 1, `{"recipe_id": 9}`, func(err error) { wantRule(t, err, "recipe_id", "9 is not one") }},
		{"store rule", 1, `{"cpu": 0}`, func(err error) { wantRule(t, err, "cpu", "between 1") }},
		{"empty module list", 1, `{"modules": []}`, func(err error) { wantRule(t, err, "modules", "") }},
		{"no tariff", 9, `{"cpu": 2}`, func(err error) {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("editing tariff 9: %v, want store.ErrNotFound", err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tf, _, err := save(c.id, c.json)
			if tf != nil {
				t.Fatalf("refused, yet returned %+v", tf)
			}
			c.check(err)
			ts, _ := store.All[store.Tariff](db)
			if len(ts) != 1 || ts[0].CPU != before.CPU || ts[0].OSID != before.OSID || ts[0].DataCenterID != before.DataCenterID {
				t.Fatalf("the refusal changed the tariffs: %+v", ts)
			}
		})
	}
}
