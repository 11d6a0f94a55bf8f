package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"vmmpm/lease"
	"vmmpm/store"
	"vmmpm/store/kv/pgkv"
)

// engineLane is the one lane a shared database's engine runs under: on PostgreSQL the engine that
// holds it runs every job; the others wait as standbys and take it over when its holder dies (the
// lease lapses) or leaves (SIGTERM). Each claim raises its epoch, and every write of the holder is
// guarded by that epoch, so an engine that froze past its lease changes nothing once it wakes.
var engineLane = lease.Lane{Module: lease.AllModules, Key: "engine"}

// ErrLeaseLost ends an engine whose lease lapsed (it froze, or lost the database, for longer than
// the lease): another host's engine may run the jobs now, so this one stops and changes nothing more.
var ErrLeaseLost = errors.New("this host's engine lost its lease on the shared database (it was cut off or paused for longer than its lease, 15 s unless --lease-ttl says otherwise), so another host's engine runs the jobs now; vmmpm serve waits as a standby again by itself, and any other engine does once started again")

// engineLease is this process's hold on a shared database's engine lane.
type engineLease struct {
	le   *lease.Engine
	db   *store.DB
	pg   *pgkv.DB
	name string // the database, for sentences
	log  *slog.Logger

	got  chan lease.Held
	lost chan struct{}
	once sync.Once
	// handover is closed when a live standby holds module passwords this host lacks: the engine
	// stops at a job boundary and leaves, and that standby takes the lane (handover.go).
	handover  chan struct{}
	handOnce  sync.Once
	outranked bool // the last poll saw a live standby holding more passwords (the watcher's own)
	// probes are the logins tried with passwords this host holds of modules it lacks (catchup.go;
	// the watcher's own)
	probes map[uint64]probed

	mu   sync.Mutex
	held lease.Held
	on   bool // held: a later change without the lane is its loss

	// the password versions' watch (passwords.go): the modules this host lacks, and the engine's
	// SetHolds once it runs (holdMu keeps the two in order)
	pwStop, pwWake, pwDone chan struct{}
	stopPw                 sync.Once
	holdMu                 sync.Mutex
	lacks                  map[uint64]string
	hooksMissing           int // webhooks whose secret this host lacks (they count in the handover)
	applyHolds             func(map[uint64]string)
}

// claimWait is how long an engine that must not wait gives the first claim round.
const claimWait = 5 * time.Second

