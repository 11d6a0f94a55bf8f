package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
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
	follow bool
	asJSON bool
}

func newJobsCmd(a *app) *cobra.Command {
	var f jobsFlags
	c := &cobra.Command{
		Use:   "jobs [--state S] [--module ID] [--follow] [--json]",
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
			return a.jobs(c.Context(), f)
		},
	}
	c.AddCommand(jobActionCmd(a, "retry", "Queue failed jobs again with fresh attempts", backend.Backend.Retry),
		jobActionCmd(a, "cancel", "Cancel jobs that have not started (queued or waiting to retry)", backend.Backend.Cancel))
	c.Flags().StringVar(&f.state, "state", "", "only jobs in this state")
	c.Flags().Uint64Var(&f.module, "module", 0, "only jobs of this module id")
	c.Flags().BoolVar(&f.follow, "follow", false, "run the engine and print each job change until interrupted")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	return c
}

func (f jobsFlags) query() backend.JobQuery {
	return backend.JobQuery{State: f.state, Module: f.module}
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
	if !f.follow {
		return printList(a.stdout, f.asJSON, rows, jobHeader, jobLine)
	}
	if !f.asJSON {
		if err := printList(a.stdout, false, rows, jobHeader, jobLine); err != nil {
			return err
		}
	}
	return a.followJobs(ctx, b, f)
}

const jobHeader = "ID\tSERVICE\tTYPE\tMODULE\tQUEUE KEY\tSTATE\tATTEMPT\tENQUEUED\tLAST"

func jobLine(j *store.Job) string {
	last := j.Error
	if last == "" && len(j.Log) > 0 {
		last = j.Log[len(j.Log)-1].Text
	}
	return fmt.Sprintf("%d\t%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s", j.ID, j.ServiceID, j.Type, zeroDash(j.ModuleID),
		dash(j.QueueKey), j.State, j.Attempt, j.MaxAttempts, j.EnqueuedAt.Local().Format("2006-01-02 15:04:05"), dash(last))
}

// followJobs prints job changes matching f until interrupted: the server's events when one holds the
// database, else those of an engine run here (the database admits one vmmpm at a time).
func (a *app) followJobs(ctx context.Context, b backend.Backend, f jobsFlags) error {
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
	enc := json.NewEncoder(a.stdout)
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
				fmt.Fprintf(a.stdout, "%s  %s\n", time.Now().Format("15:04:05"), strings.ReplaceAll(jobLine(ev.Job), "\t", "  "))
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

func newTasksCmd(a *app) *cobra.Command {
	c := listAllCmd(a, "tasks", "ID\tDEPARTMENT\tMODULE\tSERVICE\tJOB\tCREATED\tCLOSED\tTITLE\tREASON", func(t *store.Task) string {
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", t.ID, zeroDash(t.DepartmentID), zeroDash(t.ModuleID),
			zeroDash(t.ServiceID), zeroDash(t.JobID), stamp(t.CreatedAt), stamp(t.ClosedAt), t.Title, t.Reason)
	})
	c.Use, c.Short = "tasks [--json]", "Tasks for departments: operations that failed for good, services needing manual setup"
	c.AddCommand(tasksCloseCmd(a))
	return c
}

// tasksCloseCmd is the tasks screen's x: all the tasks are closed, or none is.
func tasksCloseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "close ID…",
		Short: "Mark department tasks done (all of them, or none when one cannot be closed)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give one or more task ids; see vmmpm tasks")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ids := make([]uint64, len(args))
			for i, arg := range args {
				id, err := parseID(kindTask, arg)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			err := a.withBackend(false, func(b backend.Backend) error { return b.CloseTasks(c.Context(), ids) })
			var re *backend.RecordError
			if errors.As(err, &re) {
				return kindTask.refusal(re.ID, err)
			}
			if err != nil {
				return err
			}
			for _, id := range ids {
				fmt.Fprintf(a.stdout, "closed task %d\n", id)
			}
			return nil
		},
	}
}

// stamp is a local date and time for tables, "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
