package backend

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/webhook"
)

// EngineOptions are what the processes that run the engine (serve, the TUI, `vmmpm engine`) choose.
type EngineOptions struct {
	Version string
	// Logger gets one line per job transition (stdout for serve and engine, the log file for the TUI).
	Logger *slog.Logger
	// UntilIdle makes the engine stop by itself once nothing is queued, running or waiting to retry;
	// MaxPause then bounds how long it waits for a disk or keyring that refuses (0: the engine's own).
	UntilIdle bool
	MaxPause  time.Duration
	// Queue is handed to queue.New with Logger and MaxPause set from the fields above (tests and the
	// demo set intervals and executors here). Its OnCommit, when nil, is the webhook outbox's.
	Queue queue.Options
	// Webhooks tunes the webhook deliverer the engine runs (Logger and Version are set from above).
	Webhooks webhook.Options
	// Standby matters on a database kept on PostgreSQL, where one engine runs at a time: the holder
	// of its engine lease. With Standby set, NewEngine waits as a standby until this process holds
	// the lease (or Standby ends: its error); nil refuses at once while another host's engine holds it.
	Standby context.Context
	// LeaseTTL is how long the engine lease lasts unrenewed (0: 15 s, renewed every third of it).
	LeaseTTL time.Duration
}

// Engine is the backend of a process that runs the engine: Local in ModeEngine, with the engine
// running and the stats collector following it. NewEngine (or StartEngine) is the only way to make
// one, so every process starts and stops the engine in the same order.
type Engine struct {
	*Local
	eng       *queue.Engine
	hooks     *webhook.Deliverer
	delivered chan struct{} // closed when the deliverer has stopped
	untilIdle bool
	started   bool
	cancel    context.CancelFunc
	done      chan struct{}
	err       error
	lease     *engineLease // nil on a bbolt file
}

// StartEngine makes the engine on db (NewEngine) and starts it.
func StartEngine(ctx context.Context, db *store.DB, secrets store.Secrets, o EngineOptions) (*Engine, error) {
	e, err := NewEngine(db, secrets, o)
	if err != nil {
		return nil, err
	}
	e.Start(ctx)
	return e, nil
}

// NewEngine makes the engine on db and starts the figures (stats) following it; Start runs it. Between
// the two, whoever must see every event (the server's hub) subscribes. The database stays the
// caller's to close, after Close.
func NewEngine(db *store.DB, secrets store.Secrets, o EngineOptions) (*Engine, error) {
	qo := o.Queue
	if o.Logger != nil {
		qo.Logger = o.Logger
	}
	if o.MaxPause > 0 {
		qo.MaxPause = o.MaxPause
	}
	if qo.OnCommit == nil {
		qo.OnCommit = webhook.Hook(qo.Now)
	}
	if qo.Wake == nil { // another host's enqueue is taken in at its commit
		qo.Wake = func(ctx context.Context) <-chan struct{} { return WatchOthers(ctx, db) }
	}
	// The lease comes first: a standby loads the queue (crash recovery) only once it runs the jobs.
	l, err := awaitLease(db, secrets, o)
	if err != nil {
		return nil, err
	}
	if l != nil {
		// One engine lane holds every module: each module's question is that lane's.
		qo.MayCreate = func(uint64) error { return l.mayCreate() }
		qo.Epoch = func(uint64) int64 { return l.epoch() }
	}
	eng, err := queue.New(db, secrets, qo)
	if err != nil {
		return nil, errors.Join(err, l.leave())
	}
	wo := o.Webhooks
	wo.Version = o.Version
	if wo.Write == nil {
		wo.Write = eng.WriteAlong
	}
	if o.Logger != nil {
		wo.Logger = o.Logger
	}
	e := &Engine{Local: NewLocal(db, secrets, eng, o.Version), eng: eng, untilIdle: o.UntilIdle,
		cancel: func() {}, done: make(chan struct{}), delivered: make(chan struct{}),
		hooks: webhook.New(db, secrets, wo), lease: l}
	e.Local.hooks = e.hooks
	if l != nil {
		l.holdWith(eng.SetHolds)
		if hs, ok := e.Local.Secrets.(*hostSecrets); ok {
			hs.changed = l.wakePasswords
		}
	}
	return e, nil
}

// Start runs the engine until ctx ends, Close is called, or (UntilIdle) the work runs out. It is called
// once.
func (e *Engine) Start(ctx context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	e.cancel = func() { cancel(context.Canceled) }
	e.started = true
	go func() {
		defer close(e.done)
		run := e.eng.Run
		if e.untilIdle {
			run = e.eng.RunUntilIdle
		}
		err := run(ctx)
		if c := context.Cause(ctx); c == ErrLeaseLost || c == ErrHandedOver {
			err = c
		}
		if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
			e.err = err
		}
	}()
	go e.watchLease(ctx, cancel)
	e.deliver(ctx)
}

// deliver runs the webhook deliverer beside the engine until ctx ends, woken by every commit's events.
func (e *Engine) deliver(ctx context.Context) {
	evs, unsubscribe := e.eng.Subscribe(64)
	go func() {
		defer close(e.delivered)
		go func() {
			for range evs {
				e.hooks.Notify()
			}
		}()
		defer unsubscribe()
		defer store.LogPanic(nil, "webhook deliveries")
		_ = e.hooks.Run(ctx)
	}()
}

// Queue is the engine itself, for what drives it in this process (the demo's traffic).
func (e *Engine) Queue() *queue.Engine { return e.eng }

// Done is closed once the engine has stopped: on its own (see Err), idle, or by Stop.
func (e *Engine) Done() <-chan struct{} { return e.done }

// Err is why the engine stopped on its own (nil while it runs, or when it was stopped or went idle).
func (e *Engine) Err() error {
	select {
	case <-e.done:
		return e.err
	default:
		return nil
	}
}

// Close stops the engine in the one shutdown order: nothing new starts and running operations finish
// their current call (or are left for recovery at the next start); then the last figures are written;
// then the engine closes. It returns why the engine had stopped on its own, if it had.
func (e *Engine) Close() error {
	e.cancel()
	if e.started {
		<-e.done
		<-e.delivered
	}
	// Hand the lane over at once, whatever stopped the engine: a standby takes it on the NOTIFY (after
	// a lost lease this releases nothing, the lane being another's).
	err := errors.Join(e.Local.Close(), e.eng.Close(), e.lease.leave())
	if e.err != nil {
		return e.err
	}
	return err
}

// watchLease stops the engine once its lease is lost (another host's engine may run the jobs now), or
// once it should hand the jobs to a standby holding passwords this host lacks.
func (e *Engine) watchLease(ctx context.Context, cancel context.CancelCauseFunc) {
	select {
	case <-e.lease.lostCh():
		cancel(ErrLeaseLost)
	case <-e.lease.handoverCh():
		cancel(ErrHandedOver)
	case <-ctx.Done():
	}
}

var _ Backend = (*Engine)(nil)
