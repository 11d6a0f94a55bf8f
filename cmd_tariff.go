package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

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
	cmd := &cobra.Command{Use: "tariff", Short: "VPS tariff plans and the modules that serve them"}
	var specPath string
	add := &cobra.Command{
		Use:   "add --spec FILE",
		Short: "Add a tariff from a JSON spec",
		Long: "Adds a tariff. datacenter is a data center name or id; modules lists module ids in order;\n" +
			"domain_template may use @ID@ (service id) and @USERNAME@ (the client's address before @).\n\n" +
			"Example spec:\n" + exampleTariffSpec,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if specPath == "" {
				return usagef("give the tariff as --spec FILE (see vmmpm tariff add --help)")
			}
			return a.tariffAdd(specPath)
		},
	}
	add.Flags().StringVar(&specPath, "spec", "", "JSON file with the tariff (see --help)")
	cmd.AddCommand(add, listCmd(a, "tariffs", func(w io.Writer, db *store.DB, asJSON bool) error {
		rows, err := store.All[store.Tariff](db)
		if err != nil {
			return err
		}
		return printList(w, asJSON, rows, "ID\tNAME\tDC\tMODULES\tCPU\tRAM MIB\tDISK MIB\tOS\tRECIPE\tIPV4\tDOMAIN",
			func(t *store.Tariff) string {
				return fmt.Sprintf("%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s", t.ID, t.Name, t.DataCenterID,
					joinIDs(t.ModuleIDs), t.CPU, t.RAMMiB, t.DiskMiB, t.OSID, zeroDash(t.RecipeID), t.IPv4Count,
					dash(t.DomainTemplate))
			})
	}))
	return cmd
}

// tariffSpec is the JSON of tariff add; datacenter is a name or an id.
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

func readTariffSpec(path string) (*tariffSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("cannot read the spec file: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s tariffSpec
	if err := dec.Decode(&s); err != nil {
		return nil, usagef("the spec file %s is not a valid tariff spec (%v); see vmmpm tariff add --help", path, err)
	}
	return &s, nil
}

func (a *app) tariffAdd(path string) error {
	s, err := readTariffSpec(path)
	if err != nil {
		return err
	}
	db, err := a.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	dc, err := findDataCenter(db, s.DataCenter)
	if err != nil {
		return err
	}
	t := &store.Tariff{Name: s.Name, DataCenterID: dc.ID, ModuleIDs: s.Modules, CPU: s.CPU, RAMMiB: s.RAMMiB,
		DiskMiB: s.DiskMiB, OSID: s.OSID, RecipeID: s.RecipeID, IPv4Count: s.IPv4Count, DomainTemplate: s.DomainTemplate}
	if err := t.Validate(); err != nil {
		return withCode(exitUsage, err)
	}
	var elsewhere []string
	err = db.Update(func(tx *store.Tx) error {
		var dup *store.Tariff
		if err := store.Each(tx, func(o *store.Tariff) bool {
			if strings.EqualFold(o.Name, t.Name) {
				dup = o
			}
			return dup == nil
		}); err != nil {
			return err
		}
		if dup != nil {
			return usagef("a tariff named %q already exists (id %d); choose another name", dup.Name, dup.ID)
		}
		for _, id := range t.ModuleIDs {
			m, gerr := store.Get[store.Module](tx, id)
			if gerr != nil {
				return usagef("module %d does not exist; see vmmpm module list", id)
			}
			if m.DataCenterID != t.DataCenterID {
				elsewhere = append(elsewhere, strconv.FormatUint(id, 10))
			}
		}
		return tx.Put(t)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "added tariff %q with id %d\n", t.Name, t.ID)
	if len(elsewhere) > 0 {
		fmt.Fprintf(a.stderr, "vmmpm: warning: module(s) %s are on another data center than %q, so they will never be chosen for this tariff.\n",
			strings.Join(elsewhere, ", "), dc.Name)
	}
	return nil
}

// findDataCenter resolves a JSON name or id.
func findDataCenter(db *store.DB, raw json.RawMessage) (*store.DataCenter, error) {
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
	dcs, err := store.All[store.DataCenter](db)
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
func findTariff(db *store.DB, arg string) (*store.Tariff, error) {
	ts, err := store.All[store.Tariff](db)
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

func joinIDs(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}

func zeroDash(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}
