package cli

import (
	"context"
	"fmt"
	"io"
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
	for _, op := range store.OpTypes {
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
				t, err := findTariff(c.Context(), b, tariff)
				if err != nil {
					return err
				}
				svcs, err := b.CreateServices(c.Context(), t.ID, count, client)
				if err != nil {
					return err
				}
				for _, s := range svcs {
					fmt.Fprintf(a.stdout, "ordered service %d (tariff %q, %s)\n", s.ID, t.Name, s.Status)
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
	rows, err := backend.All[store.Service](ctx, b)
	if err != nil {
		return err
	}
	mods, err := moduleNames(ctx, b)
	if err != nil {
		return err
	}
	tnames, err := namesOf(ctx, b, func(t *store.Tariff) string { return t.Name })
	if err != nil {
		return err
	}
	return printList(w, asJSON, rows, "ID\tTARIFF\tMODULE\tCLIENT\tSTATUS\tVM\tIPV4\tDOMAIN", func(s *store.Service) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", s.ID, named(s.TariffID, tnames), named(s.ModuleID, mods),
			s.ClientEmail, s.Status, zeroDash(s.VM.HostID), dash(strings.Join(s.VM.IPv4, ",")), dash(s.Domain))
	})
}

var opShort = map[string]string{
	store.OpOpen:        "Open again a service whose open failed or was cancelled (service create opens new ones)",
	store.OpSuspend:     "Stop the VMs (service becomes suspended)",
	store.OpResume:      "Start the VMs again (service becomes active)",
	store.OpClose:       "Delete the VMs (service becomes deleted; cannot be undone)",
	store.OpReboot:      "Restart the VMs",
	store.OpReinstall:   "Reinstall the VMs' OS (the tariff's, or --os-id)",
	store.OpSetPassword: "Set the VMs' root password, read from stdin (never from the command line)",
	store.OpSetParam:    "Change CPU and RAM (up or down), grow the disk, add IPv4 addresses; a running VM is restarted",
}

func serviceOpCmd(a *app, op string) *cobra.Command {
	var osID, recipeID, cpu, ram, disk, ipv4 uint64
	c := &cobra.Command{
		Use:   op + " ID…",
		Short: opShort[op],
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
			for name, v := range map[string]uint64{queue.ArgOSID: osID, queue.ArgRecipeID: recipeID,
				queue.ArgCPU: cpu, queue.ArgRAMMiB: ram, queue.ArgDiskMiB: disk, queue.ArgIPv4Count: ipv4} {
				if v != 0 {
					opArgs[name] = strconv.FormatUint(v, 10)
				}
			}
			if op == store.OpSetPassword {
				pw, err := a.readPassword("the VMs' root")
				if err != nil {
					return err
				}
				opArgs[queue.ArgPassword] = pw
			}
			return a.enqueueOps(c.Context(), op, ids, opArgs)
		},
	}
	switch op {
	case store.OpReinstall:
		c.Flags().Uint64Var(&osID, "os-id", 0, "VMmanager OS id (default: the tariff's)")
		c.Flags().Uint64Var(&recipeID, "recipe-id", 0, "VMmanager recipe id (default: the tariff's, when the module uses recipes)")
	case store.OpSetParam:
		c.Flags().Uint64Var(&cpu, "cpu", 0, "vCPU count")
		c.Flags().Uint64Var(&ram, "ram-mib", 0, "RAM in MiB")
		c.Flags().Uint64Var(&disk, "disk-mib", 0, "disk in MiB (only grows)")
		c.Flags().Uint64Var(&ipv4, "ipv4-count", 0, "IPv4 addresses on the main interface (only added)")
	}
	return c
}

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
