package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"vmmpm/backend"
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

// kind names a record kind in sentences, and the command that lists it.
type kind struct {
	name  string // "data center"
	list  string // "datacenter list"
	flags bool   // its fields are set by flags, so sentences name --the-flag; else "field: rule"
}

var (
	kindDataCenter = kind{name: "data center", list: "datacenter list", flags: true}
	kindDepartment = kind{name: "department", list: "department list", flags: true}
	kindModule     = kind{name: "module", list: "module list"}
	kindTariff     = kind{name: "tariff", list: "tariff list"}
	kindTask       = kind{name: "task", list: "tasks"}
)

// refusal turns what a domain rule returned about record id into the command's error: a missing
// record and a *store.ValidationError are usage errors (exit 2) with one sentence; others pass through.
func (k kind) refusal(id uint64, err error) error {
	var ee *exitError
	var ve *store.ValidationError
	switch {
	case err == nil, errors.As(err, &ee):
		return err
	case errors.Is(err, store.ErrNotFound):
		return usagef("there is no %s %d (see `vmmpm %s`)", k.name, id, k.list)
	case !errors.As(err, &ve):
		return err
	case ve.Field == "id": // the rule is a whole sentence about the record
		return usagef("%s", ve.Rule)
	case !k.flags:
		return withCode(exitUsage, err)
	case ve.Field == "name":
		return usagef("%s name %s", k.name, ve.Rule)
	}
	return usagef("%s --%s %s", k.name, strings.ReplaceAll(ve.Field, "_", "-"), ve.Rule)
}

// parseID reads a record id given on the command line.
func parseID(k kind, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usagef("%s id must be a positive number, not %q (see `vmmpm %s`)", k.name, s, k.list)
	}
	return id, nil
}

type record[T any] interface {
	*T
	store.Record
}

// saveRecord saves r through the backend with the kind's rules; refusals name record id. An add
// (id 0) may create the database; an edit needs it to exist.
func (a *app) saveRecord(k kind, r store.Record) (warnings []string, err error) {
	id := r.GetID()
	err = a.withBackend(id == 0, func(b backend.Backend) (err error) {
		warnings, err = b.Save(context.Background(), r)
		return err
	})
	return warnings, k.refusal(id, err)
}

// addRecord validates r before touching the file (so invalid input never creates it), then saves it
// with the kind's rules.
func addRecord(a *app, k kind, r store.Record, name func() string) error {
	if err := r.Validate(); err != nil {
		return k.refusal(0, err)
	}
	if _, err := a.saveRecord(k, r); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "added %s %q with id %d\n", k.name, name(), r.GetID())
	return nil
}

// idCmd is a command on one record, `use` starting with "VERB ID"; run gets the parsed id.
func idCmd(k kind, use, short string, run func(c *cobra.Command, id uint64) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "a "+k.name+" ID"),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseID(k, args[0])
			if err != nil {
				return err
			}
			return run(c, id)
		},
	}
}

// editCmd is `KIND edit ID`: load the record, let change apply the flags given, save it with the
// kind's rules; at least one of flags must be given.
func editCmd[T any, P record[T]](a *app, k kind, use, short string, flags []string, change func(*cobra.Command, P)) *cobra.Command {
	return idCmd(k, use, short, func(c *cobra.Command, id uint64) error {
		if !slices.ContainsFunc(flags, c.Flags().Changed) {
			return usagef("give --%s; see %q", strings.Join(flags, " or --"), c.CommandPath()+" --help")
		}
		err := a.withBackend(false, func(b backend.Backend) error {
			r, err := backend.Load[T, P](context.Background(), b, id)
			if err != nil {
				return err
			}
			change(c, r)
			_, err = b.Save(context.Background(), r)
			return err
		})
		if err := k.refusal(id, err); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "updated %s %d\n", k.name, id)
		return nil
	})
}

// rmCmd is `KIND rm ID` around the kind's delete rule.
func rmCmd[T any, P record[T]](a *app, k kind, short string) *cobra.Command {
	return idCmd(k, "rm ID", short, func(_ *cobra.Command, id uint64) error {
		err := a.withBackend(false, func(b backend.Backend) error {
			_, err := b.Delete(context.Background(), backend.KindOf[T, P](), id)
			return err
		})
		if err := k.refusal(id, err); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "removed %s %d\n", k.name, id)
		return nil
	})
}

// listCmd builds a `list [--json]` subcommand around a printer.
func listCmd(a *app, what string, print func(io.Writer, backend.Backend, bool) error) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List " + what,
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.withReader(func(b backend.Backend) error { return print(a.stdout, b, asJSON) })
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// listAllCmd is `list [--json]` over every record of kind T, a line each.
func listAllCmd[T any, P record[T]](a *app, what, header string, line func(P) string) *cobra.Command {
	return listCmd(a, what, func(w io.Writer, b backend.Backend, asJSON bool) error {
		rows, err := backend.All[T, P](context.Background(), b)
		if err != nil {
			return err
		}
		return printList(w, asJSON, rows, header, line)
	})
}

// printList writes rows as a JSON array or as an aligned table.
func printList[E any](w io.Writer, asJSON bool, rows []E, header string, line func(E) string) error {
	if asJSON {
		if rows == nil {
			rows = []E{}
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
