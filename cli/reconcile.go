package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/reconcile"
)

func newReconcileCmd(a *app) *cobra.Command {
	var module uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reconcile [--module ID] [--json]",
		Short: "Compare each module's VMmanager cluster with vmmpm's records (read-only): VMs no service knows, services whose VM is gone, duplicates, drift",
		Long: "Read each module's cluster (or --module's) and compare it with the services vmmpm records. Each finding has a\n" +
			"class: unknown_vm (a VM no service knows: an import candidate), missing_vm (a service whose VM is gone),\n" +
			"duplicate_vm (more than one VM for one service), state, resources or owner (they differ). Nothing is written\n" +
			"to VMmanager. Exit 0 whether or not anything was found; 1 when a module could not be read (wholly or in part).\n" +
			"Act on findings with `reconcile import`, `reconcile fix` and `reconcile mark`, each confirmed with --yes.",
		Args: exactArgs(0, "no arguments (or a subcommand: import, fix, mark)"),
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.withBackend(false, func(b backend.Backend) error {
				rep, err := b.ReconcileScan(ctx, reconcile.Query{Module: module}, nil)
				if err != nil {
					return err
				}
				if asJSON {
					if err := printJSON(a.stdout, rep); err != nil {
						return err
					}
				} else {
					printReport(a.stdout, rep)
				}
				return scanFailure(rep)
			})
		},
	}
	cmd.Flags().Uint64Var(&module, "module", 0, "scan only this module (default: every module)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON: findings[] with class, module_id, vm_id, service_id, evidence")
	cmd.AddCommand(reconcileImportCmd(a), reconcileFixCmd(a), reconcileMarkCmd(a))
	return cmd
}

// scanFailure is the command's error when a module could not be read: one sentence per module.
func scanFailure(rep *reconcile.Report) error {
	var msgs []string
	for _, m := range rep.Modules {
		switch {
		case m.Error != "":
			msgs = append(msgs, m.Error)
		case len(m.Unreadable) > 0:
			msgs = append(msgs, fmt.Sprintf("module %d (%s) was read only in part: %s", m.ModuleID, m.Name, m.Unreadable[0]))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; ") + "; check the module (vmmpm module check) and scan again")
}

func printReport(w io.Writer, rep *reconcile.Report) {
	printFlags(w, rep.Flagged)
	if len(rep.Modules) == 0 {
		fmt.Fprintln(w, "no modules to scan; add one with vmmpm module add")
		return
	}
	for _, m := range rep.Modules {
		cp := m.Compared
		if m.Error != "" {
			fmt.Fprintf(w, "module %d %s: NOT READ: %s\n", m.ModuleID, m.Name, m.Error)
			continue
		}
		count := "host_count not given"
		if cp.HostCount >= 0 {
			count = fmt.Sprintf("of %d VMmanager counts", cp.HostCount)
		}
		fmt.Fprintf(w, "module %d %s, cluster %d: %d VMs read (%s) in %d piece(s), %d requests, %.1fs; %d services compared, %d left out (an operation is queued or running, or not open yet), %d system VMs\n",
			m.ModuleID, m.Name, m.Cluster, cp.VMs, count, cp.Pieces, cp.Requests, m.Took, cp.Services, cp.Skipped, cp.System)
		var parts []string
		for _, c := range reconcile.Classes {
			parts = append(parts, fmt.Sprintf("%s %d", c, m.Counts[c]))
		}
		fmt.Fprintf(w, "  findings: %s\n", strings.Join(parts, " · "))
		for _, u := range m.Unreadable {
			fmt.Fprintf(w, "  could not read: %s\n", u)
		}
		for _, n := range m.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
		for _, v := range m.System {
			fmt.Fprintf(w, "  system VM %d %q (not compared; unmark with vmmpm reconcile mark --module %d --vm %d --unmark --yes)\n", v.ID, v.Name, m.ModuleID, v.ID)
		}
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintln(w, "\nnothing to reconcile: VMmanager and vmmpm agree")
		return
	}
	fmt.Fprintln(w)
	_ = printList(w, false, rep.Findings, "CLASS\tMODULE\tSERVICE\tVM\tACTIONS\tFINDING", func(f reconcile.Finding) string {
		return fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s", f.Class, f.ModuleID, zeroDash(f.ServiceID), zeroDash(f.VMID),
			strings.Join(f.Actions, ","), f.Summary)
	})
	hints := map[uint64]bool{}
	for _, f := range rep.Findings {
		if f.Class == reconcile.UnknownVM && !hints[f.ModuleID] {
			hints[f.ModuleID] = true
			fmt.Fprintf(w, "\nimport module %d's unknown VMs: vmmpm reconcile import --module %d --tariff NAME --all --yes\n", f.ModuleID, f.ModuleID)
		}
	}
	fmt.Fprintln(w, "act on one finding: vmmpm reconcile fix --module ID --service ID --action ACTION [--vm ID] --yes")
}

// printFlags lists the services flagged for a reconcile look first: why, and what this scan made of it.
func printFlags(w io.Writer, flags []reconcile.Flag) {
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "flagged for a reconcile look (%d):\n", len(flags))
	for _, f := range flags {
		fmt.Fprintf(w, "  %s: %s; %s\n", flagSubject(f), f.Reason, f.Note)
	}
	fmt.Fprintln(w)
}

