package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/server"
	"vmmpm/stats"
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

func newStatusCmd(a *app) *cobra.Command {
	var asJSON, watch bool
	c := &cobra.Command{
		Use:   "status [--json] [--watch]",
		Short: "Say whether a vmmpm server runs, with job counts by state and each module's health",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			show := func() error {
				return a.withBackend(false, func(b backend.Backend) error {
					st, err := b.Status(c.Context())
					if err != nil {
						return err
					}
					if asJSON {
						return printJSON(a.stdout, st)
					}
					printStatus(a.stdout, st, a.socketPath())
					return nil
				})
			}
			if !watch {
				return show()
			}
			return a.watch(c.Context(), asJSON, show)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&watch, "watch", false, "repaint every 2 s until Ctrl+C (with --json: one object each time)")
	return c
}

func printStatus(w io.Writer, st *backend.Status, socket string) {
	if st.Server {
		fmt.Fprintf(w, "server:    running, pid %d, up %s, version %s\n", st.PID,
			time.Since(st.Started).Truncate(time.Second), st.Version)
		fmt.Fprintf(w, "socket:    %s\n", st.Socket)
	} else {
		fmt.Fprintf(w, "server:    not running (nothing answers on %s); commands open the database themselves; start one with vmmpm serve\n", socket)
	}
	fmt.Fprintf(w, "database:  %s\n", st.DB)
	fmt.Fprintf(w, "passwords: %s\n", st.Secrets)
	if st.Server {
		fmt.Fprintf(w, "engine:    %s\n", st.Engine)
		if st.Engine.Paused {
			fmt.Fprintln(w, "           nothing starts until the database can be written again; free space and it resumes by itself")
		}
		if st.Engine.WaitingAdvice != "" {
			fmt.Fprintf(w, "           %s\n", st.Engine.WaitingAdvice)
		}
	}
	parts := make([]string, 0, len(store.JobStates))
	for _, s := range store.JobStates {
		parts = append(parts, fmt.Sprintf("%s %d", s, st.Jobs[s]))
	}
	fmt.Fprintf(w, "jobs:      %s\n", strings.Join(parts, " · "))
	mods := st.Modules
	sort.Slice(mods, func(i, j int) bool { return mods[i].ID < mods[j].ID })
	rows := make([]backend.ModuleHealth, len(mods))
	copy(rows, mods)
	fmt.Fprintln(w)
	_ = printList(w, false, rows, "MODULE\tNAME\tENABLED\tHEALTH\tLOGINS THIS SESSION\tLAST CHECK", func(m backend.ModuleHealth) string {
		health := "ok"
		if !m.Healthy {
			health = "FAILING: " + m.Health
		}
		return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", m.ID, m.Name, onOff(m.Enabled), health, stats.LoginsText(m.Logins),
			checkSummary(m.LastCheck))
	})
}
