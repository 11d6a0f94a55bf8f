package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
)

func newAuditCmd(a *app) *cobra.Command {
	var since, actor string
	var asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "audit [--since D] [--actor WHO] [--json]",
		Short: "Every change and who made it: a token, a Unix user over the socket or directly, the TUI",
		Long: "Prints the audit trail, oldest first: when, who (token NAME, uid N (user)), how (token, socket,\n" +
			"process, tui), what (service.create, job.cancel, tariff.save, token.add, …), to what, and how it\n" +
			"ended (ok, refused by a rule, failed). The newest 100,000 entries are kept. --since takes a\n" +
			"duration back from now (24h, 7d) or a date; --actor keeps entries whose actor contains it.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			q := backend.AuditQuery{Actor: actor, Limit: limit}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				q.Since = t
			}
			return a.withReader(func(b backend.Backend) error {
				es, err := b.Audit(c.Context(), q)
				if err != nil {
					return err
				}
				return printList(a.stdout, asJSON, es, "AT\tACTOR\tVIA\tACTION\tTARGET\tOUTCOME", func(e store.AuditEntry) string {
					out := e.Outcome
					if e.Error != "" {
						out += ": " + e.Error
					}
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", stamp(e.At), e.Actor, e.Via, e.Action, dash(e.Target), out)
				})
			})
		},
	}
	c.Flags().StringVar(&since, "since", "", "only entries since then: a duration back (24h, 7d) or a date (2026-01-31)")
	c.Flags().StringVar(&actor, "actor", "", "only entries whose actor contains this (billing-prod, uid 1000)")
	c.Flags().IntVar(&limit, "limit", 0, "only the newest N (0: all)")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of entries (actor, action, at, …)")
	return c
}

// parseSince reads --since: a duration back from now (d for days) or a date.
func parseSince(s string, now time.Time) (time.Time, error) {
	t, err := parseExpiry(s, now)
	if err != nil {
		return time.Time{}, usagef("--since %q is neither a duration (24h, 7d) nor a date (2026-12-31)", s)
	}
	if t.After(now) { // a duration: as far back as it is ahead
		return now.Add(-t.Sub(now)), nil
	}
	return t, nil
}
