package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
)

// serveGrace is how long serve waits for calls in progress once asked to stop; with the engine's own
// stop it keeps the whole shutdown under 5 s.
const serveGrace = 3 * time.Second

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve [--socket PATH]",
		Short: "Hold the database, run the engine, and serve commands and TUIs on a local socket",
		Long: "Runs the engine as a service: it holds the database, carries out queued operations, and answers\n" +
			"every vmmpm command and TUI of the same user on a Unix socket (default\n" +
			"$XDG_RUNTIME_DIR/vmmpm/vmmpm.sock, or vmmpm.sock beside the database; --socket or VMMPM_SOCKET\n" +
			"override). Logs one line per job transition on stdout. Stops on SIGTERM or Ctrl+C: no new\n" +
			"operation starts, running ones resume at the next start, the socket is removed.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error { return a.serve(c.Context()) },
	}
}

func (a *app) serve(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(a.stdout, nil))
	socket := a.socketPath()
	if c, info, err := a.attach(ctx); err == nil && c != nil {
		c.Close()
		return fmt.Errorf("a vmmpm server (pid %d) already serves %s on %s", info.PID, info.DB, info.Socket)
	}
	db, err := a.openDB()
	if err != nil {
		return err
	}
	defer db.Close()
	ln, err := server.Listen(socket)
	if err != nil {
		return err
	}
	secrets := store.NewKeyring()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	eng, err := backend.NewEngine(db, secrets, backend.EngineOptions{Version: version, Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := server.New(eng, db, version, socket, log)
	if err != nil {
		ln.Close()
		return errors.Join(err, eng.Close())
	}
	eng.Start(runCtx) // after New: the server's hub sees the engine's first events too
	// Each module's reconcile_every (reconcile.Schedule), stopped before the database closes.
	defer eng.StartReconcileSchedule(runCtx, log)()
	log.Info("server started", "pid", os.Getpid(), "db", db.Path(), "socket", socket, "version", version)
	if err := store.CheckSecrets(secrets); err != nil {
		log.Warn("the keyring is not usable yet; jobs wait for it", "error", err.Error())
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(runCtx, ln, serveGrace) }()
	select {
	case <-ctx.Done():
	case <-eng.Done(): // the engine stopped on its own: stop serving, say why
	}
	stopRun()
	srvErr := <-srvDone
	if err := eng.Close(); err != nil {
		log.Error("engine stopped", "error", err.Error())
		return err
	}
	log.Info("server stopped")
	return srvErr
}