// flagSubject names a flag's service and module, as far as they are known.
func flagSubject(f reconcile.Flag) string {
	state := "still flagged"
	if f.Looked {
		state = "flag cleared"
	}
	if f.ServiceID == 0 {
		return fmt.Sprintf("a job of module %s (%s)", zeroDash(f.ModuleID), state)
	}
	return fmt.Sprintf("service %d of module %s (%s)", f.ServiceID, zeroDash(f.ModuleID), state)
}

// act runs an action through the backend: unconfirmed, it prints what would be done and refuses to go
// on; with --yes, it prints what was queued.
func (a *app) act(ctx context.Context, act reconcile.Action, asJSON bool) error {
	return a.withBackend(false, func(b backend.Backend) error {
		out, err := b.ReconcileAct(ctx, act)
		if err != nil {
			return err
		}
		if asJSON {
			if err := printJSON(a.stdout, out); err != nil {
				return err
			}
		} else {
			verb := "would "
			if out.Confirmed {
				verb = ""
			}
			for _, s := range out.Steps {
				fmt.Fprintf(a.stdout, "%s%s\n", verb, s.Text)
			}
			for _, s := range out.Skipped {
				fmt.Fprintf(a.stdout, "skipped: %s\n", s.Text)
			}
		}
		switch {
		case len(out.Steps) == 0:
			return usagef("nothing to %s: no finding fits (see vmmpm reconcile --module %d)", strings.ReplaceAll(act.Action, "_", " "), act.Module)
		case !out.Confirmed:
			return usagef("nothing was changed: run the same command with --yes to do the above")
		}
		if !asJSON {
			fmt.Fprintln(a.stdout, queuedAdvice(ctx, b, "the jobs are queued"))
		}
		return nil
	})
}

