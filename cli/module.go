package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/ui/wizardform"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

func newModuleCmd(a *app) *cobra.Command {
	cmd := groupCmd("module", "VMmanager 6 processing modules: add, list, show, set, rm, check, password, pause, resume, drain")
	cmd.AddCommand(moduleAddCmd(a), moduleListCmd(a), moduleShowCmd(a), moduleSetCmd(a), moduleRmCmd(a),
		moduleCheckCmd(a), modulePasswordCmd(a), modulePauseCmd(a, true), modulePauseCmd(a, false), moduleDrainCmd(a))
	return cmd
}

func moduleAddCmd(a *app) *cobra.Command {
	var specPath string
	var accessible bool
	c := &cobra.Command{
		Use:   "add [--spec FILE]",
		Short: "Add a module: the interactive wizard on a terminal, or a JSON spec with the password on stdin",
		Long: "Without --spec on a terminal, opens the Add wizard (product type, processing module, integration,\n" +
			"module parameters, review). With --spec FILE, reads the same fields from JSON and the password\n" +
			"from stdin (one line; prompted without echo on a terminal), logs in to VMmanager and saves.\n\n" +
			"Example spec:\n" + wizard.ExampleSpec,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if specPath == "" {
				return a.moduleWizard(accessible)
			}
			return a.moduleAddSpec(specPath)
		},
	}
	c.Flags().StringVar(&specPath, "spec", "", "JSON file with the wizard's fields (see --help)")
	c.Flags().BoolVar(&accessible, "accessible", os.Getenv("ACCESSIBLE") != "", "plain prompts instead of the full-screen wizard (screen readers)")
	return c
}

// moduleAddSpec is the non-interactive wizard: the spec and the password go to the backend, which
// validates, logs in to VMmanager and saves the module with its password.
func (a *app) moduleAddSpec(path string) error {
	spec, err := readSpec(path, wizard.ParseSpec)
	if err != nil {
		return err
	}
	password, err := a.readModulePassword()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var added *backend.ModuleAdded
	err = a.withBackend(true, func(b backend.Backend) (err error) {
		added, err = b.AddModule(ctx, spec, password)
		return err
	})
	if err != nil {
		return checkExit(err)
	}
	for _, w := range added.Warnings {
		fmt.Fprintln(a.stderr, "vmmpm: warning: "+w)
	}
	printAdded(a.stdout, added.Module)
	return nil
}

// readSpec parses the spec file at path (module add, tariff add and edit).
func readSpec[T any](path string, parse func(io.Reader) (*T, error)) (*T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("cannot read the spec file: %v", err)
	}
	defer f.Close()
	return parse(f)
}

// printAdded is the line module add prints, from the spec or the wizard.
func printAdded(w io.Writer, m *store.Module) {
	fmt.Fprintf(w, "added module %q with id %d (cluster %s, %s); password kept in the OS keyring\n",
		m.Name, m.ID, m.Cluster.Name, strings.ToUpper(m.Cluster.Virtualization))
}

// secretsWhere says where the side that holds the database keeps passwords.
func secretsWhere(ctx context.Context, b backend.Backend) string {
	if info, err := b.Info(ctx); err == nil && info.Secrets != "" {
		return info.Secrets
	}
	return store.NewKeyring().Describe()
}

// checkExit maps a failed integration check to the exit codes of spec §9.
func checkExit(err error) error {
	var ce *wizard.CheckError
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Cause {
	case wizard.CauseBadURL:
		return withCode(exitUsage, err)
	case wizard.CauseTLS:
		return withCode(exitUnreachable, errors.New(tlsHint(err, err.Error(), `"insecure_tls": true in the spec, or module set ID insecure_tls=on`)))
	case wizard.CauseConnection:
		return withCode(exitUnreachable, err)
	case wizard.CauseBadCredentials:
		return withCode(exitBadCreds, err)
	case wizard.CauseNotAdmin:
		return withCode(exitNotAdmin, err)
	}
	return withCode(exitFailure, err)
}

// readModulePassword takes one line from stdin, or prompts without echo when stdin is a terminal. The
// password never comes from argv.
func (a *app) readModulePassword() (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, "VMmanager password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("cannot read the password from the terminal: %w", err)
		}
		return string(b), wizard.ValidatePassword(string(b))
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cannot read the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("password: give the VMmanager password on stdin, one line (e.g. from a file: < pw.txt)")
	}
	return pw, wizard.ValidatePassword(pw)
}

