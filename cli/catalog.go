package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"vmmpm/store"
)

func newDatacenterCmd(a *app) *cobra.Command {
	k := kindDataCenter
	cmd := groupCmd("datacenter", "Data centers modules bind to")
	var extID, newName, newExtID string
	add := &cobra.Command{
		Use:   "add NAME [--external-id X]",
		Short: "Add a data center (one with an external id cannot take a VMmanager 6 module)",
		Args:  exactArgs(1, "a data center NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			dc := &store.DataCenter{Name: args[0], ExternalID: extID}
			return addRecord(a, k, dc, func() string { return dc.Name })
		},
	}
	add.Flags().StringVar(&extID, "external-id", "", "External Data Center id (blocks VMmanager 6 modules)")
	edit := editCmd(a, k, "edit ID [--name N] [--external-id X]",
		`Rename a data center or change its external id (--external-id "" removes it)`,
		[]string{"name", "external-id"}, func(c *cobra.Command, d *store.DataCenter) {
			if c.Flags().Changed("name") {
				d.Name = newName
			}
			if c.Flags().Changed("external-id") {
				d.ExternalID = newExtID
			}
		})
	edit.Flags().StringVar(&newName, "name", "", "new name")
	edit.Flags().StringVar(&newExtID, "external-id", "", "new External Data Center id; \"\" removes it (only without modules)")
	cmd.AddCommand(add, edit, rmCmd[store.DataCenter](a, k, "Remove a data center no module or tariff uses"),
		listAllCmd(a, "data centers", "ID\tNAME\tEXTERNAL ID", func(d *store.DataCenter) string {
			return fmt.Sprintf("%d\t%s\t%s", d.ID, d.Name, dash(d.ExternalID))
		}))
	return cmd
}

func newDepartmentCmd(a *app) *cobra.Command {
	k := kindDepartment
	cmd := groupCmd("department", "Departments that receive tasks")
	var newName string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a department",
		Args:  exactArgs(1, "a department NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			d := &store.Department{Name: args[0]}
			return addRecord(a, k, d, func() string { return d.Name })
		},
	}
	edit := editCmd(a, k, "edit ID --name N", "Rename a department", []string{"name"},
		func(_ *cobra.Command, d *store.Department) { d.Name = newName })
	edit.Flags().StringVar(&newName, "name", "", "new name")
	cmd.AddCommand(add, edit, rmCmd[store.Department](a, k, "Remove a department no module sends tasks to and with no open task"),
		listAllCmd(a, "departments", "ID\tNAME", func(d *store.Department) string {
			return fmt.Sprintf("%d\t%s", d.ID, d.Name)
		}))
	return cmd
}
