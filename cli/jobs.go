package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

type jobsFlags struct {
	state  string
	module uint64
	limit  int
	since  time.Duration
	follow bool
	asJSON bool
}

func newJobsCmd(a *app) *cobra.Command {
	var f jobsFlags
	c := &cobra.Command{
		Use:   "jobs [--state S] [--module ID] [--since 2h] [--limit N] [--follow] [--json]",
		Short: "List VPS operations (jobs); --follow runs the engine here and prints each change",
		Long: "Lists jobs, oldest first. --state is one of " + strings.Join(store.JobStates, ", ") + ".\n" +
			"The database admits one vmmpm at a time, so --follow runs the engine in this process (with the\n" +
			"OS keyring) and prints a line for every job change until interrupted; with --json one JSON\n" +
			"object per line.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if f.state != "" && !slices.Contains(store.JobStates, f.state) {
				return usagef("--state must be one of %s, got %q", strings.Join(store.JobStates, ", "), f.state)
			}
			if f.limit < 0 || f.since < 0 {
				return usagef("--limit and --since must not be negative")
			}
			return a.jobs(c.Context(), f)
		},
	}
	c.AddCommand(jobActionCmd(a, "retry", "Queue failed jobs again with fresh attempts", backend.Backend.Retry),
		jobActionCmd(a, "cancel", "Cancel jobs that have not started (queued or waiting to retry)", backend.Backend.Cancel))
	c.Flags().StringVar(&f.state, "state", "", "only jobs in this state")
	c.Flags().Uint64Var(&f.module, "module", 0, "only jobs of this module id")
	c.Flags().IntVar(&f.limit, "limit", 0, "only the newest N jobs that match (0: all)")
	c.Flags().DurationVar(&f.since, "since", 0, "only jobs enqueued within this long (e.g. 30m, 2h)")
	c.Flags().BoolVar(&f.follow, "follow", false, "run the engine and print each job change until interrupted")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	return c
}

func (f jobsFlags) query() backend.JobQuery {
	q := backend.JobQuery{State: f.state, Module: f.module, Limit: f.limit}
	if f.since > 0 {
		q.Since = time.Now().Add(-f.since)
	}
	return q
}

func (a *app) jobs(ctx context.Context, f jobsFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	open := a.openForReading
	if f.follow {
		open = a.openExisting // may run the engine here
	}
	b, err := a.backendOn(open)
	if err != nil {
		return err
	}
	defer b.Close()
	rows, err := b.Jobs(ctx, f.query())
	if err != nil {
		return err
	}
	names, err := moduleNames(ctx, b)
	if err != nil {
		return err
	}
	line := func(j *store.Job) string { return strings.Join(jobCells(j, names), "\t") }
	if !f.follow {
		return printList(a.stdout, f.asJSON, rows, strings.Join(jobColumns, "\t"), line)
	}
	if !f.asJSON {
		if err := printList(a.stdout, false, rows, strings.Join(jobColumns, "\t"), line); err != nil {
			return err
		}
	}
	return a.followJobs(ctx, b, f, names)
}

var jobColumns = []string{"ID", "SERVICE", "TYPE", "MODULE", "QUEUE KEY", "STATE", "ATTEMPT", "ENQUEUED", "LAST"}

// jobCells are a job's columns; the module is named beside its id.
func jobCells(j *store.Job, modules map[uint64]string) []string {
	last := j.Error
	if last == "" && len(j.Log) > 0 {
		last = j.Log[len(j.Log)-1].Text
	}
	return []string{strconv.FormatUint(j.ID, 10), strconv.FormatUint(j.ServiceID, 10), j.Type,
		named(j.ModuleID, modules), dash(j.QueueKey), j.State, fmt.Sprintf("%d/%d", j.Attempt, j.MaxAttempts),
		j.EnqueuedAt.Local().Format("2006-01-02 15:04:05"), dash(last)}
}

// followWidths are --follow's column widths: lines come one at a time, so they cannot be measured.
var followWidths = []int{8, 7, 7, 11, 18, 14, 10, 7, 19, 0}

// followRow lays cells out under followWidths.
func followRow(cells ...string) string {
	var b strings.Builder
	for i, c := range cells {
		if w := followWidths[i]; w > 0 && i < len(cells)-1 {
			fmt.Fprintf(&b, "%-*s ", w, cutTo(c, w))
			continue
		}
		b.WriteString(c)
	}
	return strings.TrimRight(b.String(), " ")
}

// followJobs prints job changes matching f until interrupted: the server's events when one holds the
// database, else those of an engine run here (the database admits one vmmpm at a time).
func (a *app) followJobs(ctx context.Context, b backend.Backend, f jobsFlags, names map[uint64]string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	if l, ok := b.(*backend.Local); ok {
		eng, err := l.Engine()
		if err != nil {
			return err
		}
		l.Mode = backend.ModeEngine
		go func() { done <- eng.Run(ctx) }()
	}
	events, err := b.Events(ctx, 0, false)
	if err != nil {
		return err
	}
	q := f.query()
	q.Since, q.Limit = time.Time{}, 0 // they choose the listing above; every change from now on is shown
	enc := json.NewEncoder(a.stdout)
	if !f.asJSON {
		fmt.Fprintln(a.stdout, followRow(append([]string{"TIME"}, jobColumns...)...))
	}
	for {
		select {
		case err := <-done:
			return err
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("the vmmpm server stopped; run vmmpm jobs --follow again once it is back")
			}
			if ev.Kind != queue.JobChanged || !q.Match(ev.Job) {
				continue
			}
			if f.asJSON {
				_ = enc.Encode(ev.Job)
			} else {
				fmt.Fprintln(a.stdout, followRow(append([]string{time.Now().Format("15:04:05")}, jobCells(ev.Job, names)...)...))
			}
		}
	}
}

// jobActionCmd is `jobs retry ID…` / `jobs cancel ID…`, the jobs pane's r and c keys.
func jobActionCmd(a *app, verb, short string, act func(backend.Backend, context.Context, uint64) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID…",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give one or more job ids; see vmmpm jobs")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return a.withBackend(false, func(b backend.Backend) error {
				for _, id := range ids {
					if err := act(b, c.Context(), id); err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "job %d: %s\n", id, map[string]string{"retry": "queued again", "cancel": "cancelled"}[verb])
				}
				return nil
			})
		},
	}
}
