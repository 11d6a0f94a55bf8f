package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"vmmpm/store"
)

func newDatacenterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "datacenter", Short: "Data centers modules bind to"}
	var extID string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a data center (one with an external id cannot take a VMmanager 6 module)",
		Args:  exactArgs(1, "a data center NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			dc := &store.DataCenter{Name: args[0], ExternalID: extID}
			return a.saveAndPrint(dc, fmt.Sprintf("data center %q", dc.Name))
		},
	}
	add.Flags().StringVar(&extID, "external-id", "", "External Data Center id (blocks VMmanager 6 modules)")
	cmd.AddCommand(add, listCmd(a, "data centers", func(w io.Writer, db *store.DB, asJSON bool) error {
		rows, err := store.All[store.DataCenter](db)
		if err != nil {
			return err
		}
		return printList(w, asJSON, rows, "ID\tNAME\tEXTERNAL ID", func(d *store.DataCenter) string {
			return fmt.Sprintf("%d\t%s\t%s", d.ID, d.Name, dash(d.ExternalID))
		})
	}))
	return cmd
}

func newDepartmentCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "department", Short: "Departments that receive tasks"}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a department",
		Args:  exactArgs(1, "a department NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			d := &store.Department{Name: args[0]}
			return a.saveAndPrint(d, fmt.Sprintf("department %q", d.Name))
		},
	}
	cmd.AddCommand(add, listCmd(a, "departments", func(w io.Writer, db *store.DB, asJSON bool) error {
		rows, err := store.All[store.Department](db)
		if err != nil {
			return err
		}
		return printList(w, asJSON, rows, "ID\tNAME", func(d *store.Department) string {
			return fmt.Sprintf("%d\t%s", d.ID, d.Name)
		})
	}))
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage-coded sentence.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expected %s, got %d arguments", what, len(args))
		}
		return nil
	}
}

// saveAndPrint validates before opening the database, so bad input never touches the file.
func (a *app) saveAndPrint(r store.Record, what string) error {
	if err := r.Validate(); err != nil {
		return withCode(exitUsage, err)
	}
	db, err := a.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Save(r); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "added %s with id %d\n", what, r.GetID())
	return nil
}

// listCmd builds a `list [--json]` subcommand around a printer.
func listCmd(a *app, what string, print func(io.Writer, *store.DB, bool) error) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List " + what,
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			db, err := a.openDB()
			if err != nil {
				return err
			}
			defer db.Close()
			return print(a.stdout, db, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printList writes rows as a JSON array or as an aligned table.
func printList[T any](w io.Writer, asJSON bool, rows []*T, header string, line func(*T) string) error {
	if asJSON {
		if rows == nil {
			rows = []*T{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, line(r))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
