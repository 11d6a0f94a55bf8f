package wizard

import (
	"context"
	"io"

	"vmmpm/store"
)

// TariffSpec is the JSON `vmmpm tariff add --spec` and `tariff edit --spec` read. Every field is
// optional: one absent (or null) keeps the tariff's value when editing and is zero when adding, so a
// present 0 ("recipe_id": 0, no recipe) still replaces. The data center is given by name or id.
type TariffSpec struct {
	Name           *string  `json:"name,omitempty"`
	DataCenter     *SpecRef `json:"datacenter,omitempty"`
	Modules        []uint64 `json:"modules"` // nil: absent; [] crosses the wire as given, for the rules to refuse
	CPU            *int     `json:"cpu,omitempty"`
	RAMMiB         *int     `json:"ram_mib,omitempty"`
	DiskMiB        *int     `json:"disk_mib,omitempty"`
	OSID           *uint64  `json:"os_id,omitempty"`
	RecipeID       *uint64  `json:"recipe_id,omitempty"`
	IPv4Count      *int     `json:"ipv4_count,omitempty"`
	DomainTemplate *string  `json:"domain_template,omitempty"`
}

// ExampleTariffSpec is a complete tariff spec, for `tariff add --help`.
const ExampleTariffSpec = `{
  "name": "vps-small",
  "datacenter": "DC One",
  "modules": [1],
  "cpu": 1,
  "ram_mib": 1024,
  "disk_mib": 10240,
  "os_id": 1,
  "recipe_id": 0,
  "ipv4_count": 1,
  "domain_template": "@USERNAME@-@ID@.example.net"
}`

// ParseTariffSpec reads one tariff spec object; unknown fields are refused so a typo is not silently
// ignored, and every refusal is a *store.ValidationError naming the field.
func ParseTariffSpec(r io.Reader) (*TariffSpec, error) {
	var s TariffSpec
	if err := decodeSpec(r, &s, "tariff spec"); err != nil {
		return nil, err
	}
	return &s, nil
}

// apply writes the fields s holds over t.
func (s *TariffSpec) apply(t *store.Tariff) {
	set(&t.Name, s.Name)
	if s.Modules != nil {
		t.ModuleIDs = s.Modules
	}
	set(&t.CPU, s.CPU)
	set(&t.RAMMiB, s.RAMMiB)
	set(&t.DiskMiB, s.DiskMiB)
	set(&t.OSID, s.OSID)
	set(&t.RecipeID, s.RecipeID)
	set(&t.IPv4Count, s.IPv4Count)
	set(&t.DomainTemplate, s.DomainTemplate)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// SaveTariffSpec is `tariff add --spec` (id 0) and `tariff edit ID --spec`: the spec's fields over the
// tariff as it is (a missing tariff wraps store.ErrNotFound), its data center resolved by name or id
// against the database, then SaveTariff's checks against each module's VMmanager and the store's rules.
func SaveTariffSpec(ctx context.Context, db *store.DB, secrets store.Secrets, id uint64, s *TariffSpec) (*store.Tariff, []string, error) {
	t := &store.Tariff{}
	if id != 0 {
		var err error
		if t, err = store.Load[store.Tariff](db, id); err != nil {
			return nil, nil, err
		}
	}
	if id == 0 || s.DataCenter != nil {
		var ref Ref
		if s.DataCenter != nil {
			ref = s.DataCenter.Ref
		}
		dcs, err := store.All[store.DataCenter](db)
		if err != nil {
			return nil, nil, err
		}
		if t.DataCenterID, err = (&Catalog{DataCenters: dcs}).ResolveDataCenter(ref); err != nil {
			return nil, nil, err
		}
	}
	s.apply(t)
	warnings, err := SaveTariff(ctx, db, secrets, t)
	if err != nil {
		return nil, nil, err
	}
	return t, warnings, nil
}
