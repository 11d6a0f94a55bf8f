package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"vmmpm/lease"
	"vmmpm/queue"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/store/kv/pgkv"
	"vmmpm/vmm"
	"vmmpm/webhook"
	"vmmpm/wizard"
)

// ModeReadOnly is Info.Mode of a Standby: this process reads a shared database whose engine runs
// on another host, and changes nothing but the jobs it adds (orders and operations, which that
// engine takes in) and the cancels and retries it asks of that engine. The value stays
// "read-only": it is part of Info's JSON.
const ModeReadOnly = "read-only"

// StandbyPoll is how often a Standby looks whether the database changed (and who runs its engine)
// when no NOTIFY woke it sooner.
var StandbyPoll = time.Second

// BesideEngine is the refusal of a change made directly on a shared database while who runs its
// engine: that engine keeps the queue in memory and would not see the change.
func BesideEngine(who, db string) error {
	return fmt.Errorf("%s runs the engine of %s, and nothing was changed: a change made beside it would not reach it; "+
		"run vmmpm with --socket set to that host's vmmpm serve, or use its HTTPS API", who, db)
}

// Standby is the Backend of a TUI on a host where another host's engine runs the jobs of a shared
// database: it reads that database as Local does with no engine, adds the jobs of orders and
// operations (Enqueue, CreateServices), which that engine takes in from the job feed, asks that
// engine for cancels and retries (ask), and refuses every other change with BesideEngine. It hears no engine events, so Events polls kv_meta's
// generation (woken by the NOTIFYs), which every
// committed write raises; the stopped engine whose lists the jobs pane and the Lanes screen read is
// made again at each change (its lists do not follow another process's writes), by queue's Follow,
// which reads what changed rather than the history.
type Standby struct {
	l  *Local
	pg *pgkv.DB
	// exec outlives the engines made at each change, so VMmanager's free counts are read once per
	// queue.CapacityEvery, not at every refresh.
	exec       queue.Executor
	refreshing sync.Mutex
	pollOnly   bool // no NOTIFY wake-ups: what BenchmarkStandbySeesACommit measures against
}

var _ Backend = (*Standby)(nil)

// NewStandby reads db (kept on PostgreSQL) with no engine; Close closes db too.
func NewStandby(db *store.DB, secrets store.Secrets, version string) (*Standby, error) {
	pg, ok := db.KV().(*pgkv.DB)
	if !ok {
		return nil, fmt.Errorf("database %s is a bbolt file, which only one process opens; a read-only view beside an engine needs a database kept on PostgreSQL", db.Path())
	}
	l := NewLocal(db, secrets, nil, version)
	l.Mode, l.OwnsDB = ModeReadOnly, true
	s := &Standby{l: l, pg: pg, exec: queue.NewVMMExecutor(l.Secrets, 0)}
	if err := s.refresh(); err != nil {
		l.OwnsDB = false // the caller still has db to close
		return nil, err
	}
	return s, nil
}

// refresh swaps in a stopped engine read afresh from the database: the first one whole, each later
// one by Follow, which reads only what changed (the finished history is not read again).
func (s *Standby) refresh() error { return s.swap(false) }

// reread is refresh reading everything again: after the generation went back (a restored database)
// the ids the lists hold may name other jobs.
func (s *Standby) reread() error { return s.swap(true) }

// swap makes the engine anew, whole or by Follow. Streams swap one at a time, as Follow's engines
// share their lists.
func (s *Standby) swap(whole bool) error {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	return s.swapLocked(whole)
}

// swapLocked is swap with s.refreshing held.
func (s *Standby) swapLocked(whole bool) error {
	s.l.mu.Lock()
	cur := s.l.engine
	s.l.mu.Unlock()
	var e *queue.Engine
	var err error
	if cur == nil || whole {
		// Its enqueues (Enqueue, CreateServices) write the webhook outbox as the engine's would.
		e, err = queue.New(s.l.DB, s.l.Secrets, queue.Options{Executor: s.exec, OnCommit: webhook.Hook(nil)})
	} else {
		e, err = cur.Follow()
	}
	if err != nil {
		return err
	}
	s.l.mu.Lock()
	old, owned := s.l.engine, s.l.ownsEng
	s.l.engine, s.l.ownsEng = e, true
	s.l.mu.Unlock()
	if old != nil && owned {
		_ = old.Close() // a read still on it goes to the database, which Close leaves open
	}
	return nil
}

// generation is kv_meta's generation (store/kv/pgkv): raised by every committed write of any host.
func (s *Standby) generation(ctx context.Context) (uint64, error) { return pgGeneration(ctx, s.pg) }

