package cli

import (
	"context"
	"fmt"
	"io"
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
		Use:   "create --tariff NAME|ID [--count N] [--client EMAIL]",
		Short: "Order services of a tariff; each gets an open operation in the queue",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if tariff == "" {
				return usagef("give the tariff as --tariff NAME or --tariff ID; see vmmpm tariff list")
			}
			if !strings.Contains(client, "@") {
				return usagef("--client must be an email address, got %q", client)
			}
			return a.withBackend(false, func(b backend.Backend) error {
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
	c.Flags().StringVar(&client, "client", "client@example.com", "the client's email (their VMmanager @user account)")
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
// the values, so a flag only carries its text.
func serviceOpCmd(a *app, op queue.Operation) *cobra.Command {
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
				switch {
				case arg.Type == queue.SecretText: // the root password: the only secret an operation takes
					pw, err := a.readPassword("the VMs' root")
					if err != nil {
						return err
					}
					opArgs[arg.Name] = pw
				case c.Flags().Changed(arg.Flag):
					opArgs[arg.Name] = c.Flags().Lookup(arg.Flag).Value.String()
				}
			}
			return a.enqueueOps(c.Context(), op.Name, ids, opArgs)
		},
	}
	for _, arg := range op.Args {
		if arg.Flag != "" {
			c.Flags().Var(new(argText), arg.Flag, arg.Help)
		}
	}
	return c
}

// argText is a flag's text as given: "--cpu 0" reaches the engine's check instead of reading as unset.
type argText string

func (t *argText) String() string     { return string(*t) }
func (t *argText) Set(s string) error { *t = argText(s); return nil }
func (t *argText) Type() string       { return "uint" }

func (a *app) enqueueOps(ctx context.Context, op string, ids []uint64, args map[string]string) error {
	return a.withBackend(false, func(b backend.Backend) error {
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
	if info, err := b.Info(ctx); err == nil && info.Mode == backend.ModeAttached {
		return fmt.Sprintf("%s; the vmmpm server (pid %d) carries them out", what, info.PID)
	}
	return what + "; run vmmpm serve, vmmpm engine or the TUI to carry them out"
}
