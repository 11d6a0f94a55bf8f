// Package cli is vmmpm's command tree (cobra): global flags, exit codes (spec §9), one file per
// command group, and helpers.go for what they share. Commands parse, make one backend call, print.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
	"vmmpm/vmm"
)

var version = "0.1.0-dev"

// Exit codes of spec §9. A damaged database (store.ErrDamaged) and an internal error (a recovered
// panic, its report written to a crash file) are exitFailure too: one sentence, never a stack.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitBadCreds    = 3
	exitNotAdmin    = 4
	exitUnreachable = 5
	exitDiffers     = 6 // validate --deep: VMmanager answers differently from what vmmpm relies on
)

// exitError carries the process exit code with the one-sentence message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func usagef(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

// app is what every command shares: global flags and lazily opened resources.
type app struct {
	dbPath  string
	socket  string // --socket; "" is server.DefaultSocket
	noColor bool
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

// socketPath is where a server for this database listens.
func (a *app) socketPath() string {
	if a.socket != "" {
		return a.socket
	}
	return server.DefaultSocket(a.localPath())
}

// localPath is where this host keeps what sits beside the database (the socket by default, the
// server's record, the self-signed certificate): the file itself, or, for a database on a server,
// the default file's place in the XDG data folder, which is this host's own.
func (a *app) localPath() string {
	if store.IsServer(a.dbPath) {
		return store.DefaultPath()
	}
	return a.dbPath
}

// fileOnly refuses what only a bbolt file allows (what) on a database kept on PostgreSQL.
func (a *app) fileOnly(what, instead string) error {
	if !store.IsServer(a.dbPath) {
		return nil
	}
	return usagef("database %s is kept on PostgreSQL, not in a bbolt file, so %s; %s", store.Redact(a.dbPath), what, instead)
}

// attach returns a client of the server holding this database, or nil when none runs. It looks at
// --socket (or VMMPM_SOCKET) when given, then where that server recorded its socket beside the
// database, then at the default; a server found other than by --socket that holds another database
// is not ours. An explicit socket that answers wins (the user chose it); one that does not (a stale
// VMMPM_SOCKET in a cron job's environment) does not keep the recorded server from being found.
func (a *app) attach(ctx context.Context) (*server.Client, *backend.Info, error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, sock := range a.sockets() {
		c, info, err := server.Dial(dctx, sock, version)
		if err != nil {
			return nil, nil, err
		}
		if c == nil {
			continue
		}
		if sock == a.socket || sameDB(info.DB, a.dbPath) {
			return c, info, nil
		}
		c.Close()
	}
	return nil, nil, nil
}

// sockets are where attach looks, in order, each once.
func (a *app) sockets() []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(a.socket)
	if r, ok := server.FindRecord(a.dbPath); ok && !store.IsServer(a.dbPath) { // no record beside a server's database
		add(r.Socket)
	}
	add(a.socketPath())
	return out
}

// heldBy rewrites the refusal of a database another process holds when that process is a vmmpm
// serve this command did not reach: it says which, and how to reach it.
func (a *app) heldBy(err error) error {
	if !errors.Is(err, store.ErrInUse) {
		return err
	}
	if r, ok := server.FindRecord(a.dbPath); ok {
		return &sentenceError{err: err, msg: fmt.Sprintf("database %s is held by vmmpm serve (pid %d), which recorded its socket as %s, "+
			"but nothing answers there; if it listens elsewhere give that socket with --socket PATH or VMMPM_SOCKET, else restart it", a.dbPath, r.PID, r.Socket)}
	}
	if pid := store.HolderPID(a.dbPath); isServe(pid) {
		return &sentenceError{err: err, msg: fmt.Sprintf("database %s is held by vmmpm serve (pid %d), which does not answer on %s; "+
			"give its socket (its log's \"server started\" line names it) with --socket PATH or VMMPM_SOCKET", a.dbPath, pid, a.socketPath())}
	}
	return err
}

// isServe reports whether process pid runs `vmmpm … serve`, from its command line.
func isServe(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return pid > 0 && err == nil && slices.Contains(strings.Split(string(b), "\x00"), "serve")
}