func moduleListCmd(a *app) *cobra.Command {
	return listCmd(a, "modules", func(w io.Writer, b backend.Backend, asJSON bool) error {
		ctx := context.Background()
		rows, names, err := listNamed[store.Module](ctx, b)
		if err != nil {
			return err
		}
		dcName := names.DataCenters
		return printList(w, asJSON, rows, "ID\tNAME\tDATA CENTER\tSORT\tCLUSTER\tURL\tENABLED\tQUEUE\tLAST CHECK",
			func(m *store.Module) string {
				return fmt.Sprintf("%d\t%s\t%s\t%d\t%s (%s)\t%s\t%s\t%s\t%s", m.ID, m.Name, dash(dcName[m.DataCenterID]), m.Sort,
					m.Cluster.Name, strings.ToUpper(m.Cluster.Virtualization), m.URL, onOff(m.Enabled),
					queueSummary(m.Params), checkSummary(m.LastCheck))
			})
	})
}

func queueSummary(p store.Params) string {
	if !p.Queue {
		return "off"
	}
	return fmt.Sprintf("%s ×%d", p.QueueKey, p.QueueCount)
}

func checkSummary(c *store.Check) string {
	switch {
	case c == nil:
		return "never"
	case c.OK:
		return "ok " + c.At.Local().Format("2006-01-02 15:04")
	}
	return "FAILED " + c.At.Local().Format("2006-01-02 15:04")
}

// moduleCmd is a command on one module: run gets the backend and the module as stored; a missing
// module is a usage error.
func moduleCmd(a *app, use, short string, run func(c *cobra.Command, b backend.Backend, m *store.Module) error) *cobra.Command {
	return moduleCmdOn(a, func(fn func(backend.Backend) error) error { return a.withBackend(false, fn) }, use, short, run)
}

// moduleCmdOn is moduleCmd reaching its backend through with.
func moduleCmdOn(a *app, with func(func(backend.Backend) error) error, use, short string, run func(c *cobra.Command, b backend.Backend, m *store.Module) error) *cobra.Command {
	return idCmd(kindModule, use, short, func(c *cobra.Command, id uint64) error {
		return with(func(b backend.Backend) error {
			m, err := backend.Load[store.Module](c.Context(), b, id)
			if err != nil {
				return kindModule.refusal(id, err)
			}
			return run(c, b, m)
		})
	})
}

