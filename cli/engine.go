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
			"with --until-idle it exits 0 once nothing is queued, running or waiting to retry (or all that is\n" +
			"left waits for a paused module: vmmpm module resume).\n\n" +
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
	o := backend.EngineOptions{Version: version, Logger: log, UntilIdle: untilIdle}
	if untilIdle {
		o.MaxPause = untilIdleMaxPause
	}
	eng, err := backend.StartEngine(ctx, db, store.NewKeyring(), o)
	if err != nil {
		return err
	}
	log.Info("engine started", "db", db.Path())
	select {
	case <-ctx.Done():
	case <-eng.Done():
	}
	if err := eng.Close(); err != nil {
		return err
	}
	summary := []any{}
	for id, c := range eng.Queue().Counts() { // read from the file, so the last ends are counted
		summary = append(summary, fmt.Sprintf("module_%d", id), fmt.Sprintf("done=%d failed=%d queued=%d retrying=%d",
			c.Done, c.Failed, c.Queued, c.Retrying))
	}
	log.Info("engine stopped", summary...)
	return nil
}
