package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/stats"
)

func newStatsCmd(a *app) *cobra.Command {
	var asJSON bool
	var format string
	c := &cobra.Command{
		Use:   "stats [--json] [--format text|json|openmetrics]",
		Short: "Print the lanes and each module's throughput, errors and VMmanager answer time",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if asJSON {
				format = "json"
			}
			if format != "text" && format != "json" && format != "openmetrics" {
				return withCode(exitUsage, fmt.Errorf("--format %q is not known; use text, json or openmetrics", format))
			}
			return a.withBackend(false, func(b backend.Backend) error {
				s, err := b.Stats(c.Context())
				if err != nil {
					return err
				}
				switch format {
				case "json":
					return printJSON(a.stdout, s)
				case "openmetrics":
					return stats.WriteOpenMetrics(a.stdout, s)
				}
				printStats(a.stdout, s)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (same as --format json)")
	c.Flags().StringVar(&format, "format", "text", "text, json or openmetrics (Prometheus text format)")
	return c
}

func printStats(w io.Writer, s *stats.Snapshot) {
	for _, m := range s.Modules {
		state := "ok"
		if m.Flagged {
			state = "FLAGGED: " + m.Flag
		}
		fmt.Fprintf(w, "module %d %s: %s\n", m.ID, m.Name, state)
		fmt.Fprintf(w, "  last hour: %d done, %d failed, %d retried, error rate %.0f%%; VMmanager answer p50 %s p95 %s\n",
			m.Hour.Done, m.Hour.Failed, m.Hour.Retried, 100*m.Hour.ErrorRate(), stats.Short(m.AnswerP50), stats.Short(m.AnswerP95))
		fmt.Fprintf(w, "  per minute: |%s| (last 60 minutes)\n", stats.Sparkline(m.PerMinute))
		fmt.Fprintf(w, "  last check: %s\n", checkSummary(m.LastCheck))
		fmt.Fprintf(w, "  VMmanager logins in the current session period: %s\n", loginsSummary(m.Logins))
		printRoom(w, &m)
		for _, t := range m.Types {
			fmt.Fprintf(w, "  %-12s %4d done %3d failed %3d retried  p50 %-7s p95 %s\n", t.Type, t.Done, t.Failed, t.Retried,
				stats.Short(t.P50), stats.Short(t.P95))
		}
		for _, e := range m.Errors {
			fmt.Fprintf(w, "  error %s job %d %s: %s\n", e.At.Local().Format("15:04:05"), e.Job, e.Type, e.Message)
		}
	}
	if len(s.Lanes) == 0 {
		return
	}
	fmt.Fprintln(w)
	_ = printList(w, false, s.Lanes, "LANE\tMODULE\tRUNNING\tWAITING\tLAST OUTCOMES (oldest first)", func(l stats.Lane) string {
		running := "idle"
		if r := l.Running; r != nil {
			running = fmt.Sprintf("job %d %s for %s", r.Job, r.Type, stats.Short(s.At.Sub(r.Since)))
		}
		return fmt.Sprintf("%s\t%d\t%s\t%d\t%s", l.Key, l.Module, running, l.Waiting, strings.ToUpper(l.Recent))
	})
}

// loginsSummary is the logins figure with when its period began, or why it is unknown.
func loginsSummary(l *stats.Logins) string {
	switch {
	case l == nil:
		return "- (unknown: no engine runs in this process)"
	case l.Since.IsZero():
		return stats.LoginsText(l) + " (no period running)"
	}
	return stats.LoginsText(l) + " (since " + l.Since.Local().Format("15:04:05") + ")"
}

// printRoom is a module's free room: each pool, the cluster, and what is below its warning threshold.
func printRoom(w io.Writer, m *stats.Module) {
	c := m.Capacity
	if c == nil {
		fmt.Fprintln(w, "  free in VMmanager: - (unknown: not read yet, or VMmanager could not be reached)")
		return
	}
	fmt.Fprintf(w, "  free in VMmanager (read %s): %s\n", c.At.Local().Format("15:04:05"), orDash(stats.RoomText(c)))
	for _, p := range c.Pools {
		free := "count not given"
		if p.IPv4 != nil {
			free = fmt.Sprintf("%d of %d IPv4 free", p.IPv4.Free(), p.IPv4.Total)
		}
		fmt.Fprintf(w, "    pool %d %s (interface %d): %s\n", p.ID, p.Name, p.Interface, free)
	}
	for _, low := range m.Low {
		fmt.Fprintf(w, "  WARNING: low (under %d%% free): %s\n", m.CapacityWarn, low)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
