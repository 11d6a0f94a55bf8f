package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// Defaults of Options.
const (
	DefaultWorkers        = 256
	DefaultKeepFinished   = 100_000
	DefaultPollEvery      = 2 * time.Second
	DefaultAttemptTimeout = 30 * time.Minute
	DefaultHealthWindow   = 5 * time.Minute
	pruneBatch            = 1000
)

// Options tune an Engine; the zero value is what the product uses.
type Options struct {
	// Workers caps operations running at once over all modules (default 256). Queues off means
	// "start at once", so the cap is only a safety net against thousands of simultaneous calls.
	Workers int
	// BackoffBase is the unit of the attempt⁴ retry delay (default 1 s; tests use milliseconds).
	BackoffBase time.Duration
	// PollEvery is how often a VMmanager task is polled (default 2 s).
	PollEvery time.Duration
	// MaxAttempts per job (default store.DefaultMaxTries, 8).
	MaxAttempts int
	// KeepFinished is how many finished jobs are kept; older ones are pruned (default 100,000).
	KeepFinished int
	// AttemptTimeout bounds one attempt; running out counts as a transient error (default 30 min).
	AttemptTimeout time.Duration
	// HealthWindow is how long a module's failure counts as a "recent error" for selection (default 5 min).
	HealthWindow time.Duration
	// Logger gets one line per committed job transition (default: discard).
	Logger *slog.Logger
	// Now is the clock for timestamps (default time.Now).
	Now func() time.Time
	// Rand draws backoff jitter (default: randomly seeded).
	Rand *rand.Rand
	// Executor runs operations (default: VMmanager 6 through package vmm).
	Executor Executor
	// MaxPause bounds how long Run waits for a disk that refuses writes, or for a keyring that cannot
	// give passwords, before it returns the cause (0: wait until stopped). vmmpm engine --until-idle
	// sets it so a full disk or a locked keyring ends the run.
	MaxPause time.Duration
	// OnCommit runs inside every transaction that writes jobs (see CommitHook); nil: none.
	OnCommit CommitHook
	// MayCreate is asked right before a VMmanager call that makes what no database transaction can
	// take back (a VM); its error stops that attempt before the call. On a shared database it is
	// the engine lease's check by this host's clock: one engine that froze past its lease must not
	// create a VM another engine has already made. It is asked for the module whose lane the job
	// runs under (today every module's is the engine lane). nil: always.
	MayCreate func(module uint64) error
	// Epoch is the lease epoch a module's jobs run under on a shared database (the engine lane's
	// today): the VMs the engine creates are marked with it (EpochMark). nil or 0: no mark.
	Epoch func(module uint64) int64
	// FaultPoint is called at the fixed points of an open's create call (faultpoint.go), with the
	// job: a test hook (VMMPM_FAULT_STOP) that freezes the process there. nil in production.
	FaultPoint func(point string, job uint64)
	// Wake, on a shared database, wakes the running engine each time another process committed
	// (pgkv's NOTIFY, backend.Watch), so the jobs it enqueued are taken in at once (foreign.go);
	// ForeignPoll is the fallback. nil: the poll only.
	Wake func(ctx context.Context) <-chan struct{}

	update updateFunc // tests inject disk faults here; nil is db.Update
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.PollEvery <= 0 {
		o.PollEvery = DefaultPollEvery
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = store.DefaultMaxTries
	}
	if o.KeepFinished <= 0 {
		o.KeepFinished = DefaultKeepFinished
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.HealthWindow <= 0 {
		o.HealthWindow = DefaultHealthWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = defaultRand()
	}
}

// ErrRunning is returned by Run when the engine is already running.
var ErrRunning = errors.New("the engine is already running")

// jobState is the scheduler's view of one unfinished job. The scheduler owns job; workers get copies.
type jobState struct {
	job     store.Job
	keyName string
	lane    *lane // nil with queues off
	seq     uint64
	worker  bool // a worker goroutine is running it
	recover bool // found running with no worker: resume it when Run starts
	partial bool // only the scheduling fields are loaded (load); fill reads the rest
	timer   *time.Timer
	// stop ends the running attempt's context; cancelBy and cancelReply are a cancel asked of the
	// worker running it (stuck.go).
	stop        context.CancelFunc
	cancelBy    string
	cancelReply chan error
	// committed: job state and module in the last change submitted for it
	lastState  string
	lastModule uint64
}

// lane is one queue key: its unfinished jobs in enqueue order; only the head may run.
type lane struct {
	key     string
	keyName string
	module  uint64
	fifo    []*jobState
	// running is the job the lane runs (nil: none). It need not be fifo[0]: a job waiting out its
	// retry's backoff lets the lane run the jobs behind it (spec §4), and may be queued again, ahead
	// of the running one, before that one ends.
	running *jobState
}

func (l *lane) busy() bool { return l.running != nil }

// leaveLane records that js no longer runs in its lane (it ended an attempt, or went back to wait).
func (e *Engine) leaveLane(js *jobState) {
	if l := js.lane; l != nil && l.running == js {
		l.running = nil
		e.modLanesOf(l.module).busy--
	}
}

// head is the lane's next job to run: the first neither waiting out a backoff nor held by its
// module's pause (a key name without __PMID__ puts several modules in one lane).
func (e *Engine) head(l *lane) *jobState {
	for _, js := range l.fifo {
		if js.job.State != store.JobRetrying && !e.pausedFor(js) {
			return js
		}
	}
	return nil
}

// moduleLanes counts what the jobs header shows per module.
type moduleLanes struct {
	busy     int
	keyNames map[string]int // lanes per key name in use
}

type modHealth struct {
	bad     bool
	lastErr time.Time
	msg     string
}

// Engine runs VPS operations under queue keys (spec §4–§6). One Engine per database: the bbolt lock
// already guarantees that no other process writes the same file.
type Engine struct {
	db      *store.DB
	secrets store.Secrets
	opt     Options
	log     *slog.Logger
	exec    Executor
	c       *committer
	rm      *readModel
	ev      *broker
	fed     feedPos // a follower's place in the job feed (Follow)
	// placed are a follower's unfinished jobs in loadOrder, as place put them (Follow reads them)
	placed  []*jobState
	modules decoded[store.Module, *store.Module]
	tariffs decoded[store.Tariff, *store.Tariff]

	mu       sync.Mutex
	jobs     map[uint64]*jobState // unfinished jobs
	lanes    map[string]*lane
	svcs     map[uint64][]*jobState // unfinished jobs per service, in enqueue order
	modLanes map[uint64]*moduleLanes
	opens    map[uint64]int // unfinished open jobs per module (activation limit)
	health   map[uint64]*modHealth
	seq      uint64
	waiting  []*jobState // startable, held back by the Workers cap, in enqueue order
	workers  int
	active   bool
	runCtx   context.Context
	stopRun  context.CancelFunc
	fatal    error
	pause    *StorageFault // the disk refuses commits: start nothing until it takes one
	holding  bool          // finishChange collects the starts it causes in held
	relaying bool          // a worker is finishing: the first job spawn starts goes to it (relay)
	relay    *relayed
	held     []*change
	keyWait  *keyWait                // the keyring cannot give passwords: start nothing until it can
	capWaits map[capKey]*capWait     // a module's opens wait for room in VMmanager: start none of them
	paused   map[uint64]*ModulePause // modules an admin paused: start none of their jobs (pause.go)
	holds    map[uint64]string       // modules this host must not run, and why (hold.go)
	// elsewhere are the modules another engine on the shared database runs, and who (elsewhere.go)
	elsewhere map[uint64]string
	capRead   sync.Map // module id → when Capacity last began reading its free room
	wg        sync.WaitGroup
	idle      chan struct{}
	pruning   atomic.Bool
	enq       enqueuer      // groups concurrent enqueues into one transaction (group.go)
	loaded    chan struct{} // closed when load has built the scheduler
	listed    chan struct{} // closed when the read model's id lists have loaded
	loadErr   error
}

// New opens the engine on db: it loads unfinished jobs (a job found running was interrupted and will
// be resumed by Run) and starts the committer. Call Close when done.
func New(db *store.DB, secrets store.Secrets, opt Options) (*Engine, error) {
	opt.defaults()
	if err := ensureIndex(db); err != nil {
		return nil, err
	}
	total, unfinished, err := storedTotals(db)
	if err != nil {
		return nil, err
	}
	e, err := open(db, secrets, opt, newReadModel())
	if err != nil {
		return nil, err
	}
	// Counts are stored and Page reads the index until the id lists have loaded, so a first frame
	// waits for neither the lists nor a large backlog; everything that schedules waits for the
	// scheduler (ready). Small ones (a few milliseconds) load here, so callers see them at once.
	e.loaded, e.listed = make(chan struct{}), make(chan struct{})
	loadLists := func() {
		defer close(e.listed)
		_ = e.db.View(func(tx *store.Tx) error { e.rm.load(tx); return nil })
	}
	switch {
	case total <= syncLoadMax:
		loadLists()
	case unfinished <= syncLoadMax:
		go loadLists()
	default: // one goroutine for both leaves the other core to the first frame
		go func() {
			defer close(e.loaded)
			loadLists()
			e.loadErr = e.load()
		}()
		return e, nil
	}
	defer close(e.loaded)
	if e.loadErr = e.load(); e.loadErr != nil {
		e.c.close()
		<-e.listed
		return nil, e.loadErr
	}
	return e, nil
}

// open is an engine on db with the read model rm, its scheduler not loaded yet, its committer
// started.
func open(db *store.DB, secrets store.Secrets, opt Options, rm *readModel) (*Engine, error) {
	e := &Engine{
		db: db, secrets: secrets, opt: opt, log: opt.Logger, exec: opt.Executor,
		rm: rm, ev: newBroker(),
		jobs: map[uint64]*jobState{}, lanes: map[string]*lane{}, svcs: map[uint64][]*jobState{},
		modLanes: map[uint64]*moduleLanes{}, opens: map[uint64]int{}, health: map[uint64]*modHealth{},
		paused: map[uint64]*ModulePause{}, idle: make(chan struct{}, 1),
	}
	if e.exec == nil {
		e.exec = NewVMMExecutor(secrets, opt.PollEvery)
	}
	if err := db.View(func(tx *store.Tx) (err error) { e.paused, err = readPauses(tx); return err }); err != nil {
		return nil, err // read before the scheduler loads, so Pauses never waits for it
	}
	e.c = newCommitter(db, opt.update, e.published, e.onFault)
	e.c.onCommit = opt.OnCommit
	return e, nil
}

// syncLoadMax is the most unfinished jobs New loads before it returns.
const syncLoadMax = 5000

// ready waits until the scheduler has loaded the unfinished jobs.
func (e *Engine) ready() error {
	<-e.loaded
	return e.loadErr
}

// Close stops the committer after writing everything submitted. Call it after Run has returned.
func (e *Engine) Close() error {
	<-e.loaded
	<-e.listed
	e.c.close()
	return nil
}

// load builds the scheduler from the unfinished jobs' scheduling entries, decoding and sorting them
// before it takes the lock; each job is read whole only when it starts or changes (fill).
func (e *Engine) load() error {
	states, stale, err := e.readUnfinished()
	if err != nil {
		return err
	}
	return e.place(states, stale)
}

// place puts the unfinished jobs readUnfinished read into the scheduler, rebuilding the entries
// first when they were stale.
func (e *Engine) place(states []jobState, stale bool) error {
	if stale {
		// Written by a vmmpm that did not keep the scheduling entries (an older one): rebuild them.
		var err error
		if err = rebuildIndex(e.db); err == nil {
			states, stale, err = e.readUnfinished()
		}
		if err == nil && stale {
			err = fmt.Errorf("the queue's entries in %s disagree with its job index even after a rebuild; restore the database from a backup", e.db.Path())
		}
		if err != nil {
			return err
		}
	}
	open := make([]*jobState, len(states))
	for i := range states {
		open[i] = &states[i]
		open[i].keyName = keyNameOf(&open[i].job)
	}
	if !slices.IsSortedFunc(open, loadOrder) { // a follower's come sorted (movedBy)
		slices.SortFunc(open, loadOrder)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.fed.whole.IsZero() { // a follower (Follow): its follower starts from this order
		e.placed = open
	}
	e.jobs = make(map[uint64]*jobState, len(states))
	e.svcs = make(map[uint64][]*jobState, len(states))
	for _, js := range open {
		e.addJob(js)
	}
	var evs []Event
	for _, l := range e.lanes { // lanes' depth and business are known only now: tell the screens
		evs = append(evs, e.laneEvent(l))
	}
	e.ev.publish(evs...)
	return nil
}

// loadOrder is the order place puts unfinished jobs in: a running job heads its lane and its
// service; the rest follow in enqueue order. The id makes it total, so any sort gives one result.
func loadOrder(a, b *jobState) int {
	if ra, rb := a.job.State == store.JobRunning, b.job.State == store.JobRunning; ra != rb {
		if ra {
			return -1
		}
		return 1
	}
	if c := a.job.EnqueuedAt.Compare(b.job.EnqueuedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.job.ID, b.job.ID)
}

// readUnfinished reads the scheduling entries; stale: they do not match the index (state and module
// of every entry, and how many jobs are unfinished).
func (e *Engine) readUnfinished() (states []jobState, stale bool, err error) {
	err = e.db.View(func(tx *store.Tx) error { // counts and entries from one snapshot
		states, stale = readUnfinishedIn(tx.KV())
		e.fed.at = store.FeedLast(tx) // another host's jobs after this snapshot come by the feed
		return nil
	})
	return states, stale, err
}

// readUnfinishedIn is readUnfinished in bt.
func readUnfinishedIn(bt kv.Tx) (states []jobState, stale bool) {
	n := 0
	for _, c := range readCounts(bt) {
		n += c.unfinished()
	}
	b, idx := bt.Bucket(bucketUnfinished), bt.Bucket(bucketIndex)
	if b == nil || idx == nil {
		return nil, n > 0
	}
	states = make([]jobState, 0, n) // one allocation for the lot, sized from the counts
	ic := indexWalker{c: idx.Cursor()}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		j, ok := schedJob(store.KeyID(k), v)
		// The index entry of an unfinished job may hold an earlier unfinished state (bucketIndex).
		if !ok || !agrees(v, ic.get(k)) {
			return nil, true
		}
		states = append(states, jobState{job: j, recover: j.State == store.JobRunning,
			lastState: j.State, lastModule: j.ModuleID, partial: true})
	}
	return states, len(states) != n
}

// agrees reports whether a scheduling entry and the job's index entry agree: both unfinished, in
// one module (the index entry may hold an earlier unfinished state, bucketIndex).
func agrees(sched, index []byte) bool {
	return len(index) == 9 && unfinishedCode(index[0]) && string(index[1:9]) == string(sched[1:9])
}

// fill reads the whole job before the engine changes it, if load left it partial (e.mu held).
func (e *Engine) fill(js *jobState) error {
	if !js.partial {
		return nil
	}
	_, err := e.fillAll([]*jobState{js})
	return err
}

// fillAll is fill for many jobs, in one read (e.mu held). It returns the jobs it filled: one whose
// record does not decode is put in quarantine instead (and its error returned, unless another failed).
func (e *Engine) fillAll(jss []*jobState) ([]*jobState, error) {
	kept := make([]*jobState, 0, len(jss))
	var bad []*jobState
	var damage []*store.Damage
	err := e.db.View(func(tx *store.Tx) error {
		for _, js := range jss {
			if !js.partial {
				kept = append(kept, js)
				continue
			}
			j, err := store.Get[store.Job](tx, js.job.ID)
			if d := (*store.Damage)(nil); errors.As(err, &d) && d.Record {
				bad, damage = append(bad, js), append(damage, d)
				continue
			}
			if err != nil {
				return fmt.Errorf("job %d cannot be read from %s (%w); check the database with bbolt check or restore a backup", js.job.ID, e.db.Path(), err)
			}
			js.job, js.partial = *j, false
			kept = append(kept, js)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, js := range bad {
		if qerr := e.quarantine(js, damage[i]); err == nil {
			err = qerr
		}
	}
	return kept, err
}

// keyNameOf recovers the key name from a stored queue key "{key_name}-{n}".
func keyNameOf(j *store.Job) string {
	if j.QueueKey == "" {
		return ""
	}
	return j.QueueKey[:max(0, len(j.QueueKey)-len(fmt.Sprint(j.Lane))-1)]
}

// ---- scheduler bookkeeping (e.mu held) ----

func (e *Engine) addJob(js *jobState) {
	e.seq++
	js.seq = e.seq
	e.jobs[js.job.ID] = js
	e.svcs[js.job.ServiceID] = append(e.svcs[js.job.ServiceID], js)
	if js.job.Type == store.OpOpen {
		e.opens[js.job.ModuleID]++
	}
	if js.job.QueueKey == "" {
		return
	}
	l := e.lanes[js.job.QueueKey]
	if l == nil {
		l = &lane{key: js.job.QueueKey, keyName: js.keyName, module: js.job.ModuleID}
		e.lanes[l.key] = l
		ml := e.modLanesOf(l.module)
		ml.keyNames[l.keyName]++
	}
	l.fifo = append(l.fifo, js)
	js.lane = l
	if js.job.State == store.JobRunning {
		l.running = js
		e.modLanesOf(l.module).busy++
	}
}

func (e *Engine) modLanesOf(module uint64) *moduleLanes {
	ml := e.modLanes[module]
	if ml == nil {
		ml = &moduleLanes{keyNames: map[string]int{}}
		e.modLanes[module] = ml
	}
	return ml
}

// removeJob drops a finished job from the scheduler and returns the jobs that may now start.
func (e *Engine) removeJob(js *jobState) []*jobState {
	delete(e.jobs, js.job.ID)
	if js.timer != nil {
		js.timer.Stop()
		js.timer = nil
	}
	if js.job.Type == store.OpOpen {
		if e.opens[js.job.ModuleID]--; e.opens[js.job.ModuleID] <= 0 {
			delete(e.opens, js.job.ModuleID)
		}
	}
	var next []*jobState
	q := deleteFrom(e.svcs[js.job.ServiceID], js)
	if len(q) == 0 {
		delete(e.svcs, js.job.ServiceID)
	} else {
		e.svcs[js.job.ServiceID] = q
		next = append(next, q[0])
	}
	if l := js.lane; l != nil {
		l.fifo = deleteFrom(l.fifo, js)
		if l.running == js {
			l.running = nil
		}
		if len(l.fifo) == 0 {
			delete(e.lanes, l.key)
			ml := e.modLanesOf(l.module)
			if ml.keyNames[l.keyName]--; ml.keyNames[l.keyName] <= 0 {
				delete(ml.keyNames, l.keyName)
			}
		} else if h := e.head(l); h != nil {
			next = append(next, h)
		}
	}
	if len(e.jobs) == 0 || len(e.paused)+len(e.holds) > 0 { // with a pause or hold, what is left may all wait (settled)
		select {
		case e.idle <- struct{}{}:
		default:
		}
	}
	return next
}

func deleteFrom(q []*jobState, js *jobState) []*jobState {
	if i := slices.Index(q, js); i >= 0 {
		return slices.Delete(q, i, i+1)
	}
	return q
}

// startable: queued, heading both its service and its lane, and the engine running.
func (e *Engine) startable(js *jobState) bool {
	if !e.active || e.pause != nil || e.keyWait != nil || js.worker || js.job.State != store.JobQueued || e.jobs[js.job.ID] != js {
		return false
	}
	if q := e.svcs[js.job.ServiceID]; len(q) == 0 || q[0] != js || e.pausedFor(js) || e.heldFor(js) {
		return false
	}
	if e.ranElsewhere(js) {
		return false
	}
	if js.job.Type == store.OpOpen && e.capacityHeld(js.job.ModuleID) {
		return false
	}
	return js.lane == nil || !js.lane.busy() && e.head(js.lane) == js
}

// kick starts each startable job, or parks it while the Workers cap is reached.
func (e *Engine) kick(cands ...*jobState) {
	for _, js := range cands {
		if !e.startable(js) {
			continue
		}
		if e.workers >= e.opt.Workers {
			if !slices.Contains(e.waiting, js) {
				i := sort.Search(len(e.waiting), func(i int) bool { return e.waiting[i].seq > js.seq })
				e.waiting = slices.Insert(e.waiting, i, js)
			}
			continue
		}
		e.start(js)
	}
}

// unpark starts parked jobs while workers are free.
func (e *Engine) unpark() {
	for len(e.waiting) > 0 && e.workers < e.opt.Workers {
		js := e.waiting[0]
		e.waiting = e.waiting[1:]
		if e.startable(js) {
			e.start(js)
		}
	}
}

// start commits queued → running and hands the job to a worker, which waits for that commit before
// its first VMmanager call.
func (e *Engine) start(js *jobState) {
	if err := e.fill(js); err != nil {
		e.setFatalLocked(err)
		return
	}
	now := e.opt.Now()
	j := &js.job
	j.State = store.JobRunning
	j.Attempt++
	j.StartedAt = now
	j.NextRunAt = time.Time{}
	if strings.HasPrefix(j.Error, waitingPrefix) { // set by a keyring wait, maybe before a restart
		j.Error = ""
	}
	j.Logf(now, "attempt %d of %d started", j.Attempt, j.MaxAttempts)
	ch := e.jobChange(js)
	if js.lane != nil {
		js.lane.running = js
		e.modLanesOf(js.lane.module).busy++
		ch.events = append(ch.events, e.laneEvent(js.lane))
	}
	ch.done = make(chan error, 1)
	op := e.newOp(js, false)
	// The context is read in the transaction that marks the job running (a View less per job, a
	// round trip less on PostgreSQL); its error is the attempt's, never the commit's.
	ch.read = func(tx *store.Tx) { op.readErr, op.read = e.readContext(tx, op), true }
	if e.holding {
		e.held = append(e.held, ch) // finishChange submits it with the end that freed the lane
	} else {
		e.c.submit(ch)
	}
	e.spawnOp(js, op, ch.done)
}

func (e *Engine) newOp(js *jobState, resumed bool) *Op {
	return &Op{Job: cloneJob(&js.job), Resumed: resumed, e: e, js: js}
}

func (e *Engine) spawn(js *jobState, committed <-chan error, resumed bool) {
	e.spawnOp(js, e.newOp(js, resumed), committed)
}

func (e *Engine) spawnOp(js *jobState, op *Op, committed <-chan error) {
	js.worker = true
	js.recover = false
	e.workers++
	e.wg.Add(1)
	if e.relaying && e.relay == nil {
		e.relay = &relayed{op: op, committed: committed} // the finishing worker runs it next
		return
	}
	go e.work(e.runCtx, op, committed)
}

// jobChange snapshots the job for the committer and advances its committed state.
func (e *Engine) jobChange(js *jobState) *change {
	if js.lastState != "" && e.ranElsewhere(js) {
		// Only the engine running a module moves its jobs: a write from this one's memory would undo
		// that engine's. Every path that changes a job checks first; this says which one did not.
		e.log.Error("a change to a job of a module another engine runs was not written", "job", js.job.ID, "module", js.job.ModuleID, "state", js.job.State)
		return &change{}
	}
	w := jobWrite{job: cloneJob(&js.job), fromState: js.lastState, fromModule: js.lastModule}
	js.lastState, js.lastModule = js.job.State, js.job.ModuleID
	return &change{jobs: []jobWrite{w}}
}

func (e *Engine) laneEvent(l *lane) Event {
	return Event{Kind: LaneChanged, ModuleID: l.module, Lane: l.key, LaneBusy: l.busy(), LaneDepth: len(l.fifo)}
}

func cloneJob(j *store.Job) store.Job {
	c := *j
	c.Args = maps.Clone(j.Args)
	c.Log = slices.Clone(j.Log)
	if j.VMTask != nil {
		t := *j.VMTask
		c.VMTask = &t
	}
	return c
}

// published runs in the committer after each change is durable (or failed): it updates the read model,
// logs the transitions and publishes the events, in commit order.
func (e *Engine) published(ch *change, err error) {
	if err != nil {
		if len(ch.prune) > 0 {
			e.pruning.Store(false)
		}
		var f *StorageFault
		if !errors.As(err, &f) {
			err = fmt.Errorf("writing the job state to %s failed: %w", e.db.Path(), err)
		}
		e.setFatal(err)
		return
	}
	e.rm.mu.Lock()
	for _, w := range ch.jobs {
		e.rm.move(w.job.ID, w.fromState, w.job.State)
	}
	gone := make([]move, 0, len(ch.pruned))
	for _, w := range ch.pruned {
		from := w.fromState
		if from == fromLists {
			from = e.rm.stateOf(w.job.ID)
		}
		gone = append(gone, move{id: w.job.ID, from: from})
	}
	e.rm.dropGone(gone)
	if len(ch.prune) > 0 {
		e.pruning.Store(false)
	}
	over := len(e.rm.finished.ids) - e.opt.KeepFinished
	var prune []uint64
	if over > 0 && e.pruning.CompareAndSwap(false, true) {
		prune = slices.Clone(e.rm.finished.ids[:min(over, pruneBatch)])
	}
	e.rm.mu.Unlock()
	evs := make([]Event, 0, len(ch.jobs)+len(ch.events))
	for i := range ch.jobs {
		w := &ch.jobs[i]
		if w.job.State != w.fromState {
			e.logTransition(&w.job)
		}
		j := cloneJob(&w.job)
		evs = append(evs, Event{Kind: JobChanged, Job: &j, ModuleID: j.ModuleID})
	}
	e.ev.publish(append(evs, ch.events...)...)
	for _, w := range ch.pruned {
		if w.job.Type == store.OpSetPassword {
			e.dropJobSecret(w.job.ID)
		}
	}
	if len(prune) > 0 {
		// Oldest finished jobs beyond KeepFinished go, a batch at a time; one prune is in flight at most.
		e.c.submit(&change{prune: prune})
	}
}

func (e *Engine) logTransition(j *store.Job) {
	attrs := []any{"job", j.ID, "type", j.Type, "service", j.ServiceID, "module", j.ModuleID,
		"attempt", j.Attempt, "queue_key", j.QueueKey}
	if j.VMTask != nil {
		attrs = append(attrs, "vm_task", j.VMTask.ConsulID)
	}
	if j.State == store.JobRetrying {
		attrs = append(attrs, "next_run_at", j.NextRunAt.Format(time.RFC3339Nano))
	}
	if j.Error != "" {
		attrs = append(attrs, "error", j.Error)
	}
	e.log.Info("job "+j.State, attrs...)
}

func taskID(t *store.VMTask) string {
	if t == nil {
		return "-"
	}
	return t.ConsulID
}

func (e *Engine) setFatal(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.setFatalLocked(err)
}

func (e *Engine) setFatalLocked(err error) {
	if isQuarantined(err) {
		return // the engine goes on without that job
	}
	if e.fatal == nil {
		e.fatal = err
	}
	if e.stopRun != nil {
		e.stopRun()
	}
}

// ---- running ----

// Run starts queued jobs and resumes interrupted ones until ctx is done. On return no worker is left:
// an operation cut short stays "running" in the file, with its VMmanager task recorded, and the next
// Run resumes it. Every transition is written whole or not at all.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.ready(); err != nil {
		return err
	}
	if err := e.c.failed(); err != nil {
		return err // the committer gave up on the disk: what is in memory is ahead of the file
	}
	e.mu.Lock()
	if e.active {
		e.mu.Unlock()
		return ErrRunning
	}
	runCtx, stop := context.WithCancel(ctx)
	e.active, e.runCtx, e.stopRun, e.fatal = true, runCtx, stop, nil
	e.activate()
	if e.db.KeepsFeed() { // other hosts may enqueue: their jobs come by the feed
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.takeForeign(runCtx) }()
	}
	e.mu.Unlock()

	<-runCtx.Done()

	e.mu.Lock()
	e.active = false
	for _, js := range e.jobs {
		if js.timer != nil {
			js.timer.Stop()
			js.timer = nil
		}
	}
	e.waiting = nil
	e.mu.Unlock()
	e.c.setStopping(true) // a paused commit gives up now rather than hold the workers forever
	e.wg.Wait()
	for e.c.flush() == nil && e.pruning.Load() { // let a prune chain started by the last commits finish
	}
	e.c.setStopping(false)
	stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.runCtx, e.stopRun = nil, nil
	if e.fatal == nil {
		e.fatal = e.c.failed()
	}
	return e.fatal
}

// activate resumes interrupted jobs, arms retry timers and starts whatever can start (e.mu held).
func (e *Engine) activate() {
	if e.keyWait != nil || e.capWaits != nil { // ask afresh: the first job to need it waits again if it must
		e.keyWait, e.capWaits = nil, nil
		e.publishStatus()
	}
	all := e.sortedJobs()
	for _, js := range all {
		switch {
		case e.interrupted(js):
			e.resume(js)
		case js.job.State == store.JobRetrying && !e.ranElsewhere(js):
			e.armRetry(js)
		}
	}
	for _, js := range all {
		e.kick(js)
	}
}

// interrupted: js was found running with no worker, and nothing holds it here (e.mu held).
func (e *Engine) interrupted(js *jobState) bool {
	return js.job.State == store.JobRunning && !js.worker && !e.heldFor(js) && !e.ranElsewhere(js)
}

// resume restarts a job found running with no worker (interrupted, or held by a keyring wait).
func (e *Engine) resume(js *jobState) {
	if err := e.fill(js); err != nil {
		e.setFatalLocked(err)
		return
	}
	js.job.Logf(e.opt.Now(), "resumed after an interruption (attempt %d)", js.job.Attempt)
	e.log.Info("job resumed", "job", js.job.ID, "type", js.job.Type, "service", js.job.ServiceID,
		"attempt", js.job.Attempt, "queue_key", js.job.QueueKey, "vm_task", taskID(js.job.VMTask))
	ch := e.jobChange(js)
	ch.done = make(chan error, 1)
	e.c.submit(ch)
	e.spawn(js, ch.done, true)
}

// RunUntilIdle runs until nothing is queued, running or waiting to retry, or ctx is done.
func (e *Engine) RunUntilIdle(ctx context.Context) error {
	if err := e.ready(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	for {
		// The last ends must be durable too: a paused commit is waited out here (Options.MaxPause).
		if e.settled() && e.c.flush() == nil && e.settled() {
			e.logHeld()
			cancel()
			return <-done
		}
		select {
		case err := <-done:
			return err
		case <-e.idle:
		}
	}
}

func (e *Engine) armRetry(js *jobState) {
	delay := max(js.job.NextRunAt.Sub(e.opt.Now()), 0)
	js.timer = time.AfterFunc(delay, func() { e.due(js) })
}

// due moves a retrying job back to queued when its wait is over.
func (e *Engine) due(js *jobState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.active || e.jobs[js.job.ID] != js || js.job.State != store.JobRetrying || e.ranElsewhere(js) {
		return
	}
	js.timer = nil
	if err := e.fill(js); err != nil {
		e.setFatalLocked(err)
		return
	}
	js.job.State = store.JobQueued
	js.job.Logf(e.opt.Now(), "wait over, queued for attempt %d", js.job.Attempt+1)
	e.notePaused(js, e.paused[js.job.ModuleID], e.opt.Now())
	e.c.submit(e.jobChange(js))
	e.kick(js)
}

// mayCreate is Options.MayCreate for module, or nil without one.
func (e *Engine) mayCreate(module uint64) error {
	if e == nil || e.opt.MayCreate == nil {
		return nil
	}
	return e.opt.MayCreate(module)
}
