package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"vmmpm/backend"
	"vmmpm/store"

	"github.com/spf13/cobra"
)

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

// cutTo cuts s to w runes with an ellipsis.
func cutTo(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	return string(r[:w-1]) + "…"
}

// listNamed is every record of kind T with the names of what they refer to, in one call.
func listNamed[T any, P record[T]](ctx context.Context, b backend.Backend) ([]P, *backend.Names, error) {
	var rows []P
	names, err := b.Listing(ctx, backend.KindOf[T, P](), &rows)
	return rows, names, err
}

// named is "ID NAME" when the name is known, the id alone otherwise, "-" for none.
func named(id uint64, names map[uint64]string) string {
	if n, ok := names[id]; ok && id != 0 {
		return fmt.Sprintf("%d %s", id, n)
	}
	return zeroDash(id)
}

// stamp is a local date and time for tables, "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func parseIDs(args []string) ([]uint64, error) {
	ids := make([]uint64, 0, len(args))
	for _, s := range args {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil || id == 0 {
			return nil, usagef("%q is not an id (a positive whole number)", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func zeroDash(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WatchEvery is how often `status --watch` repaints.
var WatchEvery = 2 * time.Second

// watch runs show now and every WatchEvery until Ctrl+C (or ctx ends), clearing the screen first on
// a terminal. Each round opens the backend afresh, so the database is never held between rounds and
// a server that stops or starts is noticed; a failed round prints its sentence and the watch goes on.
func (a *app) watch(ctx context.Context, asJSON bool, show func() error) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	clear := !asJSON && isTerminal(a.stdout)
	t := time.NewTicker(WatchEvery)
	defer t.Stop()
	for {
		if clear {
			fmt.Fprint(a.stdout, "\x1b[H\x1b[2J")
		}
		if err := show(); err != nil {
			fmt.Fprintln(a.stdout, "vmmpm: "+err.Error())
		}
		if !asJSON {
			fmt.Fprintf(a.stdout, "\n%s · every %s · Ctrl+C stops\n", time.Now().Format("15:04:05"), WatchEvery)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// confirm asks before a change that cannot be undone, once plan (what it destroys, and for whom) is on
// stdout. yes (--yes) is the answer given ahead; on a terminal the answer typed must be one of accept
// (say "yes", or the one id concerned); with no terminal and no --yes it refuses, exit 2, and nothing
// has been done. Every command that destroys asks through here.
func (a *app) confirm(plan []string, accept []string, yes bool) error {
	for _, line := range plan {
		fmt.Fprintln(a.stdout, line)
	}
	if yes {
		return nil
	}
	if !isTerminal(a.stdin) {
		return usagef("nothing was done: this cannot be undone and there is no terminal to ask on; run the same command with --yes to do the above")
	}
	words := make([]string, len(accept))
	for i, w := range accept {
		words[i] = strconv.Quote(w)
	}
	fmt.Fprintf(a.stderr, "This cannot be undone. Type %s to go on, anything else stops [no]: ", strings.Join(words, " or "))
	answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if slices.Contains(accept, strings.ToLower(strings.TrimSpace(answer))) {
		return nil
	}
	return usagef("nothing was done: the answer was not %s", strings.Join(words, " or "))
}