// awaitLease joins the engines of db when it is kept on PostgreSQL and returns once this process
// holds the engine lane: waiting as a standby until standby ends, or, standby nil, refusing at once
// when another host's engine holds it. On a bbolt file (whose lock is this process's alone) it
// returns nil, nil.
func awaitLease(db *store.DB, secrets store.Secrets, o EngineOptions) (*engineLease, error) {
	pg, ok := db.KV().(*pgkv.DB)
	if !ok {
		return nil, nil
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx := o.Standby
	if ctx == nil {
		ctx = context.Background()
	}
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	host, _ := os.Hostname()
	l := &engineLease{db: db, pg: pg, name: db.Path(), probes: map[uint64]probed{}, log: log, got: make(chan lease.Held, 1), lost: make(chan struct{}), handover: make(chan struct{}),
		pwStop: make(chan struct{}), pwWake: make(chan struct{}, 1), pwDone: make(chan struct{})}
	le, err := lease.Join(jctx, pg.Pool(), lease.Options{Host: host, PID: os.Getpid(), Version: o.Version,
		Logger: log, OnChange: l.changed, TTL: o.LeaseTTL, RenewEvery: o.LeaseTTL / 3})
	if err != nil {
		return nil, shareError(db, err)
	}
	l.le = le
	// What this host lacks is known before it may claim the engine, so it never runs a job of those.
	err = knowWebhooks(jctx, pg, db)
	var states map[int64]lease.PasswordState
	if err == nil {
		states, err = l.refreshPasswords(secrets, nil)
	}
	if err != nil {
		close(l.pwDone)
		_ = l.leave()
		return nil, shareError(db, err)
	}
	go l.watchPasswords(secrets, lease.DefaultPollEvery, states)
	// Join made the tables; the lane is claimed from Start on.
	if err := lease.AddLane(jctx, pg.Pool(), engineLane); err != nil {
		_ = l.leave()
		return nil, shareError(db, err)
	}
	le.Start()
	if err := l.await(ctx, o.Standby != nil); err != nil {
		_ = l.leave()
		return nil, err
	}
	pg.SetWriteCheck(l.guard)
	return l, nil
}

func shareError(db *store.DB, err error) error {
	return fmt.Errorf("cannot join the engines of %s (%v); check that the database user may create tables in its schema", db.Path(), err)
}

// changed is told the lanes held (from the lease's own goroutine).
func (l *engineLease) changed(held []lease.Held) {
	for _, h := range held {
		if h.Lane == engineLane {
			select {
			case l.got <- h:
			default:
			}
			return
		}
	}
	l.mu.Lock()
	on := l.on
	l.mu.Unlock()
	if on {
		l.lose()
	}
}

// lose marks the lease lost, once: the engine stops (Engine.watchLease).
func (l *engineLease) lose() { l.once.Do(func() { close(l.lost) }) }

// await waits for the claim, saying every half minute meanwhile who holds the lane.
func (l *engineLease) await(ctx context.Context, wait bool) error {
	first := time.NewTimer(claimWait)
	defer first.Stop()
	if wait {
		first.Reset(time.Second)
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	// An engine that must not wait refuses as soon as it sees another holding the lane.
	probe := time.NewTicker(250 * time.Millisecond)
	defer probe.Stop()
	if wait {
		probe.Stop()
	}
	for {
		select {
		case <-probe.C:
			if who, ok := engineHolder(ctx, l.pg, l.le.ID()); ok {
				return l.refusal(who)
			}
		case h := <-l.got:
			l.mu.Lock()
			l.held, l.on = h, true
			l.mu.Unlock()
			l.log.Info("engine lease taken: this host runs the engine of the shared database", "db", l.name, "epoch", h.Epoch, "engine", l.le.ID())
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-first.C:
			if !wait {
				return l.refusal(l.holder(ctx))
			}
			l.log.Info("standby: another host runs the engine; this one takes over if it stops", "db", l.name, "holder", l.holder(ctx))
		case <-tick.C:
			l.log.Info("standby: waiting for the engine lease", "holder", l.holder(ctx))
		}
	}
}

func (l *engineLease) refusal(who string) error {
	return fmt.Errorf("%s runs the engine of %s, and only one engine runs on a database at a time; attach to it (its socket with --socket, or its HTTPS API) instead", who, l.name)
}

// holder names the engine that holds the lane now, for a sentence.
func (l *engineLease) holder(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if h, ok := engineHolder(ctx, l.pg, l.le.ID()); ok {
		return h
	}
	return "another vmmpm"
}

// EngineHolder names the live engine that runs the jobs of db when it is kept on PostgreSQL (false
// on a bbolt file, or when no engine runs): a command that changes records directly beside it
// would change what that engine's memory does not know.
func EngineHolder(db *store.DB) (string, bool) {
	pg, ok := db.KV().(*pgkv.DB)
	if !ok {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return engineHolder(ctx, pg, 0)
}

// engineHolder names the live engine (other than self) that holds the engine lane.
func engineHolder(ctx context.Context, pg *pgkv.DB, self int64) (string, bool) {
	es, _ := lease.Engines(ctx, pg.Pool())
	if e, ok := runner(es, self); ok {
		return fmt.Sprintf("vmmpm on host %s (pid %d, %s)", e.Host, e.PID, e.Version), true
	}
	return "", false
}

// runner is the live engine among es, other than self, that holds the engine lane.
func runner(es []lease.EngineInfo, self int64) (lease.EngineInfo, bool) {
	for _, e := range es {
		if e.Live && e.Lanes > 0 && e.ID != self {
			return e, true
		}
	}
	return lease.EngineInfo{}, false
}

// guard fences every write of this process by the engine lane's epoch, in the round trip that
// begins each transaction (pgkv's WriteCheck): once another engine claimed the lane, this one's
// transactions fail before they write and commit nothing.
func (l *engineLease) guard() (string, func([][][]byte) error) {
	h := l.heldLane()
	return l.le.GuardSQL(h), func(rows [][][]byte) error {
		if err := l.le.GuardRows(h, rows); err != nil {
			if errors.Is(err, lease.ErrFenced) {
				l.lose()
				return ErrLeaseLost
			}
			return err
		}
		return nil
	}
}

func (l *engineLease) heldLane() lease.Held {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// epoch is the engine lane's epoch this process holds (the mark on the VMs it creates).
func (l *engineLease) epoch() int64 { return l.heldLane().Epoch }

// mayCreate is checked right before a VM is created: the database cannot fence a call to VMmanager,
// so an engine past its lease by its own clock stops (and creates nothing) before it makes one.
func (l *engineLease) mayCreate() error {
	if l.le.Holds(l.heldLane()) {
		return nil
	}
	l.lose()
	return ErrLeaseLost
}

// leave hands the lane over at once (SIGTERM, or a refused start): a standby claims it on the NOTIFY.
func (l *engineLease) leave() error {
	if l == nil {
		return nil
	}
	l.stopPw.Do(func() { close(l.pwStop) })
	<-l.pwDone
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.le.Leave(ctx)
}

// lostCh is closed when the lease lapsed or another engine claimed the lane (nil: never).
func (l *engineLease) lostCh() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.lost
}

// engineRunner names the host running the engine of a shared database, for the Lanes screen ("" on
// a bbolt file or when none runs).
func engineRunner(db *store.DB) string {
	if e, ok := runner(sharedEngines(db), 0); ok {
		return fmt.Sprintf("host %s (pid %d)", e.Host, e.PID)
	}
	return ""
}

// sharedEngines lists the engines of db when it is kept on PostgreSQL (nil on a bbolt file, or when
// the list cannot be read: status shows the rest).
func sharedEngines(db *store.DB) []lease.EngineInfo {
	pg, ok := db.KV().(*pgkv.DB)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	es, _ := lease.Engines(ctx, pg.Pool())
	return es
}