func moduleShowCmd(a *app) *cobra.Command {
	var asJSON bool
	c := moduleCmd(a, "show ID", "Show one module with its parameters and queue-key preview",
		func(c *cobra.Command, b backend.Backend, m *store.Module) error {
			if asJSON {
				return printJSON(a.stdout, m)
			}
			return a.printModule(c.Context(), b, m)
		})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) printModule(ctx context.Context, b backend.Backend, m *store.Module) error {
	dc, dept := strconv.FormatUint(m.DataCenterID, 10), strconv.FormatUint(m.DepartmentID, 10)
	if d, err := backend.Load[store.DataCenter](ctx, b, m.DataCenterID); err == nil {
		dc = fmt.Sprintf("%s (id %d)", d.Name, d.ID)
	}
	if d, err := backend.Load[store.Department](ctx, b, m.DepartmentID); err == nil {
		dept = fmt.Sprintf("%s (id %d)", d.Name, d.ID)
	}
	recipes := onOff(m.UseRecipes)
	if m.UseRecipes {
		recipes += ", active after " + map[string]string{store.RecipeWaitOS: "the OS install", store.RecipeWaitRecipe: "the recipe"}[m.RecipeWait]
	}
	check := checkSummary(m.LastCheck)
	if m.LastCheck != nil && m.LastCheck.Message != "" {
		check += ": " + m.LastCheck.Message
	}
	rows := [][2]string{
		{"id", strconv.FormatUint(m.ID, 10)}, {"name", m.Name},
		{"product type", m.ProductType}, {"module", m.Kind},
		{"url", m.URL}, {"username", m.Username}, {"password", "kept in " + secretsWhere(ctx, b)},
		{"skip TLS verification", onOff(m.InsecureTLS)},
		{"tls_pin", orNone(m.TLSPin)}, {"tls_ca_file", orNone(m.TLSCAFile)},
		{"data center", dc}, {"department", dept}, {"sort", strconv.Itoa(m.Sort)},
		{"cluster", fmt.Sprintf("%s (id %d, %s)", m.Cluster.Name, m.Cluster.ID, strings.ToUpper(m.Cluster.Virtualization))},
		{"use recipes", recipes}, {"additional interface", onOff(m.AdditionalInterface)},
		{"enabled", onOff(m.Enabled)}, {"activation limit", limitText(m.ActivationLimit)},
		{"session_ttl", fmt.Sprintf("%d s", m.Params.SessionTTL)}, {"queue", onOff(m.Params.Queue)},
		{"queue_key", m.Params.QueueKey}, {"queue_count", strconv.Itoa(m.Params.QueueCount)},
		{"queue keys", wizard.Preview(m.Params, m.ID)}, {"attempt_timeout", attemptTimeoutText(m.AttemptTimeout)},
		{"last check", check},
	}
	if act, err := b.ModuleActivity(ctx, m.ID); err == nil && act.Paused != nil {
		rows = append(rows, [2]string{"paused", act.Paused.String() + "; vmmpm module resume " + strconv.FormatUint(m.ID, 10)})
	}
	for _, r := range rows {
		fmt.Fprintf(a.stdout, "%-22s %s\n", r[0]+":", r[1])
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func attemptTimeoutText(s string) string {
	if s == "" {
		return "30m for every operation (the engine's)"
	}
	return s + "; 30m for the others"
}

func limitText(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

func moduleSetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "set ID key=value...",
		Short: "Change a module's settings: " + strings.Join(wizard.SettableKeys, ", "),
		Long: "Change a module's settings with the wizard's rules; nothing changes unless every pair is valid.\n" +
			"Keys: " + strings.Join(wizard.SettableKeys, ", ") + ".\n" +
			"Changing url, username, insecure_tls or cluster (or switching additional_interface on) logs in to\n" +
			"VMmanager with the stored password first. cluster and datacenter cannot change while the module\n" +
			"has live services. The password is changed with `module password ID`.\n" +
			"Example: vmmpm module set 7 queue=on queue_key=vmm-__PMID__-__TYPE__ queue_count=3 session_ttl=600",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("expected a module ID and at least one key=value, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			id, err := parseID(kindModule, args[0])
			if err != nil {
				return err
			}
			changes, err := wizard.ParseChanges(args[1:])
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			var m *store.Module
			var warnings []string
			err = a.withBackend(false, func(b backend.Backend) (err error) {
				m, warnings, err = b.SetModule(ctx, id, changes)
				return err
			})
			if err != nil {
				return checkExit(kindModule.refusal(id, err))
			}
			for _, w := range warnings {
				fmt.Fprintln(a.stderr, "vmmpm: warning: "+w)
			}
			fmt.Fprintf(a.stdout, "module %d updated; queue keys: %s\n", m.ID, wizard.Preview(m.Params, m.ID))
			return nil
		},
	}
}

func moduleRmCmd(a *app) *cobra.Command {
	return moduleCmd(a, "rm ID", "Remove a module and its password from the keyring (refused while it has unfinished jobs or live services)",
		func(c *cobra.Command, b backend.Backend, m *store.Module) error {
			warnings, err := b.Delete(c.Context(), backend.KindOf[store.Module](), m.ID)
			if err != nil {
				return kindModule.refusal(m.ID, err)
			}
			for _, w := range warnings {
				fmt.Fprintln(a.stderr, "vmmpm: warning: "+w)
			}
			fmt.Fprintf(a.stdout, "removed module %d %q and its password\n", m.ID, m.Name)
			return nil
		})
}

func moduleCheckCmd(a *app) *cobra.Command {
	var asJSON, deep, write bool
	var record string
	c := moduleCmd(a, "check ID [--deep [--write] [--record DIR]]", "Log in to VMmanager with the module's stored password and record the result",
		func(c *cobra.Command, b backend.Backend, m *store.Module) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			if (write || record != "") && !deep {
				return usagef("--write and --record need --deep")
			}
			if deep {
				if write {
					fmt.Fprintf(a.stderr, "vmmpm: --write creates a throwaway VM named vmmpm-deep-check-… on cluster %d (%s) of %s, "+
						"runs every operation the engine uses on it and removes it, even when a step fails; this takes minutes on a real VMmanager\n",
						m.Cluster.ID, m.Cluster.Name, m.URL)
				}
				rep, err := b.DeepCheck(ctx, m.ID, backend.DeepOptions{Write: write})
				if rep != nil && record != "" && len(rep.Answers) > 0 {
					if werr := vmm.WriteRecord(record, rep.Answers); werr != nil {
						return werr
					}
					fmt.Fprintf(a.stderr, "Wrote %d masked answers to %s.\n", len(rep.Answers), record)
				}
				if err != nil {
					if rep != nil && len(rep.Probes) > 0 { // e.g. cancelled during --write: what ran, and the cleanup
						_ = printProbes(a.stdout, rep, asJSON)
					}
					return checkExit(kindModule.refusal(m.ID, err))
				}
				if err := printProbes(a.stdout, rep, asJSON); err != nil {
					return err
				}
				return deepVerdict(rep, "run vmmpm module check --deep --record DIR against it and attach DIR to a bug report")
			}
			chk, err := b.CheckModule(ctx, m.ID)
			switch {
			case chk != nil && asJSON:
				if err := printJSON(a.stdout, chk); err != nil {
					return err
				}
			case err == nil:
				fmt.Fprintf(a.stdout, "module %d: %s\n", m.ID, chk.Message)
			}
			return checkExit(kindModule.refusal(m.ID, err))
		})
	c.Flags().BoolVar(&asJSON, "json", false, "print the recorded check as JSON")
	c.Flags().BoolVar(&deep, "deep", false, "run the read-only deep check of validate --deep with the stored password (exit 6 when a probe finds a mismatch)")
	c.Flags().BoolVar(&write, "write", false, "with --deep, for a staging VMmanager: also create a throwaway VM on the module's cluster, "+
		"run every operation the engine uses on it, check each answer and remove the VM")
	c.Flags().StringVar(&record, "record", "", "with --deep: write the answers, masked, to this folder")
	c.Long = "Without flags: log in with the stored password and record the result.\n\n" +
		"--deep reads every endpoint, filter and field the engine relies on and says per probe ok, mismatch or\n" +
		"inconclusive (nothing to compare yet, e.g. no VM on a fresh VMmanager; the row says what to create).\n" +
		"--deep --write is for a staging VMmanager, once before production: it also creates a throwaway VM\n" +
		"(vmmpm-deep-check-…) on the module's cluster, stops and starts it, posts a deferred resize of CPU, RAM\n" +
		"and disk with one more IPv4 address and restarts it, changes its password, reinstalls and reboots it,\n" +
		"deletes it, checks every answer and task, and reads the VM back after each step. The VM is removed\n" +
		"even when a step fails or the check is interrupted; the last row says nothing was left behind.\n" +
		"--record DIR keeps the answers with tokens, passwords, emails and addresses masked, for a bug report.\n\n" +
		"Exit codes: 0 no mismatch, 6 a probe found a mismatch, and the login codes of module check."
	return c
}

