package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

func newEngineCmd(a *app) *cobra.Command {
	var untilIdle bool
	c := &cobra.Command{
		Use:   "engine [--until-idle]",
		Short: "Run queued VPS operations headless, one log line per job transition",
		Long: "Runs the engine without the TUI: resumes operations a crash interrupted, then carries out queued\n" +
			"ones under their modules' queue keys, logging each transition on stdout. Module passwords come\n" +
			"from the OS keyring. Stops on Ctrl+C or SIGTERM (running operations are resumed next time);\n" +
			"with --until-idle it exits 0 once nothing is queued, running or waiting to retry.\n\n" +
			"When the disk refuses a write (full, over quota, read-only) the engine pauses, logs why, retries\n" +
			"with a growing pause and resumes by itself once the write succeeds. A locked keyring makes jobs\n" +
			"wait without using attempts. With --until-idle it gives up after 5 minutes of either and exits 1\n" +
			"saying what to fix.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return a.runEngine(c.Context(), untilIdle)
		},
	}
	c.Flags().BoolVar(&untilIdle, "until-idle", false, "exit once no job is queued, running or retrying")
	return c
}

// untilIdleMaxPause is how long engine --until-idle waits for a disk that refuses writes or a keyring
// that cannot give passwords.
const untilIdleMaxPause = 5 * time.Minute

func (a *app) runEngine(ctx context.Context, untilIdle bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c, info, err := a.attach(ctx); err == nil && c != nil {
		c.Close()
		return withCode(exitFailure, fmt.Errorf("the vmmpm server (pid %d) already runs the engine on %s; follow it with vmmpm jobs --follow or vmmpm status", info.PID, info.DB))
	}
	db, err := a.openExisting()
	if err != nil {
		return err
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(a.stdout, nil))
	opt := queue.Options{Logger: log}
	if untilIdle {
		opt.MaxPause = untilIdleMaxPause
	}
	secrets := store.NewKeyring()
	e, err := queue.New(db, secrets, opt)
	if err != nil {
		return err
	}
	defer e.Close()
	// Through the backend, so the figures of vmmpm stats and the Lanes screen count these jobs too.
	local := backend.NewLocal(db, secrets, e, version)
	defer local.Close()
	log.Info("engine started", "db", db.Path())
	if untilIdle {
		err = e.RunUntilIdle(ctx)
	} else {
		err = e.Run(ctx)
	}
	if err != nil {
		return err
	}
	summary := []any{}
	for id, c := range e.Counts() {
		summary = append(summary, fmt.Sprintf("module_%d", id), fmt.Sprintf("done=%d failed=%d queued=%d retrying=%d",
			c.Done, c.Failed, c.Queued, c.Retrying))
	}
	log.Info("engine stopped", summary...)
	return nil
}
