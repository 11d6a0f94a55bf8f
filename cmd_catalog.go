package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"vmmpm/store"
)

func newDatacenterCmd(a *app) *cobra.Command {
	cmd := groupCmd("datacenter", "Data centers modules bind to")
	var extID string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a data center (one with an external id cannot take a VMmanager 6 module)",
		Args:  exactArgs(1, "a data center NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			dc := &store.DataCenter{Name: strings.TrimSpace(args[0]), ExternalID: strings.TrimSpace(extID)}
			if extID != "" && dc.ExternalID == "" {
				dc.ExternalID = extID // a blank --external-id is refused by Validate, not silently dropped
			}
			return addNamed(a, "data center", dc, func(d *store.DataCenter) string { return d.Name })
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
	cmd := groupCmd("department", "Departments that receive tasks")
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a department",
		Args:  exactArgs(1, "a department NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			d := &store.Department{Name: strings.TrimSpace(args[0])}
			return addNamed(a, "department", d, func(d *store.Department) string { return d.Name })
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

// groupCmd is a command that only holds subcommands. Cobra would print help and exit 0 on
// `vmmpm datacenter typo`; this makes that a usage error (exit 2) and keeps help for the bare group.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(c, args[0])
			}
			return c.Help()
		},
	}
}

// exactArgs is cobra.ExactArgs with a usage-coded sentence.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			plural := "s"
			if len(args) == 1 {
				plural = ""
			}
			return usagef("expected %s, got %d argument%s; see %q", what, len(args), plural, c.CommandPath()+" --help")
		}
		return nil
	}
}

// addNamed validates r before touching the file, then stores it unless a record of its kind already
// has the same name (case and surrounding spaces ignored); the check and the write share one transaction.
func addNamed[T any, P interface {
	*T
	store.Record
}](a *app, kind string, r P, name func(P) string) error {
	if err := r.Validate(); err != nil {
		return invalidInput(kind, err)
	}
	db, err := a.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Update(func(tx *store.Tx) error {
		var dup P
		err := store.Each(tx, func(p P) bool {
			if strings.EqualFold(strings.TrimSpace(name(p)), strings.TrimSpace(name(r))) {
				dup = p
			}
			return dup == nil
		})
		if err != nil {
			return err
		}
		if dup != nil {
			return usagef("%s %q already exists (id %d); choose another name", kind, name(dup), dup.GetID())
		}
		return tx.Put(r)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "added %s %q with id %d\n", kind, name(r), r.GetID())
	return nil
}

// invalidInput turns a store.ValidationError into a usage error sentence naming the kind and the flag.
func invalidInput(kind string, err error) error {
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		return withCode(exitUsage, err)
	}
	field := ve.Field
	if field != "name" {
		field = "--" + strings.ReplaceAll(field, "_", "-")
	}
	return usagef("%s %s %s", kind, field, ve.Rule)
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

// cobraUsage turns cobra's unknown-command error (from the root's argument check) into one usage
// sentence with suggestions and exit code 2; other errors pass through.
func cobraUsage(root *cobra.Command, err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	rest, ok := strings.CutPrefix(first, "unknown command ")
	if !ok {
		return err
	}
	quoted, qerr := strconv.QuotedPrefix(rest)
	name, uerr := strconv.Unquote(quoted)
	if qerr != nil || uerr != nil {
		return withCode(exitUsage, err)
	}
	return unknownCommand(root, name)
}

// unknownCommand is the usage error for `c name` where c has no subcommand name.
func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, applied only on its own error path
	}
	if hints := c.SuggestionsFor(name); len(hints) > 0 {
		for i, h := range hints {
			hints[i] = strconv.Quote(h)
		}
		msg += " (did you mean " + strings.Join(hints, " or ") + "?)"
	}
	return usagef("%s; run %q to see its commands", msg, c.CommandPath()+" --help")
}
