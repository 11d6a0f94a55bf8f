package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/wizard"
)

func newTariffCmd(a *app) *cobra.Command {
	cmd := groupCmd("tariff", "VPS tariff plans and the modules that serve them")
	var addSpec, editSpec string
	add := &cobra.Command{
		Use:   "add --spec FILE",
		Short: "Add a tariff from a JSON spec",
		Long: "Adds a tariff. datacenter is a data center name or id; modules lists module ids in order;\n" +
			"domain_template may use @ID@ (service id) and @USERNAME@ (the client's address before @).\n\n" +
			"Example spec:\n" + wizard.ExampleTariffSpec,
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
	rows, names, err := listNamed[store.Tariff](ctx, b)
	if err != nil {
		return err
	}
	mods, dcNames := names.Modules, names.DataCenters
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

// tariffSave is tariff add (id 0) and tariff edit: the spec read here, then one backend call that
// lays it over the tariff, checks it against its modules' VMmanager and saves it.
func (a *app) tariffSave(id uint64, path string) error {
	spec, err := readSpec(path, wizard.ParseTariffSpec)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var saved *backend.TariffSaved
	err = a.withBackend(id == 0, func(b backend.Backend) (err error) {
		saved, err = b.SaveTariffSpec(ctx, id, spec)
		return err
	})
	if err != nil {
		return checkExit(kindTariff.refusal(id, err))
	}
	if id == 0 {
		fmt.Fprintf(a.stdout, "added tariff %q with id %d\n", saved.Tariff.Name, saved.Tariff.ID)
	} else {
		fmt.Fprintf(a.stdout, "updated tariff %q (id %d)\n", saved.Tariff.Name, saved.Tariff.ID)
	}
	for _, w := range saved.Warnings {
		fmt.Fprintln(a.stderr, "vmmpm: warning: "+w)
	}
	return nil
}
