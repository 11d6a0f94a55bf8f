package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

func newServiceCmd(a *app) *cobra.Command {
	cmd := groupCmd("service", "VPS services: order, list, and queue operations on them")
	cmd.AddCommand(serviceCreateCmd(a), listCmd(a, "services", printServices))
	for _, op := range queue.Operations() {
		cmd.AddCommand(serviceOpCmd(a, op))
	}
	return cmd
}

func serviceCreateCmd(a *app) *cobra.Command {
	var tariff, client string
	var count int
	c := &cobra.Command{
		Use:   "create --tariff NAME|ID --client EMAIL [--count N]",
		Short: "Order services of a tariff; each gets an open operation in the queue",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if tariff == "" {
				return usagef("give the tariff as --tariff NAME or --tariff ID; see vmmpm tariff list")
			}
			if client == "" {
				return usagef("give the client's email as --client EMAIL (their VMmanager account); there is no default client")
			}
			if !strings.Contains(client, "@") {
				return usagef("--client must be an email address, got %q", client)
			}
			return a.withEnqueuer(func(b backend.Backend) error {
				o, err := b.CreateServices(c.Context(), tariff, count, client)
				if err != nil {
					return err
				}
				for _, s := range o.Services {
					fmt.Fprintf(a.stdout, "ordered service %d (tariff %q, %s)\n", s.ID, o.Tariff.Name, s.Status)
				}
				fmt.Fprintln(a.stdout, queuedAdvice(c.Context(), b, "open operations are queued"))
				return nil
			})
		},
	}
	c.Flags().StringVar(&tariff, "tariff", "", "tariff name or id")
	c.Flags().IntVar(&count, "count", 1, fmt.Sprintf("how many services (1–%d)", queue.MaxCreate))
	c.Flags().StringVar(&client, "client", "", "the client's email (their VMmanager @user account); required")
	return c
}

func printServices(w io.Writer, b backend.Backend, asJSON bool) error {
	ctx := context.Background()
	rows, names, err := listNamed[store.Service](ctx, b)
	if err != nil {
		return err
	}
	mods, tnames := names.Modules, names.Tariffs
	return printList(w, asJSON, rows, "ID\tTARIFF\tMODULE\tCLIENT\tSTATUS\tVM\tIPV4\tDOMAIN", func(s *store.Service) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", s.ID, named(s.TariffID, tnames), named(s.ModuleID, mods),
			s.ClientEmail, s.Status, zeroDash(s.VM.HostID), dash(strings.Join(s.VM.IPv4, ",")), dash(s.Domain))
	})
}

// opShort is the operation's help, with where a secret argument comes from.
func opShort(op queue.Operation) string {
	if opSecret(op) != nil {
		return op.Help + ", read from stdin (never from the command line)"
	}
	return op.Help
}

// opLong adds to opShort what the secret argument, which has no flag, is for.
func opLong(op queue.Operation) string {
	if arg := opSecret(op); arg != nil {
		return fmt.Sprintf("%s.\n\nIt takes the %s (%s): pipe it on stdin, or run in a terminal to be prompted.", opShort(op), arg.Name, arg.Help)
	}
	return op.Help
}

func opSecret(op queue.Operation) *queue.Arg {
	for _, arg := range op.Args {
		if arg.Type == queue.SecretText {
			return &arg
		}
	}
	return nil
}

// serviceOpCmd is `service OP ID…` with one flag per argument of op in queue's table; the engine checks
// the values, so a flag only carries its text. An operation that destroys something names what, for
// whom, and asks first (confirm); --dry-run says what would be queued and queues nothing.
func serviceOpCmd(a *app, op queue.Operation) *cobra.Command {
	var f opFlags
	c := &cobra.Command{
		Use:   op.Name + " ID…",
		Short: opShort(op),
		Long:  opLong(op),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give one or more service ids; see vmmpm service list")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			opArgs := map[string]string{}
			for _, arg := range op.Args {
				if arg.Flag != "" && c.Flags().Changed(arg.Flag) {
					opArgs[arg.Name] = c.Flags().Lookup(arg.Flag).Value.String()
				}
			}
			return a.runOp(c.Context(), op, ids, opArgs, f)
		},
	}
	for _, arg := range op.Args {
		if arg.Flag != "" {
			c.Flags().Var(new(argText), arg.Flag, arg.Help)
		}
	}
	c.Flags().BoolVar(&f.dryRun, "dry-run", false, "print what would be queued and queue nothing")
	c.Flags().BoolVar(&f.asJSON, "json", false, "with --dry-run: print it as JSON")
	if queue.Destroys(op.Name) != "" {
		c.Flags().BoolVarP(&f.yes, "yes", "y", false, "do it without asking (needed when there is no terminal to ask on)")
	}
	return c
}

// opFlags are the flags every `service OP` has besides its arguments.
type opFlags struct{ dryRun, asJSON, yes bool }