func pgGeneration(ctx context.Context, pg *pgkv.DB) (uint64, error) {
	var gen int64
	err := pg.Pool().QueryRow(ctx, `SELECT gen FROM kv_meta WHERE id = 1`).Scan(&gen)
	return uint64(gen), err
}

// Generation is a shared database's write generation, raised by every committed write of any host:
// a reader re-reads only when it moved. ok is false on a bbolt file, or when it cannot be read.
func Generation(ctx context.Context, db *store.DB) (gen uint64, ok bool) {
	pg, shared := db.KV().(*pgkv.DB)
	if !shared {
		return 0, false
	}
	gen, err := pgGeneration(ctx, pg)
	return gen, err == nil
}

// JobsChanged are the jobs the job feed of a shared database names after row `after`
// (store.ReadFeed), each once, as it is now, in the order of its last change (a job deleted since is
// left out), with the feed's newest row; ok is false when the feed cannot say (pruned past after,
// the database restored, a bbolt file): the reader reads everything, noting FeedAt first.
func JobsChanged(db *store.DB, after uint64) (jobs []store.Job, at uint64, ok bool, err error) {
	err = db.View(func(tx *store.Tx) error {
		var changes []store.JobChange
		if changes, at, ok = store.ReadFeed(tx, after); !ok {
			return nil
		}
		last := make(map[uint64]int, len(changes))
		for i, c := range changes {
			last[c.ID] = i
		}
		for i, c := range changes {
			if last[c.ID] != i || c.State == "" {
				continue
			}
			j, err := store.Get[store.Job](tx, c.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			jobs = append(jobs, *j)
		}
		return nil
	})
	return jobs, at, ok && err == nil, err
}

// FeedAt is the newest row of db's job feed: a reader that notes it, then reads everything, reads
// the feed after it next time (a change in between is read twice, never missed).
func FeedAt(db *store.DB) (at uint64, err error) {
	err = db.View(func(tx *store.Tx) error { at = store.FeedLast(tx); return nil })
	return at, err
}

// WakeEvery is the most often a reader woken by other hosts' commits reads again: an engine commits
// hundreds of times a second, and a reader that read at each wake-up would load the database the
// engine writes to. One commit alone is still seen at once.
const WakeEvery = 100 * time.Millisecond

// readShare bounds the time a woken reader spends reading: a read is followed by a pause of at
// least readShare-1 times its length, so a view beside tens of thousands of waiting jobs (a read
// of tens of milliseconds) takes a tenth of a core, not half of one.
const readShare = 10

// Pacer spaces the reads of a reader woken by other hosts' commits (see WakeEvery, readShare).
// The zero Pacer lets the first read go at once.
type Pacer struct {
	at  time.Time     // the last read ended
	gap time.Duration // how long after it the next one may begin
}

// Read notes a read that began at start and has just ended.
func (p *Pacer) Read(start time.Time) {
	p.at = time.Now()
	p.gap = max(WakeEvery, (readShare-1)*p.at.Sub(start))
}

// Wait waits for the rest of the gap after the last read; false when ctx ended meanwhile.
func (p *Pacer) Wait(ctx context.Context) bool {
	d := p.gap - time.Since(p.at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Watch wakes a reader of a shared database each time another process committed a write (pgkv's
// NOTIFY), so it need not wait for its next poll; nil, a channel never ready, on a bbolt file.
func Watch(ctx context.Context, db *store.DB) <-chan struct{} {
	pg, shared := db.KV().(*pgkv.DB)
	if !shared {
		return nil
	}
	return pg.Watch(ctx)
}

// WatchOthers is Watch woken only by other processes' commits, not this handle's own: the engine,
// looking for jobs another host wrote (queue.Options.Wake).
func WatchOthers(ctx context.Context, db *store.DB) <-chan struct{} {
	pg, shared := db.KV().(*pgkv.DB)
	if !shared {
		return nil
	}
	return pg.WatchOthers(ctx)
}

// holder is the live engine holding the engine lane (ok false when none does now).
func (s *Standby) holder(ctx context.Context) (lease.EngineInfo, bool) {
	es, _ := lease.Engines(ctx, s.pg.Pool())
	return runner(es, 0)
}

// holderName names the engine for a sentence.
func (s *Standby) holderName(ctx context.Context) string {
	if e, ok := s.holder(ctx); ok {
		return fmt.Sprintf("vmmpm on host %s (pid %d, %s)", e.Host, e.PID, e.Version)
	}
	return "another host's vmmpm (its lease lapsed; the host that takes it over runs the jobs)"
}

func (s *Standby) refuse(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return BesideEngine(s.holderName(ctx), s.l.DB.Path())
}

// Events sends a notice (Seq: the database's generation) each time the database changed. A stream
// resumed past a change it did not see, and every notice of a stream that is not light, says Reset:
// the reader re-reads. The stream ends when the engine moves to another holder (a reopened stream
// reads Info again) or the database stops answering (reopening then fails and says why).
func (s *Standby) Events(ctx context.Context, since uint64, light bool) (<-chan Event, error) {
	gen, err := s.generation(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read database %s (%v); the view waits for it", s.l.DB.Path(), err)
	}
	was, _ := s.holder(ctx)
	out := make(chan Event, 1)
	go func() {
		defer close(out)
		last, resumed := since, since != 0
		if !resumed {
			last = gen
		}
		tick := time.NewTicker(StandbyPoll)
		defer tick.Stop()
		var wake <-chan struct{} // a commit elsewhere is seen at once; the poll stays for a lost NOTIFY and the holder
		if !s.pollOnly {
			wake = s.pg.Watch(ctx)
		}
		var pace Pacer
		for {
			if gen != last {
				swap := s.refresh
				if gen < last {
					swap = s.reread
				}
				start := time.Now()
				if swap() != nil {
					return
				}
				pace.Read(start)
				ev := Event{Event: queue.Event{Seq: gen, Kind: queue.JobChanged}, Covers: int(max(gen-last, 1)),
					Reset: !light || gen < last || resumed}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
				last, resumed = gen, false
			}
			polled := false
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				polled = true
			case <-wake:
				if !pace.Wait(ctx) {
					return
				}
			}
			if gen, err = s.generation(ctx); err != nil {
				return
			}
			if !polled {
				continue
			}
			if now, _ := s.holder(ctx); now.ID != was.ID {
				// Another engine: a notice to re-read everything, then a stream whose opening reads Info again.
				if s.refresh() == nil {
					select {
					case out <- Event{Event: queue.Event{Seq: gen, Kind: queue.JobChanged}, Covers: 1, Reset: true}:
					case <-ctx.Done():
					}
				}
				return
			}
		}
	}()
	return out, nil
}

// Info is Local's, with the engine this view reads named.
func (s *Standby) Info(ctx context.Context) (Info, error) {
	info, err := s.l.Info(ctx)
	if e, ok := s.holder(ctx); ok {
		info.Engine = fmt.Sprintf("host %s (pid %d)", e.Host, e.PID)
	}
	return info, err
}

func (s *Standby) Status(ctx context.Context) (*Status, error) {
	st, err := s.l.Status(ctx)
	if err == nil {
		st.Info, err = s.Info(ctx)
	}
	return st, err
}

func (s *Standby) Close() error { return s.l.Close() }

// ---- reads: Local's, on the engine refresh made last ----

func (s *Standby) List(ctx context.Context, kind string, out any) error {
	return s.l.List(ctx, kind, out)
}
func (s *Standby) Listing(ctx context.Context, kind string, out any) (*Names, error) {
	return s.l.Listing(ctx, kind, out)
}
func (s *Standby) Get(ctx context.Context, kind string, id uint64, out any) error {
	return s.l.Get(ctx, kind, id, out)
}
func (s *Standby) Catalog(ctx context.Context) (*wizard.Catalog, error) { return s.l.Catalog(ctx) }
func (s *Standby) CheckIntegration(ctx context.Context, in wizard.Integration, password string, stored uint64) (*wizard.CheckResult, error) {
	return s.l.CheckIntegration(ctx, in, password, stored)
}
func (s *Standby) CheckPlacement(ctx context.Context, d *wizard.Draft) error {
	return s.l.CheckPlacement(ctx, d)
}
func (s *Standby) ModuleImages(ctx context.Context, id uint64) (*wizard.Images, error) {
	return s.l.ModuleImages(ctx, id)
}

// SetPassword changes this host's keyring, which no engine keeps in memory (as `module password`
// beside the engine).
func (s *Standby) SetPassword(ctx context.Context, id uint64, password string) error {
	return s.l.SetPassword(ctx, id, password)
}

// SetWebhookSecret changes only this host's keyring too (and the audit trail), as webhook secret does
// beside the engine.
func (s *Standby) SetWebhookSecret(ctx context.Context, id uint64, secret string) error {
	return s.l.SetWebhookSecret(ctx, id, secret)
}
func (s *Standby) Jobs(ctx context.Context, q JobQuery) (*JobList, error) { return s.l.Jobs(ctx, q) }
func (s *Standby) JobsView(ctx context.Context, q JobsQuery) (*JobsView, error) {
	return s.l.JobsView(ctx, q)
}
func (s *Standby) JobDetail(ctx context.Context, id uint64) (*JobDetail, error) {
	return s.l.JobDetail(ctx, id)
}
func (s *Standby) ModuleActivity(ctx context.Context, id uint64) (*ModuleActivity, error) {
	return s.l.ModuleActivity(ctx, id)
}
func (s *Standby) Stats(ctx context.Context) (*stats.Snapshot, error) { return s.l.Stats(ctx) }
func (s *Standby) ReconcileLast(ctx context.Context) ([]reconcile.Summary, error) {
	return s.l.ReconcileLast(ctx)
}
func (s *Standby) Services(ctx context.Context, q ServiceQuery) (*ServicePage, error) {
	return s.l.Services(ctx, q)
}
func (s *Standby) JobPage(ctx context.Context, q JobPageQuery) (*JobPage, error) {
	return s.l.JobPage(ctx, q)
}
func (s *Standby) Tokens(ctx context.Context) ([]store.Token, error) { return s.l.Tokens(ctx) }
func (s *Standby) Authenticate(ctx context.Context, secret, role string) (*store.Token, error) {
	return s.l.Authenticate(ctx, secret, role)
}
func (s *Standby) Webhooks(ctx context.Context) ([]store.Webhook, error) { return s.l.Webhooks(ctx) }
func (s *Standby) Deliveries(ctx context.Context, q DeliveryQuery) ([]store.Delivery, error) {
	return s.l.Deliveries(ctx, q)
}
func (s *Standby) Audit(ctx context.Context, q AuditQuery) ([]store.AuditEntry, error) {
	return s.l.Audit(ctx, q)
}

// Backup is Local's, which refuses a database kept on PostgreSQL (pg_dump copies it).
func (s *Standby) Backup(ctx context.Context, r BackupRequest) (*store.BackupInfo, error) {
	return s.l.Backup(ctx, r)
}

// ---- changes: refused, naming the engine's host ----

func (s *Standby) Save(ctx context.Context, _ store.Record) ([]string, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) Delete(ctx context.Context, _ string, _ uint64) ([]string, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) CloseTasks(ctx context.Context, _ []uint64) error { return s.refuse(ctx) }
func (s *Standby) AddPlacement(ctx context.Context, _, _ string) (*Placement, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) SaveModule(ctx context.Context, _ *wizard.Draft, _ string) (*store.Module, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) AddModule(ctx context.Context, _ *wizard.Spec, _ string) (*ModuleAdded, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) SaveTariffSpec(ctx context.Context, _ uint64, _ *wizard.TariffSpec) (*TariffSaved, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) SetModule(ctx context.Context, _ uint64, _ *wizard.ModuleChanges) (*store.Module, []string, error) {
	return nil, nil, s.refuse(ctx)
}

// CheckModule and DeepCheck keep their outcome with the module: changes too.
func (s *Standby) CheckModule(ctx context.Context, _ uint64) (*store.Check, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) DeepCheck(ctx context.Context, _ uint64, _ DeepOptions) (*vmm.Report, error) {
	return nil, s.refuse(ctx)
}

// passwordElsewhere refuses an operation carrying a password, which would stay in this host's keyring.
func (s *Standby) passwordElsewhere(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return fmt.Errorf("nothing was enqueued: the operation's password would stay in this host's keyring, which %s, where the jobs run, cannot read; "+
		"enqueue it there (vmmpm with --socket set to that host's vmmpm serve, or its HTTPS API)", s.holderName(ctx))
}

// Enqueue writes the job into the shared database, where the engine's host takes it in from the
// job feed (queue/foreign.go) and runs it. An operation carrying a password is refused: the job's
// password would be kept in this host's keyring, which the engine's host cannot read.
func (s *Standby) Enqueue(ctx context.Context, serviceID uint64, op string, args map[string]string) (*store.Job, error) {
	if op == store.OpSetPassword || args[queue.ArgPassword] != "" {
		return nil, s.passwordElsewhere(ctx)
	}
	return enqueueFresh(s, func() (*store.Job, error) { return s.l.Enqueue(ctx, serviceID, op, args) })
}

// enqueueFresh runs enqueue on the database as it is now: the engine is read again first (the jobs
// the feed names since the last refresh), so the plan (the service's queued operations, the lane)
// is made on what the other host's engine committed up to this moment, and no refresh swaps it out
// meanwhile.
func enqueueFresh[T any](s *Standby, enqueue func() (T, error)) (T, error) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	if err := s.swapLocked(false); err != nil {
		var zero T
		return zero, fmt.Errorf("nothing was enqueued: database %s cannot be read (%v); try again", s.l.DB.Path(), err)
	}
	return enqueue()
}

// CreateServices orders services into the shared database, whose engine takes their opens in from
// the job feed (see Enqueue).
func (s *Standby) CreateServices(ctx context.Context, tariff string, count int, client string) (*Ordered, error) {
	return enqueueFresh(s, func() (*Ordered, error) { return s.l.CreateServices(ctx, tariff, count, client) })
}

// Cancel asks the engine's host to cancel the job (store.AskJob) and waits for its answer: that
// engine keeps its jobs in memory, so it makes the change itself.
func (s *Standby) Cancel(ctx context.Context, id uint64) error {
	return s.ask(ctx, id, store.RequestCancel)
}

// Retry asks the engine's host to retry the job, as Cancel.
func (s *Standby) Retry(ctx context.Context, id uint64) error {
	return s.ask(ctx, id, store.RequestRetry)
}

// AnswerWait is how long Cancel and Retry wait for the engine's host to answer.
var AnswerWait = 15 * time.Second

// ask writes the request and waits for its answer, woken by the answer's commit (its NOTIFY) and
// looking every 200 ms besides. The engine's refusal comes back as its sentence.
func (s *Standby) ask(ctx context.Context, id uint64, action string) (err error) {
	if _, ok := s.holder(ctx); !ok {
		return s.refuse(ctx) // no engine to carry it out, and nothing written
	}
	defer func() { s.l.audit(ctx, "job."+action, fmt.Sprintf("job %d", id), err) }() // as Local's Cancel and Retry
	var seq uint64
	err = s.l.DB.Update(func(tx *store.Tx) (err error) {
		if _, err := store.Get[store.Job](tx, id); err != nil {
			return &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("job %d does not exist; see vmmpm jobs", id)}
		}
		seq, err = store.AskJob(tx, &store.JobRequest{Job: id, Action: action, By: CallerOf(ctx).String(), At: time.Now()})
		return err
	})
	if err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, AnswerWait)
	defer cancel()
	woken := s.pg.Watch(wait)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var r store.JobRequest
		var answered bool
		if err := s.l.DB.View(func(tx *store.Tx) error {
			r, answered = store.GetJobRequest(tx, seq)
			answered = answered && r.Answered
			return nil
		}); err == nil && answered {
			if r.Error != "" {
				return errors.New(r.Error)
			}
			return nil
		}
		select {
		case <-wait.Done():
			return fmt.Errorf("%s did not answer the %s of job %d within %s; it may still carry it out: see vmmpm jobs", s.holderName(context.Background()), action, id, AnswerWait)
		case <-woken:
		case <-tick.C:
		}
	}
}