// modulePasswordCmd replaces a module's keyring entry, after a live login proves the new password.
func modulePasswordCmd(a *app) *cobra.Command {
	// This host's keyring is what changes, so on a shared database it works beside another host's
	// engine too: how a standby gets the password it needs to take over.
	return moduleCmdOn(a, a.withHostBackend, "password ID", "Store a new VMmanager password for a module (stdin; checked live before it is kept)",
		func(c *cobra.Command, b backend.Backend, m *store.Module) error {
			password, err := a.readModulePassword()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			if err := b.SetPassword(ctx, m.ID, password); err != nil {
				return checkExit(err)
			}
			fmt.Fprintf(a.stdout, "module %d: new password checked and kept in the OS keyring\n", m.ID)
			return nil
		})
}

// moduleWizard opens the interactive wizard; it needs a terminal.
func (a *app) moduleWizard(accessible bool) error {
	in, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return usagef("module add without --spec opens the interactive wizard, which needs a terminal; give --spec FILE with the password on stdin instead")
	}
	return runModuleWizard(a, in, accessible)
}

// runModuleWizard runs the full-screen wizard (or its accessible prompts) and reports like --spec does.
func runModuleWizard(a *app, in *os.File, accessible bool) error {
	if a.noColor {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	b, err := a.backend(true)
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	run := wizardform.Run
	if accessible {
		run = wizardform.RunAccessible
	}
	m, warnings, err := run(ctx, b, in, a.stdout)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "vmmpm: warning: "+w)
	}
	printAdded(a.stdout, m)
	return nil
}

// ---- taking a module out of service: pause, resume, drain ----

// DrainPoll is how often module drain reads what still runs.
var DrainPoll = 250 * time.Millisecond

