package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/api"
	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/server"
	"vmmpm/store"
)

// serveGrace is how long serve waits for calls in progress once asked to stop; with the engine's own
// stop it keeps the whole shutdown under 5 s.
const serveGrace = 3 * time.Second

// serveFlags are serve's HTTPS API options.
type serveFlags struct {
	listen, certFile, keyFile string
	noTLS                     bool
	leaseTTL                  time.Duration // --lease-ttl: a shared database's engine lease
	backup                    backupFlags   // --backup-dir, --backup-keep (backup.go)
}

func newServeCmd(a *app) *cobra.Command {
	f := &serveFlags{}
	c := &cobra.Command{
		Use:   "serve [--socket PATH] [--listen HOST:PORT [--tls-cert F --tls-key F | --no-tls]] [--backup-dir DIR [--backup-keep N]]",
		Short: "Hold the database, run the engine, and serve commands and TUIs on a local socket",
		Long: "Runs the engine as a service: it holds the database, carries out queued operations, and answers\n" +
			"every vmmpm command and TUI of the same user on a Unix socket (default\n" +
			"$XDG_RUNTIME_DIR/vmmpm/vmmpm.sock, or vmmpm.sock beside the database; --socket or VMMPM_SOCKET\n" +
			"override). Logs one line per job transition on stdout. Stops on SIGTERM or Ctrl+C: no new\n" +
			"operation starts, running ones resume at the next start, the socket is removed.\n\n" +
			"With --listen it also answers the HTTPS API for billing (README, \"Billing drives vmmpm\"): tokens\n" +
			"from vmmpm token add, the OpenAPI document at /api/v1/openapi.json. Without --tls-cert and\n" +
			"--tls-key it uses a self-signed certificate made once beside the database (DB.tls.crt) and prints\n" +
			"its SHA-256 fingerprint, which clients pin; vmmpm status shows it too. --no-tls serves plain HTTP,\n" +
			"on a loopback address only.\n\n" +
			"With --backup-dir it takes a verified backup into DIR (named vmmpm-DATE-TIME.db, UTC) at start when\n" +
			"the newest there is older than a day, then one a day, keeping the newest --backup-keep; each is\n" +
			"logged, and a failure is logged and shown in vmmpm status without stopping the server.\n\n" +
			"With --db postgres://… several hosts serve one database (README, \"Two hosts, one PostgreSQL\"): one\n" +
			"runs the engine while it holds the engine lease, the others wait as standbys and take over within\n" +
			"--lease-ttl plus a renewal when it dies, or about a second after it stops on SIGTERM.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error { return a.serve(c.Context(), f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.listen, "listen", "", "also serve the HTTPS API on HOST:PORT (port 0 picks a free one)")
	fl.StringVar(&f.certFile, "tls-cert", "", "the API's certificate (PEM; default: a self-signed one beside the database)")
	fl.StringVar(&f.keyFile, "tls-key", "", "the key of --tls-cert (PEM)")
	fl.BoolVar(&f.noTLS, "no-tls", false, "serve the API over plain HTTP (only on a loopback address)")
	fl.DurationVar(&f.leaseTTL, "lease-ttl", 0, "on a shared PostgreSQL database, how long the engine lease lasts unrenewed (default 15s, renewed every third)")
	f.backup.register(c)
	return c
}

// check refuses flags that do not go together, before anything is opened.
func (f *serveFlags) check() error {
	if err := f.backup.check(); err != nil {
		return err
	}
	switch {
	case f.listen == "" && (f.certFile != "" || f.keyFile != "" || f.noTLS):
		return usagef("--tls-cert, --tls-key and --no-tls go with --listen HOST:PORT")
	case (f.certFile == "") != (f.keyFile == ""):
		return usagef("--tls-cert and --tls-key go together: give both, or neither for the self-signed certificate")
	case f.noTLS && f.certFile != "":
		return usagef("--no-tls serves plain HTTP, so it takes no --tls-cert or --tls-key")
	}
	if f.listen != "" {
		host, _, err := net.SplitHostPort(f.listen)
		if err != nil {
			return usagef("--listen %q is not HOST:PORT; give one like 127.0.0.1:8443", f.listen)
		}
		if f.noTLS && !api.IsLoopback(host) {
			return usagef("--no-tls is allowed only on a loopback address (127.0.0.1, ::1, localhost); %s needs TLS", host)
		}
	}
	return nil
}

// certificate is the API's: the files given, or the self-signed one beside the database.
func (f *serveFlags) certificate(db string) (*tls.Certificate, string, bool, error) {
	if f.noTLS {
		return nil, "", false, nil
	}
	if f.certFile != "" {
		c, err := api.LoadCert(f.certFile, f.keyFile)
		return &c, f.certFile, false, err
	}
	host, _, _ := net.SplitHostPort(f.listen)
	c, created, err := api.SelfSigned(db, []string{host})
	path, _ := api.CertPaths(db)
	return &c, path, created, err
}

func (a *app) serve(ctx context.Context, f *serveFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.backup.dir != "" {
		if err := a.fileOnly("serve --backup-dir, which copies a bbolt file, cannot back it up", "back it up with pg_dump (or your PostgreSQL's own backups) and start serve without --backup-dir"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(a.stdout, nil))
	fault, err := queue.FaultStop(os.Getenv("VMMPM_FAULT_STOP"), log) // a test hook (ARCHITECTURE.md)
	if err != nil {
		return usagef("%v", err)
	}
	if abs, err := filepath.Abs(a.dbPath); err == nil && !store.IsServer(a.dbPath) {
		a.dbPath = abs // what hello answers: clients in other folders compare it with theirs
	}
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
	again := false // a term ended on its own: what fails next is waited out, not a reason to exit
	for {
		err := a.serveTerm(ctx, f, db, secrets, log, fault, socket)
		var je *joinError
		switch {
		case ctx.Err() != nil:
			return err
		case standAgain(err, db.KeepsFeed()) != "":
			// Handed to a host holding passwords this one lacks, cut off past the lease (a freeze, a
			// database failover), or refused by the database's own records: this host stands by again,
			// to take over (reading the jobs afresh) should the other stop.
			log.Info("this host waits as a standby again", "why", standAgain(err, true))
			again = true
		case again && errors.As(err, &je):
			log.Warn("cannot rejoin the engines of the shared database; trying again in 5s", "error", err.Error())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(rejoinPause):
			}
		default:
			return err
		}
	}
}

// standAgain is why a term's end makes serve wait as a standby again ("": it ends serve): handed
// over, the lease lost, or, on a shared database, a job write the database refused because another
// vmmpm wrote the jobs beside this engine (queue.StaleError, queue.RunningError), which a fresh
// read of the jobs after a standby's wait sets right.
func standAgain(err error, shared bool) string {
	switch {
	case errors.Is(err, backend.ErrHandedOver):
		return "handed over"
	case errors.Is(err, backend.ErrLeaseLost):
		return "lease lost"
	case shared && (errors.As(err, new(*queue.StaleError)) || errors.As(err, new(*queue.RunningError))):
		return "another vmmpm wrote this engine's jobs beside it"
	}
	return ""
}

// rejoinPause is how long serve waits before it tries again to join a database that did not answer.
const rejoinPause = 5 * time.Second

// joinError is a term that could not start its engine (the database did not answer, say).
type joinError struct{ err error }

func (e *joinError) Error() string { return e.err.Error() }
func (e *joinError) Unwrap() error { return e.err }

// serveTerm is one term of serve on db: waiting as a standby (on a shared database), then running
// the engine and serving until ctx ends or the engine stops on its own (ErrHandedOver: serve waits
// again).
func (a *app) serveTerm(ctx context.Context, f *serveFlags, db *store.DB, secrets store.Secrets, log *slog.Logger,
	fault func(string, uint64), socket string) error {
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	// On a shared database this waits as a standby until this host runs the engine; the socket is
	// opened after, so clients meanwhile find the host that runs it.
	eng, err := backend.NewEngine(db, secrets, backend.EngineOptions{Version: version, Logger: log, Standby: ctx, LeaseTTL: f.leaseTTL,
		Queue: queue.Options{FaultPoint: fault}})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		log.Info("server stopped while a standby: it never ran the engine")
		return nil // SIGTERM to a standby is a clean stop
	}
	if err != nil {
		return &joinError{err}
	}
	ln, err := server.Listen(socket)
	if err != nil {
		return errors.Join(err, eng.Close())
	}
	// Once the socket exists: beside the database, where every client looks first, whatever its environment says.
	if !store.IsServer(a.dbPath) {
		unrecord, err := server.WriteRecord(db.Path(), socket)
		if err != nil {
			log.Warn("clients that look elsewhere for the socket will not find this server", "error", err.Error())
		}
		defer unrecord()
	}
	srv, err := server.New(eng, db, version, socket, log)
	if err != nil {
		ln.Close()
		return errors.Join(err, eng.Close())
	}
	apiDone := make(chan error, 1)
	apiDone <- nil
	if f.listen != "" {
		if err := a.listenAPI(runCtx, f, eng, srv, a.localPath(), log, apiDone); err != nil {
			ln.Close()
			return errors.Join(err, eng.Close())
		}
	}
	eng.Start(runCtx) // after New: the server's hub sees the engine's first events too
	// Each module's reconcile_every (reconcile.Schedule), stopped before the database closes.
	defer eng.StartReconcileSchedule(runCtx, log)()
	defer f.backup.start(runCtx, eng, log)() // serve's daily backups, stopped before the database closes
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
	srvErr := errors.Join(<-srvDone, <-apiDone)
	if err := eng.Close(); errors.Is(err, backend.ErrHandedOver) {
		log.Info("engine stopped", "why", err.Error())
		return err
	} else if err != nil {
		log.Error("engine stopped", "error", err.Error())
		return err
	}
	log.Info("server stopped")
	return srvErr
}

// listenAPI opens the HTTPS API beside the socket and serves it until ctx ends (its outcome then on
// done, which holds a nil until it starts).
func (a *app) listenAPI(ctx context.Context, f *serveFlags, b backend.Backend, srv *server.Server, db string, log *slog.Logger, done chan error) error {
	cert, certPath, created, err := f.certificate(db)
	if err != nil {
		return err
	}
	as := api.New(b, api.Options{Version: version, Logger: log})
	ln, url, err := as.Listen(f.listen, cert)
	if err != nil {
		return err
	}
	<-done
	go func() { done <- as.Serve(ctx, ln, serveGrace) }()
	if cert == nil {
		srv.SetAPI(url, "")
		log.Warn("API listening without TLS (loopback only)", "url", url)
		return nil
	}
	fp := api.Fingerprint(*cert)
	srv.SetAPI(url, fp)
	if created {
		log.Info("made a self-signed certificate for the API", "cert", certPath)
	}
	log.Info("HTTPS API listening", "url", url, "tls_sha256", fp, "curl_pin", api.PublicKeyPin(*cert), "cert", certPath)
	return nil
}