func (s *Standby) PauseModule(ctx context.Context, _ uint64, _ bool) (*ModuleActivity, error) {
	return nil, s.refuse(ctx)
}

// ReconcileScan keeps each module's outcome as its last scan.
func (s *Standby) ReconcileScan(ctx context.Context, _ reconcile.Query, _ func(reconcile.Progress)) (*reconcile.Report, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) ReconcileAct(ctx context.Context, _ reconcile.Action) (*reconcile.Acted, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) Order(ctx context.Context, _ OrderRequest) (*Placed, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) Operate(ctx context.Context, _ OperateRequest) (*Operated, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) JobAction(ctx context.Context, _ JobActionRequest) (*Operated, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) AddToken(ctx context.Context, _ TokenRequest) (*TokenAdded, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) RemoveToken(ctx context.Context, _ string) error { return s.refuse(ctx) }
func (s *Standby) AddWebhook(ctx context.Context, _ WebhookRequest) (*WebhookAdded, error) {
	return nil, s.refuse(ctx)
}
func (s *Standby) RemoveWebhook(ctx context.Context, _ uint64) error { return s.refuse(ctx) }
func (s *Standby) TestWebhook(ctx context.Context, _ uint64) (*store.Delivery, error) {
	return nil, s.refuse(ctx)
}

// engineRenewed is when the live engine holding a shared database's engine lane last renewed its
// lease (zero on a bbolt file or when none holds it), for the Lanes screen.
func engineRenewed(db *store.DB) time.Time {
	if e, ok := runner(sharedEngines(db), 0); ok {
		return e.RenewedAt
	}
	return time.Time{}
}