// modulePauseCmd is `module pause ID` (pause) and `module resume ID`.
func modulePauseCmd(a *app, pause bool) *cobra.Command {
	var asJSON bool
	use, short := "pause ID", "Start none of the module's operations until resume: running ones finish, queued ones wait"
	if !pause {
		use, short = "resume ID", "End the module's pause: its queued operations start again"
	}
	c := moduleCmd(a, use, short, func(c *cobra.Command, b backend.Backend, m *store.Module) error {
		act, err := b.PauseModule(c.Context(), m.ID, pause)
		switch {
		case err != nil:
			return kindModule.refusal(m.ID, err)
		case asJSON:
			return printJSON(a.stdout, act)
		case pause:
			fmt.Fprintf(a.stdout, "module %d (%s): %s; %s; vmmpm module resume %d starts its operations again\n",
				m.ID, m.Name, act.Paused, act.Progress(), m.ID)
		default:
			fmt.Fprintf(a.stdout, "module %d (%s) runs again; %s\n", m.ID, m.Name, act.Progress())
		}
		return nil
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print the module's activity as JSON")
	return c
}

// drained is module drain --json's answer.
type drained struct {
	*backend.ModuleActivity
	Drained bool `json:"drained"`
}

func moduleDrainCmd(a *app) *cobra.Command {
	var asJSON bool
	var timeout time.Duration
	c := moduleCmd(a, "drain ID", "Pause the module, then wait until none of its operations runs",
		func(c *cobra.Command, b backend.Backend, m *store.Module) error {
			if timeout < 0 {
				return usagef("--timeout must not be negative")
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			act, err := b.PauseModule(ctx, m.ID, true)
			if err != nil {
				return kindModule.refusal(m.ID, err)
			}
			fmt.Fprintf(a.stderr, "module %d (%s): %s; waiting for its running operations\n", m.ID, m.Name, act.Paused)
			act, err = a.drain(ctx, b, act, timeout)
			if asJSON && act != nil {
				if jerr := printJSON(a.stdout, drained{act, err == nil}); jerr != nil {
					return jerr
				}
			}
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(a.stdout, "module %d (%s) is drained: nothing of it runs; %d queued wait for vmmpm module resume %d\n",
					m.ID, m.Name, act.Queued+act.Retrying, m.ID)
			}
			return nil
		})
	c.Flags().BoolVar(&asJSON, "json", false, "print the module's activity at the end as JSON (progress goes to standard error)")
	c.Flags().DurationVar(&timeout, "timeout", 0, "give up waiting after this long, leaving the module paused (0: wait until drained)")
	c.Long = "Pauses the module (as module pause) and waits until none of its operations runs, printing\n" +
		"\"2 running, 14 queued\" as it changes. Interrupted (Ctrl-C) or past --timeout it stops waiting and the\n" +
		"module stays paused. A running operation that never ends can be cancelled with vmmpm jobs cancel ID.\n" +
		"Before a VMmanager upgrade: drain, upgrade, vmmpm module resume ID."
	return c
}

// drain waits until nothing of act's module runs, printing each change of what runs and waits.
func (a *app) drain(ctx context.Context, b backend.Backend, act *backend.ModuleActivity, timeout time.Duration) (*backend.ModuleActivity, error) {
	var limit <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		limit = t.C
	}
	said := ""
	for {
		if p := act.Progress(); p != said {
			fmt.Fprintln(a.stderr, p)
			said = p
		}
		if act.Running == 0 || !act.Engine {
			if act.Running > 0 { // found running by a stopped engine: nothing follows them here
				fmt.Fprintf(a.stderr, "no engine runs here: the %d running operations were interrupted and resume, paused or not, when one starts (vmmpm serve)\n", act.Running)
			}
			return act, nil
		}
		select {
		case <-ctx.Done():
			return act, fmt.Errorf("stopped waiting with %s; module %d stays paused: run module drain %d again to wait, or vmmpm module resume %d", act.Progress(), act.ModuleID, act.ModuleID, act.ModuleID)
		case <-limit:
			return act, fmt.Errorf("module %d still has %s after %s; it stays paused: cancel what is stuck (vmmpm jobs cancel ID), run module drain %d again, or vmmpm module resume %d", act.ModuleID, act.Progress(), timeout, act.ModuleID, act.ModuleID)
		case <-time.After(DrainPoll):
		}
		next, err := b.ModuleActivity(ctx, act.ModuleID)
		switch {
		case err != nil && ctx.Err() == nil:
			return act, err
		case err == nil:
			act = next
		}
	}
}