// plannedOp is an operation about to be queued, as --dry-run shows it: the service, what it is, and
// what the operation destroys. A secret argument is never in it.
type plannedOp struct {
	ServiceID uint64            `json:"service_id"`
	Type      string            `json:"type"`
	Args      map[string]string `json:"args,omitempty"`
	VMID      uint64            `json:"vm_id,omitempty"`
	ModuleID  uint64            `json:"module_id,omitempty"`
	Module    string            `json:"module,omitempty"`
	Client    string            `json:"client_email"`
	Destroys  string            `json:"destroys,omitempty"`
}

// String is the plan's line: "close service 12 (VM 345 on module 'msk-1', client a@b.c): the VM and
// its disks are deleted".
func (p plannedOp) String() string {
	where := "no VM yet"
	if p.VMID != 0 {
		where = fmt.Sprintf("VM %d", p.VMID)
	}
	if p.Module != "" {
		where += fmt.Sprintf(" on module '%s'", p.Module)
	}
	line := fmt.Sprintf("%s service %d (%s, client %s)", p.Type, p.ServiceID, where, p.Client)
	if p.Destroys != "" {
		line += ": " + p.Destroys
	}
	return line
}

// planOps reads the services ids name (each must exist) into the operations op would queue.
func planOps(ctx context.Context, b backend.Backend, op string, ids []uint64, args map[string]string) ([]plannedOp, error) {
	modules := map[uint64]string{}
	plans := make([]plannedOp, 0, len(ids))
	for _, id := range ids {
		s, err := backend.Load[store.Service](ctx, b, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, usagef("service %d does not exist; see vmmpm service list (nothing was queued)", id)
		}
		if err != nil {
			return nil, err
		}
		if _, ok := modules[s.ModuleID]; !ok && s.ModuleID != 0 {
			if m, err := backend.Load[store.Module](ctx, b, s.ModuleID); err == nil {
				modules[s.ModuleID] = m.Name
			}
		}
		plans = append(plans, plannedOp{ServiceID: id, Type: op, Args: args, VMID: s.VM.HostID, ModuleID: s.ModuleID,
			Module: modules[s.ModuleID], Client: s.ClientEmail, Destroys: queue.Destroys(op)})
	}
	return plans, nil
}

// runOp plans op on the services, then prints the plan (--dry-run), or asks when op destroys
// something, reads a secret argument and queues it on each. The database is not held while it asks.
func (a *app) runOp(ctx context.Context, op queue.Operation, ids []uint64, args map[string]string, f opFlags) error {
	if opSecret(op) == nil {
		if err := queue.CheckArgs(op.Name, args); err != nil {
			return err
		}
	}
	var plans []plannedOp
	err := a.withReader(func(b backend.Backend) (err error) {
		plans, err = planOps(ctx, b, op.Name, ids, args)
		return err
	})
	switch {
	case err != nil:
		return err
	case f.dryRun && f.asJSON:
		return printJSON(a.stdout, plans)
	case f.dryRun:
		for _, p := range plans {
			fmt.Fprintln(a.stdout, "would queue "+p.String())
		}
		fmt.Fprintln(a.stdout, "nothing was queued (--dry-run)")
		return nil
	case f.asJSON:
		return usagef("--json goes with --dry-run; the operations queued are printed a line each")
	}
	if queue.Destroys(op.Name) != "" {
		lines, accept := make([]string, len(plans)), []string{"yes"}
		for i, p := range plans {
			lines[i] = p.String()
		}
		if len(ids) == 1 {
			accept = append(accept, strconv.FormatUint(ids[0], 10))
		}
		if err := a.confirm(lines, accept, f.yes); err != nil {
			return err
		}
	}
	if arg := opSecret(op); arg != nil { // the root password: the only secret an operation takes
		pw, err := a.readPassword("the VMs' root")
		if err != nil {
			return err
		}
		args = maps.Clone(args)
		args[arg.Name] = pw
	}
	return a.enqueueOps(ctx, op.Name, ids, args)
}

// argText is a flag's text as given: "--cpu 0" reaches the engine's check instead of reading as unset.
type argText string

func (t *argText) String() string     { return string(*t) }
func (t *argText) Set(s string) error { *t = argText(s); return nil }
func (t *argText) Type() string       { return "uint" }

func (a *app) enqueueOps(ctx context.Context, op string, ids []uint64, args map[string]string) error {
	return a.withEnqueuer(func(b backend.Backend) error {
		for _, id := range ids {
			j, err := b.Enqueue(ctx, id, op, args)
			if err != nil {
				return err
			}
			where := "queues off"
			if j.QueueKey != "" {
				where = "queue key " + j.QueueKey
			}
			fmt.Fprintf(a.stdout, "queued %s of service %d as job %d (%s)\n", op, id, j.ID, where)
		}
		return nil
	})
}

// queuedAdvice tells where the queued operations will run: the server's engine, or one still to start.
func queuedAdvice(ctx context.Context, b backend.Backend, what string) string {
	info, err := b.Info(ctx)
	if err == nil && info.Mode == backend.ModeAttached {
		return fmt.Sprintf("%s; the vmmpm server (pid %d) carries them out", what, info.PID)
	}
	if err == nil && info.Mode == backend.ModeReadOnly && info.Engine != "" {
		return fmt.Sprintf("%s; the engine on %s carries them out", what, info.Engine)
	}
	return what + "; run vmmpm serve, vmmpm engine or the TUI to carry them out"
}
