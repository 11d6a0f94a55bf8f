package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
)

func newWebhookCmd(a *app) *cobra.Command {
	cmd := groupCmd("webhook", "Tell billing what happened: signed event deliveries to its URL")
	cmd.AddCommand(webhookAddCmd(a), webhookListCmd(a), webhookRmCmd(a), webhookTestCmd(a), webhookDeliveriesCmd(a), webhookSecretCmd(a))
	return cmd
}

func webhookAddCmd(a *app) *cobra.Command {
	var events, secretFile string
	c := &cobra.Command{
		Use:   "add URL --events LIST [--secret-file F]",
		Short: "Send events (service.*, job.failed, …) to URL, signed with a secret kept in the keyring",
		Long: "Adds a webhook: every event it names is posted to URL (https://, or http:// to a loopback\n" +
			"address) until the receiver answers 2xx, retried with backoff for up to 72 hours, one service's\n" +
			"events in order. Events: " + strings.Join(store.EventTypes(), ", ") + ";\n" +
			"service.* and job.* name a family, * everything. Each delivery carries Vmmpm-Delivery (its id,\n" +
			"the same on every retry), Vmmpm-Event and Vmmpm-Signature: t=UNIXSECONDS,v1=HEX, the lowercase hex\n" +
			"HMAC-SHA256 of the timestamp, \".\" and the raw body, keyed by the secret. Without --secret-file\n" +
			"a secret is generated and printed once, alone on the last line. The secret lives in the OS keyring.",
		Args: exactArgs(1, "the receiver's URL"),
		RunE: func(c *cobra.Command, args []string) error {
			if events == "" {
				return usagef("--events is required, e.g. --events service.*,job.failed")
			}
			var secret string
			if secretFile != "" {
				var err error
				if secret, err = readSecretFile(secretFile); err != nil {
					return err
				}
			}
			var list []string
			for e := range strings.SplitSeq(events, ",") {
				if e = strings.TrimSpace(e); e != "" {
					list = append(list, e)
				}
			}
			return a.withBackend(true, func(b backend.Backend) error {
				added, err := b.AddWebhook(c.Context(), backend.WebhookRequest{URL: args[0], Events: list, Secret: secret})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "added webhook %d for %s (%s); its secret is in the keyring\n", added.Webhook.ID,
					added.Webhook.URL, strings.Join(added.Webhook.Events, ","))
				if added.Secret != "" {
					fmt.Fprintln(a.stdout, "the generated secret, shown only now (the receiver checks signatures with it):")
					fmt.Fprintln(a.stdout, added.Secret)
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&events, "events", "", "comma-separated event types or families (service.*, job.failed, *)")
	c.Flags().StringVar(&secretFile, "secret-file", "", "file holding the signing secret (default: generate one)")
	return c
}

// readSecretFile is a webhook secret kept in path (its line end dropped).
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("cannot read the secret file: %v", err)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return "", usagef("the secret file %s is empty", path)
	}
	return secret, nil
}

// webhookSecretCmd gives this host's keyring a webhook's secret. On a shared database each host signs
// with its own keyring, so a host that takes over the engine needs the secret webhook add made.
func webhookSecretCmd(a *app) *cobra.Command {
	var secretFile string
	c := idCmd(kindWebhook, "secret ID --secret-file F", "Keep webhook ID's secret in this host's keyring (a second host of a shared database)",
		func(c *cobra.Command, id uint64) error {
			if secretFile == "" {
				return usagef("--secret-file is required: the file holding the secret webhook add was given or printed")
			}
			secret, err := readSecretFile(secretFile)
			if err != nil {
				return err
			}
			return a.withHostBackend(func(b backend.Backend) error {
				if err := b.SetWebhookSecret(c.Context(), id, secret); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "webhook %d: its secret is in this host's keyring; deliveries from here are signed with it\n", id)
				return nil
			})
		})
	c.Long = "Keeps the signing secret of webhook ID in this host's OS keyring. On a database shared by several\n" +
		"hosts each signs deliveries with the secret in its own keyring: give every host the secret that\n" +
		"webhook add was given (--secret-file) or printed. A host lacking it sends nothing for that webhook;\n" +
		"its deliveries wait, counting no attempt, and webhook deliveries says so. It works on a standby,\n" +
		"beside another host's engine: only this host's keyring changes."
	c.Flags().StringVar(&secretFile, "secret-file", "", "file holding the webhook's signing secret")
	return c
}

func webhookListCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--json]",
		Short: "List webhooks (never their secrets)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.withReader(func(b backend.Backend) error {
				ws, err := b.Webhooks(c.Context())
				if err != nil {
					return err
				}
				return printList(a.stdout, asJSON, ws, "ID\tURL\tEVENTS\tCREATED\tCREATED BY", func(w store.Webhook) string {
					return fmt.Sprintf("%d\t%s\t%s\t%s\t%s", w.ID, w.URL, strings.Join(w.Events, ","), stamp(w.CreatedAt), dash(w.CreatedBy))
				})
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

var kindWebhook = kind{name: "webhook", list: "webhook list"}

func webhookRmCmd(a *app) *cobra.Command {
	return idCmd(kindWebhook, "rm ID", "Remove a webhook, its pending deliveries and its secret", func(c *cobra.Command, id uint64) error {
		return a.withBackend(false, func(b backend.Backend) error {
			if err := b.RemoveWebhook(c.Context(), id); err != nil {
				return kindWebhook.refusal(id, err)
			}
			fmt.Fprintf(a.stdout, "removed webhook %d\n", id)
			return nil
		})
	})
}

// testWait is how long webhook test waits for the test delivery's first outcome.
const testWait = 15 * time.Second

func webhookTestCmd(a *app) *cobra.Command {
	return idCmd(kindWebhook, "test ID", "Send a webhook.test event to a webhook and say how it went", func(c *cobra.Command, id uint64) error {
		return a.withBackend(false, func(b backend.Backend) error {
			d, err := b.TestWebhook(c.Context(), id)
			if err != nil {
				return kindWebhook.refusal(id, err)
			}
			if info, err := b.Info(c.Context()); err == nil && info.Mode == backend.ModeDirect {
				fmt.Fprintf(a.stdout, "queued delivery %d; it is sent once vmmpm serve (or the TUI) runs the engine\n", d.ID)
				return nil
			}
			return waitDelivery(c.Context(), a, b, d.ID)
		})
	})
}

func waitDelivery(ctx context.Context, a *app, b backend.Backend, id uint64) error {
	deadline := time.Now().Add(testWait)
	for {
		ds, err := b.Deliveries(ctx, backend.DeliveryQuery{ID: id, Limit: 1})
		if err != nil {
			return err
		}
		if len(ds) == 1 && (ds[0].State != store.DeliveryPending || ds[0].Attempts > 0) {
			d := ds[0]
			if d.State == store.DeliveryDelivered {
				fmt.Fprintf(a.stdout, "delivery %d: delivered, the receiver answered %d\n", d.ID, d.LastStatus)
				return nil
			}
			return fmt.Errorf("delivery %d failed (%s); it is retried until %s, see vmmpm webhook deliveries --failed", d.ID, d.LastError,
				stamp(d.CreatedAt.Add(72*time.Hour)))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("delivery %d has had no answer within %s; see vmmpm webhook deliveries", id, testWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func webhookDeliveriesCmd(a *app) *cobra.Command {
	var failed, asJSON bool
	var limit int
	c := &cobra.Command{
		Use:   "deliveries [--failed] [--json]",
		Short: "What is pending (and why), then the newest finished deliveries",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.withReader(func(b backend.Backend) error {
				ds, err := b.Deliveries(c.Context(), backend.DeliveryQuery{Failed: failed, Limit: limit})
				if err != nil {
					return err
				}
				if asJSON {
					for i := range ds {
						ds[i].Body = nil // the payloads, with the API's shapes, are for receivers
					}
				}
				return printList(a.stdout, asJSON, ds, "ID\tWEBHOOK\tEVENT\tSERVICE\tSTATE\tTRIES\tNEXT TRY\tLAST ANSWER", func(d store.Delivery) string {
					last := d.LastError
					if last == "" && d.LastStatus != 0 {
						last = fmt.Sprint(d.LastStatus)
					}
					return fmt.Sprintf("%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s", d.ID, d.Webhook, d.Event, zeroDash(d.Service), d.State,
						d.Attempts, stamp(d.NextAt), dash(last))
				})
			})
		},
	}
	c.Flags().BoolVar(&failed, "failed", false, "only deliveries that failed at least once (or were given up)")
	c.Flags().IntVar(&limit, "limit", 100, "at most this many")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
