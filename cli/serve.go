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
	"vmmpm/queue"
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
	secrets := store.NewKeyring()
	eng, err := queue.New(db, secrets, queue.Options{Logger: log})
	if err != nil {
		return err
	}
	defer eng.Close()
	ln, err := server.Listen(socket)
	if err != nil {
		return err
	}
	local := backend.NewLocal(db, secrets, eng, version)
	defer local.Close() // writes the last figures (stats) before the database closes
	srv, err := server.New(local, db, version, socket, log)
	if err != nil {
		return err
	}
	log.Info("server started", "pid", os.Getpid(), "db", db.Path(), "socket", socket, "version", version)
	if err := store.CheckSecrets(secrets); err != nil {
		log.Warn("the keyring is not usable yet; jobs wait for it", "error", err.Error())
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(runCtx) }()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(runCtx, ln, serveGrace) }()

	var engErr error
	select {
	case <-ctx.Done():
	case engErr = <-engDone: // the engine stopped on its own: stop serving, say why
		engDone <- engErr
	}
	stopRun()
	srvErr := <-srvDone
	engErr = <-engDone
	if engErr != nil && !errors.Is(engErr, context.Canceled) {
		log.Error("engine stopped", "error", engErr.Error())
		return engErr
	}
	log.Info("server stopped")
	return srvErr
}
