package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/demo"
	"vmmpm/ui/theme"
)

// tuiOptions are the root command's own flags.
type tuiOptions struct {
	demo   bool
	faults bool
	mouse  bool
}

// demoServices is how many services the demo starts opening, so the jobs pane moves from the first frame.
// and then a trickle of operations keeps it moving.
const (
	demoServices = 6
	demoEvery    = 3 * time.Second
	demoLimit    = 400
)

// setupTUI makes the bare `vmmpm` start the TUI with the engine inside, and adds --demo and --mouse.
func setupTUI(root *cobra.Command, a *app) {
	var o tuiOptions
	root.Flags().BoolVar(&o.demo, "demo", false, "run the TUI on a temporary database with an in-process VMmanager emulator (kept only with --db)")
	root.Flags().BoolVar(&o.faults, "demo-faults", false, "--demo with a second module whose emulator is slow and fails now and then (see the Lanes screen, 7)")
	root.Flags().BoolVar(&o.mouse, "mouse", false, "turn mouse support on (off by default so text can be selected)")
	root.Args = cobra.NoArgs
	root.RunE = func(c *cobra.Command, _ []string) error {
		o.demo = o.demo || o.faults
		keepDB := ""
		if c.Flags().Changed("db") {
			keepDB = a.dbPath
		}
		return a.runTUI(o, keepDB)
	}
}

// errNoTerminal is the refusal of spec §9 when standard input or output is not a terminal.
var errNoTerminal = errors.New("the vmmpm TUI needs a terminal, and standard input or output is not one; " +
	"use the commands instead (vmmpm --help lists them)")

func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// session is what the TUI runs on: database, secrets, and the demo to stop afterwards.
type session struct {
	db      *store.DB
	secrets store.Secrets
	demo    *demo.Env
}

func (a *app) openSession(o tuiOptions, keepDB string) (*session, error) {
	if o.demo {
		env, err := demo.Start(demo.Options{DBPath: keepDB, Faults: o.faults})
		if err != nil {
			return nil, err
		}
		return &session{db: env.DB, secrets: env.Secrets, demo: env}, nil
	}
	db, err := a.openUnverified()
	if err != nil {
		return nil, err
	}
	return &session{db: db, secrets: store.NewKeyring()}, nil
}

func (s *session) close() {
	if s.demo != nil {
		s.demo.Close()
		return
	}
	_ = s.db.Close()
}

func (a *app) runTUI(o tuiOptions, keepDB string) error {
	if !isTerminal(a.stdin) || !isTerminal(a.stdout) {
		return withCode(exitFailure, errNoTerminal)
	}
	th := theme.Setup(a.noColor)
	if !o.demo {
		c, info, err := a.attach(context.Background())
		if err != nil {
			return err
		}
		if c != nil {
			defer c.Close()
			cfg := ui.Config{Backend: c, Theme: th, Clipboard: a.stdout}
			if store.IsServer(a.dbPath) && sameDB(info.DB, a.dbPath) { // a bbolt file has no other host to show
				cfg.Fallback = a.standbyView
			}
			return a.runProgram(o, cfg, nil)
		}
	}
	s, err := a.openSession(o, keepDB)
	if err != nil {
		return err
	}
	if _, elsewhere := backend.EngineHolder(s.db); elsewhere { // never on the demo's bbolt file
		return a.runReadOnly(o, s, th)
	}
	defer s.close()
	logger, closeLog := openLog(store.DefaultLogPath())
	defer closeLog()
	eng, err := backend.StartEngine(context.Background(), s.db, s.secrets, backend.EngineOptions{Version: version, Logger: logger})
	if err != nil {
		return err
	}
	eng.Via = backend.ViaTUI // the audit trail says the TUI made its changes
	cfg := ui.Config{Backend: eng, Secrets: s.secrets, Theme: th, Clipboard: a.stdout}
	if s.demo != nil {
		if err := s.demo.OpenServices(eng.Queue(), demoServices); err != nil {
			return errors.Join(err, eng.Close())
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.demo.Traffic(ctx, eng.Queue(), demoEvery, demoLimit) }()
		defer func() { cancel(); <-done }()
		cfg.WizardPrefill = s.demo.WizardPrefill()
	}
	return a.runProgram(o, cfg, eng)
}

