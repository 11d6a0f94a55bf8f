package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"vmmpm/backend"
	"vmmpm/lease"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"

	"github.com/spf13/cobra"
)

func newStatusCmd(a *app) *cobra.Command {
	var asJSON, watch bool
	c := &cobra.Command{
		Use:   "status [--json] [--watch]",
		Short: "Say whether a vmmpm server runs, with job counts by state and each module's health",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			show := func() error {
				return a.withReader(func(b backend.Backend) error { // a read-only file can be told about too
					st, err := b.Status(c.Context())
					if err != nil {
						return err
					}
					if asJSON {
						return printJSON(a.stdout, st)
					}
					printStatus(a.stdout, st, a.socketPath())
					return nil
				})
			}
			if !watch {
				return show()
			}
			return a.watch(c.Context(), asJSON, show)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&watch, "watch", false, "repaint every 2 s until Ctrl+C (with --json: one object each time)")
	return c
}

func printStatus(w io.Writer, st *backend.Status, socket string) {
	if st.Server {
		fmt.Fprintf(w, "server:    running, pid %d, up %s, version %s\n", st.PID,
			time.Since(st.Started).Truncate(time.Second), st.Version)
		fmt.Fprintf(w, "socket:    %s\n", st.Socket)
		if st.API != "" {
			fmt.Fprintf(w, "api:       %s\n", st.API)
			if st.Fingerprint != "" {
				fmt.Fprintf(w, "tls:       SHA-256 %s (pin it: clients trust exactly this certificate)\n", st.Fingerprint)
			}
		}
	} else {
		fmt.Fprintf(w, "server:    not running (nothing answers on %s); commands open the database themselves; start one with vmmpm serve\n", socket)
	}
	fmt.Fprintf(w, "database:  %s\n", st.DB)
	fmt.Fprintf(w, "passwords: %s\n", st.Secrets)
	if st.Keyring != "" {
		fmt.Fprintf(w, "           UNAVAILABLE: %s; until then no new password or module can be saved, and the engine goes on only with the logins it holds (jobs that need a password wait)\n", st.Keyring)
	}
	for _, id := range st.WebhooksLacking {
		fmt.Fprintf(w, "webhooks:  this host's keyring lacks webhook %d's secret (or holds another one), so its deliveries wait here: vmmpm webhook secret %d --secret-file FILE (the secret webhook add was given or printed)\n", id, id)
	}
	if st.Quarantined > 0 {
		fmt.Fprintf(w, "damage:    %d unreadable record(s) put in quarantine; vmmpm check lists them and the services that need vmmpm reconcile\n", st.Quarantined)
	}
	if st.ReconcileLooks > 0 {
		fmt.Fprintf(w, "reconcile: %d service(s) need a reconcile look: vmmpm reconcile\n", st.ReconcileLooks)
	}
	if st.Server {
		fmt.Fprintf(w, "engine:    %s\n", st.Engine)
		if st.Engine.Paused {
			fmt.Fprintf(w, "           nothing starts until the database can be written again: %s; it resumes by itself\n", st.Engine.PauseAdvice)
		}
		if st.Engine.WaitingAdvice != "" {
			fmt.Fprintf(w, "           %s\n", st.Engine.WaitingAdvice)
		}
		printBackups(w, st.Backups) // backup.go
	}
	parts := make([]string, 0, len(store.JobStates))
	for _, s := range store.JobStates {
		parts = append(parts, fmt.Sprintf("%s %d", s, st.Jobs[s]))
	}
	fmt.Fprintf(w, "jobs:      %s\n", strings.Join(parts, " · "))
	printEngines(w, st.Engines)
	for _, m := range st.Modules { // module pause: one line each
		if m.Paused != nil {
			fmt.Fprintf(w, "paused:    module %d (%s): %s; vmmpm module resume %d\n", m.ID, m.Name, m.Paused, m.ID)
		}
	}
	mods := st.Modules
	sort.Slice(mods, func(i, j int) bool { return mods[i].ID < mods[j].ID })
	rows := make([]backend.ModuleHealth, len(mods))
	copy(rows, mods)
	fmt.Fprintln(w)
	_ = printList(w, false, rows, "MODULE\tNAME\tENABLED\tHEALTH\tLOGINS THIS SESSION\tLAST CHECK\tLAST RECONCILE", func(m backend.ModuleHealth) string {
		health := "ok"
		if !m.Healthy {
			health = "FLAGGED: " + m.Health
		}
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s", m.ID, m.Name, onOff(m.Enabled), health, stats.LoginsText(m.Logins),
			checkSummary(m.LastCheck), reconcileSummary(m.Reconcile))
	})
}

// reconcileSummary is a module's last reconcile scan for the status table: when, and what it found.
func reconcileSummary(s *reconcile.Summary) string {
	if s == nil {
		return "never (vmmpm reconcile)"
	}
	when := stamp(s.At)
	switch {
	case s.Error != "":
		return "FAILED " + when
	case s.Total() == 0 && !s.Failed:
		return "clean " + when
	}
	var parts []string
	for _, c := range reconcile.Classes {
		if n := s.Counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c, n))
		}
	}
	text := when + ": " + strings.Join(parts, " · ")
	if s.Failed {
		text += " (read in part)"
	}
	return text
}

// printEngines lists a shared database's engines: which one runs the jobs (holds lanes), the
// standbys, and the dead of the last hour, each with its last renewal.
func printEngines(w io.Writer, es []lease.EngineInfo) {
	for i, e := range es {
		role := "standby"
		switch {
		case !e.Live:
			role = "GONE (lease lapsed)"
		case e.Lanes > 0:
			role = "runs the engine"
		}
		label := "           "
		if i == 0 {
			label = "engines:   "
		}
		line := fmt.Sprintf("%shost %s (pid %d, %s): %s, renewed %s ago", label, e.Host, e.PID, e.Version, role,
			time.Since(e.RenewedAt).Truncate(time.Second))
		if len(e.LacksWebhooks) > 0 {
			line += fmt.Sprintf("; lacks the secret of webhook %v (a host holding more passwords and webhook secrets runs the engine first; give it with vmmpm webhook secret on that host)", e.LacksWebhooks)
		}
		if len(e.Lacks) > 0 {
			line += fmt.Sprintf("; lacks the password of module %v (it runs the engine only while no live host holds more current passwords, and their jobs then wait: run vmmpm module password on that host)", e.Lacks)
		}
		fmt.Fprintln(w, line)
	}
}
