package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
)

const exampleTariffSpec = `{
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

func newTariffCmd(a *app) *cobra.Command {
	cmd := groupCmd("tariff", "VPS tariff plans and the modules that serve them")
	var addSpec, editSpec string
	add := &cobra.Command{
		Use:   "add --spec FILE",
		Short: "Add a tariff from a JSON spec",
		Long: "Adds a tariff. datacenter is a data center name or id; modules lists module ids in order;\n" +
			"domain_template may use @ID@ (service id) and @USERNAME@ (the client's address before @).\n\n" +
			"Example spec:\n" + exampleTariffSpec,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if addSpec == "" {
				return usagef("give the tariff as --spec FILE (see vmmpm tariff add --help)")
			}
			return a.tariffSave(0, addSpec)
		},
	}
	add.Flags().StringVar(&addSpec, "spec", "", "JSON file with the tariff (see --help)")
	edit := idCmd(kindTariff, "edit ID --spec FILE", "Change a tariff: the fields a JSON spec (as for add) holds replace the tariff's",
		func(_ *cobra.Command, id uint64) error {
			if editSpec == "" {
				return usagef("give the changes as --spec FILE (see vmmpm tariff edit --help)")
			}
			return a.tariffSave(id, editSpec)
		})
	edit.Long = "Changes tariff ID with the same rules as add. The spec has add's fields; those present replace\n" +
		"the tariff's, the others stay. Example: {\"cpu\": 2, \"modules\": [2, 1]}"
	edit.Flags().StringVar(&editSpec, "spec", "", "JSON file with the fields to change (see --help)")
	cmd.AddCommand(add, edit, rmCmd[store.Tariff](a, kindTariff, "Remove a tariff whose services are all deleted"),
		listCmd(a, "tariffs", printTariffs))
	return cmd
}

// printTariffs lists tariffs with their data center and modules named beside their ids.
func printTariffs(w io.Writer, b backend.Backend, asJSON bool) error {
	ctx := context.Background()
	rows, err := backend.All[store.Tariff](ctx, b)
	if err != nil {
		return err
	}
	mods, err := moduleNames(ctx, b)
	if err != nil {
		return err
	}
	dcNames, err := namesOf(ctx, b, func(d *store.DataCenter) string { return d.Name })
	if err != nil {
		return err
	}
	return printList(w, asJSON, rows, "ID\tNAME\tDC\tMODULES\tCPU\tRAM MIB\tDISK MIB\tOS\tRECIPE\tIPV4\tDOMAIN",
		func(t *store.Tariff) string {
			modules := make([]string, len(t.ModuleIDs))
			for i, id := range t.ModuleIDs {
				modules[i] = named(id, mods)
			}
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s", t.ID, t.Name, named(t.DataCenterID, dcNames),
				strings.Join(modules, ", "), t.CPU, t.RAMMiB, t.DiskMiB, t.OSID, zeroDash(t.RecipeID), t.IPv4Count,
				dash(t.DomainTemplate))
		})
}

// tariffSpec is the JSON of tariff add and edit; datacenter is a name or an id.
type tariffSpec struct {
	Name           string          `json:"name"`
	DataCenter     json.RawMessage `json:"datacenter"`
	Modules        []uint64        `json:"modules"`
	CPU            int             `json:"cpu"`
	RAMMiB         int             `json:"ram_mib"`
	DiskMiB        int             `json:"disk_mib"`
	OSID           uint64          `json:"os_id"`
	RecipeID       uint64          `json:"recipe_id"`
	IPv4Count      int             `json:"ipv4_count"`
	DomainTemplate string          `json:"domain_template"`
}

// specOf is tariff t as a spec, so an edit's spec can be decoded over it.
func specOf(t *store.Tariff) *tariffSpec {
	return &tariffSpec{Name: t.Name, DataCenter: json.RawMessage(strconv.FormatUint(t.DataCenterID, 10)),
		Modules: t.ModuleIDs, CPU: t.CPU, RAMMiB: t.RAMMiB, DiskMiB: t.DiskMiB, OSID: t.OSID, RecipeID: t.RecipeID,
		IPv4Count: t.IPv4Count, DomainTemplate: t.DomainTemplate}
}

func (s *tariffSpec) tariff(id, dc uint64) *store.Tariff {
	return &store.Tariff{ID: id, Name: s.Name, DataCenterID: dc, ModuleIDs: s.Modules, CPU: s.CPU, RAMMiB: s.RAMMiB,
		DiskMiB: s.DiskMiB, OSID: s.OSID, RecipeID: s.RecipeID, IPv4Count: s.IPv4Count, DomainTemplate: s.DomainTemplate}
}

// decodeTariffSpec reads the JSON in b over s: the fields present replace s's.
func decodeTariffSpec(path string, b []byte, s *tariffSpec) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return usagef("the spec file %s is not a valid tariff spec (%v); see vmmpm tariff add --help", path, err)
	}
	return nil
}

// tariffSave is tariff add (id 0) and tariff edit: the spec, over the tariff as it is, checked against
// its modules' VMmanager and saved with the store's tariff rules.
func (a *app) tariffSave(id uint64, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usagef("cannot read the spec file: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return a.withBackend(id == 0, func(be backend.Backend) error {
		s := &tariffSpec{}
		if id != 0 {
			t, err := backend.Load[store.Tariff](ctx, be, id)
			if err != nil {
				return kindTariff.refusal(id, err)
			}
			s = specOf(t)
		}
		if err := decodeTariffSpec(path, b, s); err != nil {
			return err
		}
		dc, err := findDataCenter(ctx, be, s.DataCenter)
		if err != nil {
			return err
		}
		t := s.tariff(id, dc.ID)
		warnings, err := be.Save(ctx, t)
		if err != nil {
			return checkExit(kindTariff.refusal(id, err))
		}
		if id == 0 {
			fmt.Fprintf(a.stdout, "added tariff %q with id %d\n", t.Name, t.ID)
		} else {
			fmt.Fprintf(a.stdout, "updated tariff %q (id %d)\n", t.Name, t.ID)
		}
		for _, w := range warnings {
			fmt.Fprintln(a.stderr, "vmmpm: warning: "+w)
		}
		return nil
	})
}

// findDataCenter resolves a JSON name or id.
func findDataCenter(ctx context.Context, b backend.Backend, raw json.RawMessage) (*store.DataCenter, error) {
	var id uint64
	var name string
	if len(raw) == 0 || json.Unmarshal(raw, &id) != nil && json.Unmarshal(raw, &name) != nil {
		return nil, usagef("datacenter: give a data center name or id; see vmmpm datacenter list")
	}
	if name != "" {
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			id = n
		}
	}
	dcs, err := backend.All[store.DataCenter](ctx, b)
	if err != nil {
		return nil, err
	}
	for _, d := range dcs {
		if id != 0 && d.ID == id || name != "" && strings.EqualFold(d.Name, name) {
			return d, nil
		}
	}
	return nil, usagef("datacenter %s does not exist; see vmmpm datacenter list", string(raw))
}

// findTariff resolves a tariff given by name or id.
func findTariff(ctx context.Context, b backend.Backend, arg string) (*store.Tariff, error) {
	ts, err := backend.All[store.Tariff](ctx, b)
	if err != nil {
		return nil, err
	}
	id, _ := strconv.ParseUint(arg, 10, 64)
	for _, t := range ts {
		if id != 0 && t.ID == id || strings.EqualFold(t.Name, arg) {
			return t, nil
		}
	}
	return nil, usagef("tariff %q does not exist; see vmmpm tariff list", arg)
}