// runReadOnly runs the TUI on a shared database whose engine another host runs (this host has no
// serve socket, or its serve stands by): every host's jobs read from the database, no change made,
// until this host's serve takes the engine over and opens its socket, when the TUI attaches to it.
func (a *app) runReadOnly(o tuiOptions, s *session, th *theme.Theme) error {
	b, err := backend.NewStandby(s.db, s.secrets, version)
	if err != nil {
		s.close()
		return err
	}
	serve := hostServe{Client: server.NewClient(a.socketPath(), version), db: a.dbPath}
	defer serve.Close()
	// The TUI closes b (and the database with it) once it attaches, or when it ends.
	return a.runProgram(o, ui.Config{Backend: serve, Start: b, Fallback: a.standbyView, Secrets: s.secrets,
		Theme: th, Clipboard: a.stdout}, nil)
}

// hostServe is this host's serve socket as a read-only TUI waits for it: the serve opens it only once
// it runs the engine, and it counts only if that serve serves this TUI's database.
type hostServe struct {
	*server.Client
	db string
}

func (h hostServe) Events(ctx context.Context, since uint64, light bool) (<-chan backend.Event, error) {
	info, err := h.Info(ctx)
	if err != nil {
		return nil, err
	}
	if !sameDB(info.DB, h.db) {
		return nil, fmt.Errorf("the vmmpm serve on %s serves %s, not %s", h.Socket(), info.DB, h.db)
	}
	return h.Client.Events(ctx, since, light)
}

// errNoOtherEngine is why an attached TUI whose server is gone keeps waiting for it: no other host
// runs the engine, so its serve is only restarting (or the database is not answering).
var errNoOtherEngine = errors.New("no other host holds the engine lease")

// standbyView is the fallback of a TUI attached to a serve on a shared database: once that serve
// stood down (another host's engine took over), the read-only view of the database, as a TUI started
// on a standby host opens; none while no other live host holds the engine lease.
func (a *app) standbyView(context.Context) (backend.Backend, error) {
	db, err := a.openUnverified()
	if err != nil {
		return nil, err
	}
	if _, elsewhere := backend.EngineHolder(db); !elsewhere {
		_ = db.Close()
		return nil, errNoOtherEngine
	}
	b, err := backend.NewStandby(db, store.NewKeyring(), version)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// runProgram runs the TUI on cfg; with eng set (the engine runs in this process) the screen hears at
// once when it stops on its own, and quitting stops it and writes its last figures.
func (a *app) runProgram(o tuiOptions, cfg ui.Config, eng *backend.Engine) error {
	model := ui.NewApp(cfg)
	defer model.Close()
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithInput(a.stdin), tea.WithOutput(a.stdout)}
	if o.mouse {
		opts = append(opts, tea.WithMouseCellMotion())
	}
	p := tea.NewProgram(model, opts...)
	if eng == nil {
		_, err := p.Run()
		return err
	}
	quit := make(chan struct{})
	go func() {
		select {
		case <-eng.Done():
			p.Send(ui.EngineStoppedMsg{Err: eng.Err()})
		case <-quit:
		}
	}()
	_, err := p.Run()
	close(quit)
	// The exit status says when the engine inside had stopped on an error.
	if stopErr := eng.Close(); stopErr != nil {
		err = errors.Join(err, fmt.Errorf("the engine stopped with an error, so queued operations did not run: %w", stopErr))
	}
	return err
}

// openLog appends the engine's transitions to the log file (spec §1), since the TUI owns the screen. A log
// that cannot be opened is not worth refusing to start over: the TUI then runs without one.
func openLog(path string) (*slog.Logger, func()) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return slog.New(slog.DiscardHandler), func() {}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return slog.New(slog.DiscardHandler), func() {}
	}
	return slog.New(slog.NewTextHandler(f, nil)), func() { _ = f.Close() }
}