func reconcileImportCmd(a *app) *cobra.Command {
	var module uint64
	var vms []uint
	var tariff string
	var all, yes, asJSON bool
	c := &cobra.Command{
		Use:   "import --module ID (--all | --vm ID...) [--tariff ID|NAME] [--yes]",
		Short: "Make a service of each unknown VM: the tariff given (or the one whose sizes match), the client from the VM's account, the status from its state",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			switch {
			case module == 0:
				return usagef("give the module as --module ID; see vmmpm module list")
			case all == (len(vms) > 0):
				return usagef("give either --all (every unknown VM of the module) or --vm ID, not both and not neither")
			}
			return a.act(c.Context(), reconcile.Action{Module: module, Action: reconcile.ActImport, VMs: uint64s(vms), All: all, Tariff: tariff, Confirm: yes}, asJSON)
		},
	}
	c.Flags().Uint64Var(&module, "module", 0, "the module whose unknown VMs to import")
	c.Flags().UintSliceVar(&vms, "vm", nil, "a VM id to import (repeatable, or comma-separated)")
	c.Flags().BoolVar(&all, "all", false, "import every unknown VM of the module")
	c.Flags().StringVar(&tariff, "tariff", "", "the services' tariff, by name or id (default: the tariff whose CPU, RAM and disk match each VM)")
	c.Flags().BoolVar(&yes, "yes", false, "do it; without --yes nothing is changed and the command says what it would do")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func reconcileFixCmd(a *app) *cobra.Command {
	var module, service, vm uint64
	var action string
	var yes, asJSON bool
	var names []string
	for _, r := range queue.RcActions {
		if r.Name != queue.RcImport {
			names = append(names, "  "+r.Name+": "+r.Help)
		}
	}
	c := &cobra.Command{
		Use:   "fix --module ID --service ID --action ACTION [--vm ID] [--yes]",
		Short: "Queue one action on a service finding (remove a duplicate, open again, bring state back, take VMmanager's values)",
		Long:  "Actions, each queued as a job in the service's lane:\n" + strings.Join(names, "\n"),
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			switch {
			case module == 0 || service == 0:
				return usagef("give the module and the service as --module ID --service ID; see vmmpm reconcile")
			case action == "":
				return usagef("give the action as --action NAME; see vmmpm reconcile fix --help")
			}
			act := reconcile.Action{Module: module, Action: action, Service: service, Confirm: yes}
			if vm != 0 {
				act.VMs = []uint64{vm}
			}
			return a.act(c.Context(), act, asJSON)
		},
	}
	c.Flags().Uint64Var(&module, "module", 0, "the finding's module")
	c.Flags().Uint64Var(&service, "service", 0, "the finding's service")
	c.Flags().StringVar(&action, "action", "", "what to do (see the list above)")
	c.Flags().Uint64Var(&vm, "vm", 0, "the VM it is about (remove_duplicate: the one to delete)")
	c.Flags().BoolVar(&yes, "yes", false, "do it; without --yes nothing is changed and the command says what it would do")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func reconcileMarkCmd(a *app) *cobra.Command {
	var module uint64
	var vms []uint
	var unmark, yes, asJSON bool
	c := &cobra.Command{
		Use:   "mark --module ID --vm ID... [--unmark] [--yes]",
		Short: "Mark VMs as system (never reported again), or unmark them",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if module == 0 || len(vms) == 0 {
				return usagef("give the module and the VMs as --module ID --vm ID; see vmmpm reconcile")
			}
			action := reconcile.ActMarkSystem
			if unmark {
				action = reconcile.ActUnmarkSystem
			}
			return a.markVMs(c.Context(), reconcile.Action{Module: module, Action: action, VMs: uint64s(vms), Confirm: yes}, asJSON)
		},
	}
	c.Flags().Uint64Var(&module, "module", 0, "the VMs' module")
	c.Flags().UintSliceVar(&vms, "vm", nil, "a VM id (repeatable, or comma-separated)")
	c.Flags().BoolVar(&unmark, "unmark", false, "remove the mark: scans report the VMs again")
	c.Flags().BoolVar(&yes, "yes", false, "do it; without --yes nothing is changed and the command says what it would do")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// markVMs is act for marks, which are records, not jobs.
func (a *app) markVMs(ctx context.Context, act reconcile.Action, asJSON bool) error {
	return a.withBackend(false, func(b backend.Backend) error {
		out, err := b.ReconcileAct(ctx, act)
		if err != nil {
			return err
		}
		if asJSON {
			return errors.Join(printJSON(a.stdout, out), unconfirmed(out))
		}
		for _, s := range out.Steps {
			verb := "would "
			if out.Confirmed {
				verb = "done: "
			}
			fmt.Fprintf(a.stdout, "%s%s\n", verb, s.Text)
		}
		return unconfirmed(out)
	})
}

func unconfirmed(out *reconcile.Acted) error {
	if out.Confirmed {
		return nil
	}
	return usagef("nothing was changed: run the same command with --yes to do the above")
}

func uint64s(v []uint) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = uint64(x)
	}
	return out
}