// sentenceError shows msg in place of err, which errors.Is and errors.As still find.
type sentenceError struct {
	msg string
	err error
}

func (e *sentenceError) Error() string { return e.msg }
func (e *sentenceError) Unwrap() error { return e.err }

// sameDB reports whether a server's database (its hello's name) is ours: a file by its path, a
// database on PostgreSQL by its address without the password.
func sameDB(served, ours string) bool {
	if store.IsServer(ours) {
		return served == store.Redact(ours)
	}
	return samePath(served, ours)
}

// samePath reports whether a and b name one file, links resolved.
func samePath(a, b string) bool {
	resolve := func(p string) (string, error) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return filepath.Abs(p)
	}
	aa, err1 := resolve(a)
	bb, err2 := resolve(b)
	return err1 == nil && err2 == nil && aa == bb
}

// backend is what commands act through: the server's client when one holds the database, else this
// process with the database opened here (created when create is set, for commands that add records).
func (a *app) backend(create bool) (backend.Backend, error) {
	open := a.openExisting
	if create {
		open = a.openDB
	}
	return a.backendOn(func() (*store.DB, error) { return besideNoEngine(open()) })
}

// withHostBackend is withBackend for a command whose change is this host's keyring (and the audit
// trail): allowed directly on a shared database beside another host's engine, which keeps neither
// in memory.
func (a *app) withHostBackend(fn func(backend.Backend) error) error {
	b, err := a.backendOn(a.openExisting)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// withEnqueuer is withBackend for the commands that enqueue, cancel or retry (service create, the
// operations, job cancel and retry): with no server reached, beside another host's engine on a
// shared database, they act through a Standby: new jobs are written for that engine to take in
// from the job feed, and a cancel or retry is asked of it (store.AskJob).
func (a *app) withEnqueuer(fn func(backend.Backend) error) error {
	b, err := a.backendWith(a.openExisting, func(db *store.DB) (backend.Backend, error) {
		if _, elsewhere := backend.EngineHolder(db); elsewhere {
			return backend.NewStandby(db, store.NewKeyring(), version)
		}
		return localOwning(db), nil
	})
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// besideNoEngine refuses to change a shared database directly while another host's engine runs
// its jobs: that engine keeps the queue in memory and would not see the change.
func besideNoEngine(db *store.DB, err error) (*store.DB, error) {
	if err != nil {
		return nil, err
	}
	if who, ok := backend.EngineHolder(db); ok {
		_ = db.Close()
		return nil, backend.BesideEngine(who, db.Path())
	}
	return db, nil
}

// withReader is withBackend for commands that only read: without a server, a database that cannot be
// written is opened read-only.
func (a *app) withReader(fn func(backend.Backend) error) error {
	b, err := a.backendOn(a.openForReading)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// backendOn is backend with the way to open the database when no server holds it.
func (a *app) backendOn(open func() (*store.DB, error)) (backend.Backend, error) {
	return a.backendWith(open, func(db *store.DB) (backend.Backend, error) { return localOwning(db), nil })
}

// backendWith is backendOn with what acts on the database opened: build owns db, and closes it
// when it fails.
func (a *app) backendWith(open func() (*store.DB, error), build func(*store.DB) (backend.Backend, error)) (backend.Backend, error) {
	c, _, err := a.attach(context.Background())
	if err != nil {
		return nil, err
	}
	if c != nil {
		return c, nil
	}
	db, err := open()
	if err != nil {
		return nil, err
	}
	b, err := build(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// localOwning is this process acting on db, which it closes with itself.
func localOwning(db *store.DB) *backend.Local {
	l := backend.NewLocal(db, store.NewKeyring(), nil, version)
	l.OwnsDB = true
	return l
}

// withBackend runs fn on a backend and closes it.
func (a *app) withBackend(create bool, fn func(backend.Backend) error) error {
	b, err := a.backend(create)
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// openDB opens the database, creating it when missing: for commands that add records.
func (a *app) openDB() (*store.DB, error) {
	return verified(a.openUnverified())
}

// openUnverified is openDB without waiting for the check of the whole file Open starts: the TUI's
// first frame does not wait for it (its writes do, and a damaged file stops them).
func (a *app) openUnverified() (*store.DB, error) {
	db, err := store.Open(a.dbPath, store.Options{})
	return db, a.heldBy(err)
}

// verified waits for the check of the file Open started: a command on a damaged file says the one
// sentence naming the damage (exit 1) before it reads or writes anything.
func verified(db *store.DB, err error) (*store.DB, error) {
	if err != nil {
		return nil, err
	}
	if err := db.Verified(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openExisting opens a database that must already exist: for commands that read or change records,
// so a mistyped --db says so instead of showing an empty new database.
func (a *app) openExisting() (*store.DB, error) {
	db, err := store.Open(a.dbPath, store.Options{MustExist: true})
	err = a.heldBy(err)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, withCode(exitUsage, err)
	}
	return verified(db, err)
}

// openForReading is openExisting for commands that only read: a file that cannot be written (its
// permissions, a read-only file system) is opened read-only, and stderr says so.
func (a *app) openForReading() (*store.DB, error) {
	db, err := store.Open(a.dbPath, store.Options{MustExist: true, ReadOnlyIfUnwritable: true})
	err = a.heldBy(err)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, withCode(exitUsage, err)
	}
	if err == nil && db.ReadOnlyReason() != "" {
		fmt.Fprintln(a.stderr, db.ReadOnlyReason())
	}
	return verified(db, err)
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "vmmpm",
		Short:         "Terminal console for VMmanager 6 processing modules",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	dbDefault := os.Getenv("VMMPM_DB")
	if dbDefault == "" {
		dbDefault = store.DefaultPath()
	}
	root.PersistentFlags().StringVar(&a.dbPath, "db", dbDefault, "database file, or postgres://USER@HOST/DB for several hosts (env VMMPM_DB)")
	root.PersistentFlags().StringVar(&a.socket, "socket", os.Getenv("VMMPM_SOCKET"),
		"the vmmpm serve socket (env VMMPM_SOCKET; default $XDG_RUNTIME_DIR/vmmpm/vmmpm.sock, or beside the database)")
	root.PersistentFlags().BoolVar(&a.noColor, "no-color", os.Getenv("NO_COLOR") != "", "no colour in output (env NO_COLOR)")
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(exitUsage, err) })
	setupTUI(root, a) // bare `vmmpm` runs the TUI (tui.go)
	root.AddCommand(
		newDatacenterCmd(a),
		newDepartmentCmd(a),
		newValidateCmd(a),
		newModuleCmd(a),
		newSimCmd(a),
		newTariffCmd(a), newServiceCmd(a), newJobsCmd(a), newTasksCmd(a), newEngineCmd(a),
		newServeCmd(a), newStatusCmd(a), newStatsCmd(a), newReconcileCmd(a), newCheckCmd(a),
		newTokenCmd(a), newWebhookCmd(a), newAuditCmd(a),
		newBackupCmd(a), newRestoreCmd(a),
	)
	addCompletions(root, a) // ids with names for `vmmpm completion` (completion.go)
	return root
}

// Run executes the command tree on args and returns the process exit code. A panic anywhere below
// it ends as one sentence naming a crash report file, exit 1.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if err := store.Recovered(recover()); err != nil {
			fmt.Fprintln(stderr, "vmmpm: "+err.Error())
			code = exitFailure
		}
	}()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	err = cobraUsage(root, err)
	fmt.Fprintln(stderr, "vmmpm: "+err.Error())
	return exitCode(err)
}

func exitCode(err error) int {
	var ee *exitError
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ve):
		return exitUsage
	case errors.Is(err, vmm.ErrBadURL), errors.Is(err, vmm.ErrInvalid):
		return exitUsage
	case errors.Is(err, vmm.ErrBadCredentials):
		return exitBadCreds
	case errors.Is(err, vmm.ErrNotAdmin):
		return exitNotAdmin
	case errors.Is(err, vmm.ErrUnreachable), errors.Is(err, vmm.ErrTLS), errors.Is(err, vmm.ErrUnavailable):
		return exitUnreachable
	}
	return exitFailure
}
