package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
)

func newTokenCmd(a *app) *cobra.Command {
	cmd := groupCmd("token", "HTTPS API tokens for billing: add (shown once), list, rm")
	cmd.AddCommand(tokenAddCmd(a), tokenListCmd(a), tokenRmCmd(a))
	return cmd
}

func tokenAddCmd(a *app) *cobra.Command {
	var role, expires string
	c := &cobra.Command{
		Use:   "add NAME --role reader|operator|admin [--expires D]",
		Short: "Make an API token and print it once (only its hash is kept)",
		Long: "Makes a token for the HTTPS API (vmmpm serve --listen). It is printed once, alone on the last line;\n" +
			"vmmpm keeps only its SHA-256, so a lost token is removed (token rm) and made again. Roles: reader\n" +
			"reads; operator also orders services and runs operations; admin also changes tariffs and checks\n" +
			"modules. --expires takes a duration (90d, 12h, 30m) or a date (2026-12-31, or RFC 3339).\n" +
			"Calls carry it as Authorization: Bearer TOKEN; jobs they make say \"by token NAME\".",
		Args: exactArgs(1, "the token's name"),
		RunE: func(c *cobra.Command, args []string) error {
			if role == "" {
				return usagef("--role is required: reader, operator or admin")
			}
			var until time.Time
			if expires != "" {
				var err error
				if until, err = parseExpiry(expires, time.Now()); err != nil {
					return err
				}
			}
			return a.withBackend(true, func(b backend.Backend) error {
				added, err := b.AddToken(c.Context(), backend.TokenRequest{Name: args[0], Role: role, Expires: until})
				if err != nil {
					return err
				}
				exp := "never expires"
				if !added.Token.ExpiresAt.IsZero() {
					exp = "expires " + stamp(added.Token.ExpiresAt)
				}
				fmt.Fprintf(a.stdout, "added token %q (role %s, %s); it is shown only now, so keep it where billing reads it:\n",
					added.Token.Name, added.Token.Role, exp)
				fmt.Fprintln(a.stdout, added.Secret)
				return nil
			})
		},
	}
	c.Flags().StringVar(&role, "role", "", "reader, operator or admin")
	c.Flags().StringVar(&expires, "expires", "", "when it stops working: a duration (90d, 12h) or a date (2026-12-31)")
	return c
}

// parseExpiry reads --expires: a duration from now (with d for days) or a date.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return now.AddDate(0, 0, days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--expires %q is neither a duration (90d, 12h, 30m) nor a date (2026-12-31)", s)
}

func tokenListCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--json]",
		Short: "List API tokens: name, role, created, last used, expiry (never the tokens)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.withReader(func(b backend.Backend) error {
				ts, err := b.Tokens(c.Context())
				if err != nil {
					return err
				}
				now := time.Now()
				return printList(a.stdout, asJSON, ts, "NAME\tROLE\tCREATED\tLAST USED\tEXPIRES\tCREATED BY", func(t store.Token) string {
					exp := stamp(t.ExpiresAt)
					if t.Expired(now) {
						exp += " (EXPIRED)"
					}
					return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", t.Name, t.Role, stamp(t.CreatedAt), stamp(t.LastUsed), exp, dash(t.CreatedBy))
				})
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func tokenRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove an API token: calls with it are refused (401) within a second",
		Args:  exactArgs(1, "the token's name"),
		RunE: func(c *cobra.Command, args []string) error {
			return a.withBackend(false, func(b backend.Backend) error {
				if err := b.RemoveToken(c.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "removed token %q\n", args[0])
				return nil
			})
		},
	}
}
