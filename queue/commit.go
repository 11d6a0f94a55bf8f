package queue

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vmmpm/store"
)

// jobWrite is one job snapshot to store, with the state and module it had in the last committed write
// (so the read model can move it without reading the file).
type jobWrite struct {
	job        store.Job
	fromState  string
	fromModule uint64
}

// change is one unit of durable work: job snapshots plus optional extra writes (service, task) and
// job deletions (pruning). Each change is atomic; several may share one transaction.
type change struct {
	jobs   []jobWrite
	apply  func(tx *store.Tx) error
	read   func(tx *store.Tx) // reads what the change's worker needs next, writes nothing
	prune  []uint64
	events []Event // published after the commit, after the job events
	done   chan error

	pruned []jobWrite // filled inside the transaction: what pruning removed
}

func (c *change) run(tx *store.Tx, rs *runningSet) error {
	for i := range c.jobs {
		if err := putJobFrom(tx, &c.jobs[i].job, c.jobs[i].fromState, rs); err != nil {
			return err
		}
	}
	if c.apply != nil {
		if err := c.apply(tx); err != nil {
			return err
		}
	}
	if c.read != nil {
		c.read(tx)
	}
	c.pruned = c.pruned[:0]
	for _, id := range c.prune {
		state, module, typ, ok := deleteFinishedJob(tx, id)
		if !ok && jobGone(tx, id) { // another engine on the shared database pruned it first
			c.pruned = append(c.pruned, jobWrite{job: store.Job{ID: id}, fromState: fromLists})
			continue
		}
		if !ok {
			continue // retried since pruning chose it
		}
		c.pruned = append(c.pruned, jobWrite{job: store.Job{ID: id, Type: typ}, fromState: state, fromModule: module})
	}
	return nil
}

// changeError marks an error a change itself returned (a rule, a missing record), as opposed to the
// disk refusing the transaction: only the latter pauses the engine.
type changeError struct{ err error }

func (c *changeError) Error() string { return c.err.Error() }
func (c *changeError) Unwrap() error { return c.err }

// Limits of the pause between retries of a commit the disk refused.
const (
	firstRetry = 50 * time.Millisecond
	maxRetry   = 2 * time.Second
)

// updateFunc runs fn in one write transaction; tests replace it to make the disk fail on cue.
type updateFunc func(db *store.DB, fn func(*store.Tx) error) error

func boltUpdate(db *store.DB, fn func(*store.Tx) error) error { return db.Update(fn) }

// committer groups changes from concurrent workers: while one transaction is being made durable, new
// changes pile up, and the next transaction takes all of them at once. Unlike bbolt's Batch it never
// waits on a timer, so a lone change commits at once and a crowd shares one fsync (spec §6).
//
// Changes become durable in submission order, always as a prefix: when the disk refuses a transaction
// nothing submitted later is written before it (a lane's next "running" never lands before the
// previous job's end). The committer then retries with a growing pause, telling fault about it, and
// carries on by itself once a write succeeds.
type committer struct {
	db        *store.DB
	update    updateFunc
	published func(*change, error)         // called in commit order, after the transaction is durable
	fault     func(f *StorageFault, n int) // n-th failed retry of a paused commit; f nil: resumed

	mu      sync.Mutex
	pending []*change
	writing bool  // a goroutine is in write: others leave pending changes to it
	dead    error // after giving up: every change fails with it
	wake    chan struct{}
	poke    chan struct{} // wakes a paused committer to look at stopping
	stop    chan struct{}
	stopped chan struct{}

	stopping  atomic.Bool // give up instead of waiting out a fault
	closeOnce sync.Once

	onCommit CommitHook // Options.OnCommit, or nil
}

// JobWrite is one job as a transaction writes it, with the state it had in the last committed write
// ("" for a new job).
type JobWrite struct {
	Job  *store.Job
	From string
	// Others: the change wrote other records too (the job's service, a task); when false, the service
	// is as the last commit left it.
	Others bool
}

// CommitHook runs inside every transaction that writes jobs (Options.OnCommit), after the change's own
// writes, so what it writes (an outbox of events, say) is durable exactly when the change is. It must not
// keep or change the jobs. An error fails the change like a broken rule would, so return only what the
// disk refuses.
type CommitHook func(tx *store.Tx, jobs []JobWrite) error

func (c *committer) hook(tx *store.Tx, ch *change) error {
	if c.onCommit == nil || len(ch.jobs) == 0 {
		return nil
	}
	jobs := make([]JobWrite, len(ch.jobs))
	for i := range ch.jobs {
		jobs[i] = JobWrite{Job: &ch.jobs[i].job, From: ch.jobs[i].fromState, Others: ch.apply != nil}
	}
	return c.onCommit(tx, jobs)
}

// enqueueHook is the commit hook of an enqueue's transaction (enqueueTx), over the jobs it added.
func (e *Engine) enqueueHook(tx *store.Tx, added []*jobState) error {
	if e.c.onCommit == nil || len(added) == 0 {
		return nil
	}
	jobs := make([]JobWrite, len(added))
	for i, js := range added {
		jobs[i] = JobWrite{Job: &js.job, From: js.lastState, Others: true}
	}
	return e.c.onCommit(tx, jobs)
}

func newCommitter(db *store.DB, update updateFunc, published func(*change, error), fault func(*StorageFault, int)) *committer {
	if update == nil {
		update = boltUpdate
	}
	c := &committer{db: db, update: update, published: published, fault: fault, wake: make(chan struct{}, 1),
		poke: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.loop()
	return c
}

// submit queues changes, in order and all in the same transaction; it never blocks. Wait on ch.done
// (when set) for durability.
func (c *committer) submit(chs ...*change) {
	c.mu.Lock()
	c.pending = append(c.pending, chs...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// commit submits ch and waits until it is durable, writing it itself when no one else is writing.
// Never call it (or drain) holding the engine's lock: publishing takes it.
func (c *committer) commit(ch *change) error {
	ch.done = make(chan error, 1)
	c.submit(ch)
	c.drainFor(ch.done)
	return <-ch.done
}

// flush waits until everything submitted before it is durable.
func (c *committer) flush() error { return c.commit(&change{}) }

// setStopping(true) makes a paused committer give up: what is pending fails with the fault (nothing of
// it is on disk, so the file still holds a consistent prefix) and so does everything after.
func (c *committer) setStopping(v bool) {
	c.stopping.Store(v)
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// failed is the fault the committer gave up on, or nil.
func (c *committer) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

func (c *committer) close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.stopped
}

func (c *committer) loop() {
	defer store.ExitOnPanic() // nothing can write the engine's changes in its stead
	defer close(c.stopped)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			c.drain() // nothing submitted before close is dropped
			return
		}
		c.drain()
	}
}

func (c *committer) take() []*change {
	c.mu.Lock()
	defer c.mu.Unlock()
	batch := c.pending
	c.pending = nil
	return batch
}

// drain writes what is pending until nothing is, unless another goroutine is writing already (it will
// see what is pending before it stops).
func (c *committer) drain() { c.drainFor(nil) }

// drainFor is drain for a goroutine waiting on done: it writes (when nobody else is) only until done
// has its answer, then leaves the rest to the committer goroutine, so a worker makes its own commit
// instead of waking the committer and waiting to be woken in turn, but never carries other lanes'
// commits before its own job. One writer at a time keeps the order.
func (c *committer) drainFor(done <-chan error) {
	for len(done) == 0 { // a nil done never answers: write until nothing is pending
		c.mu.Lock()
		if c.writing || len(c.pending) == 0 {
			c.mu.Unlock()
			return
		}
		c.writing = true
		batch := c.pending
		c.pending = nil
		c.mu.Unlock()
		c.write(batch)
		c.mu.Lock()
		c.writing = false
		more := len(c.pending) > 0
		c.mu.Unlock()
		if !more {
			return
		}
	}
	select { // what is left is the committer goroutine's
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *change) empty() bool { return len(c.jobs) == 0 && c.apply == nil && len(c.prune) == 0 }

func (c *committer) tx(batch []*change) error {
	if !slices.ContainsFunc(batch, func(ch *change) bool { return !ch.empty() }) {
		return nil // only flushes: nothing to write
	}
	return c.update(c.db, func(tx *store.Tx) error {
		rs := newRunningSet()
		for _, ch := range batch {
			if err := ch.run(tx, rs); err != nil {
				return &changeError{err}
			}
			if err := c.hook(tx, ch); err != nil {
				return &changeError{err}
			}
		}
		if err := rs.flush(tx.KV()); err != nil {
			return err
		}
		if c.more() { // the next transaction comes at once: PostgreSQL begins it with this commit
			tx.UpdateFollows()
		}
		return nil
	})
}

// more says changes are pending beside the ones being written.
func (c *committer) more() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0
}

// write commits a batch in one transaction.
func (c *committer) write(batch []*change) {
	if err := c.failed(); err != nil {
		c.finishAll(batch, err)
		return
	}
	err := c.tx(batch)
	var ce *changeError
	switch {
	case err == nil:
		c.finishAll(batch, nil)
	case errors.As(err, &ce):
		c.writeEach(batch)
	case errors.Is(err, store.ErrDamaged): // no pause waits damage out: the engine stops, saying it
		c.finishAll(batch, err)
	default:
		c.retry(batch, err)
	}
}

// writeEach commits a batch one change at a time after one of them failed on its own, so one bad
// change cannot take the others down with it (as bbolt's Batch does); the changes after a failed one
// fail too, keeping what is on disk a prefix of what was submitted.
func (c *committer) writeEach(batch []*change) {
	for i, ch := range batch {
		err := c.tx(batch[i : i+1])
		var ce *changeError
		switch {
		case err == nil:
			c.finish(ch, nil)
		case errors.As(err, &ce):
			c.finish(ch, ce.err)
			c.finishAll(batch[i+1:], fmt.Errorf("not written, because an earlier change failed: %w", ce.err))
			return
		default:
			c.retry(batch[i:], err)
			return
		}
	}
}

// retry holds the engine paused while the disk refuses batch, retrying with a growing pause and
// folding in what is submitted meanwhile (after batch, so the order holds).
func (c *committer) retry(batch []*change, err error) {
	f := newStorageFault(c.db.Path(), err, time.Now())
	c.fault(f, 0)
	wait := firstRetry
	for n := 1; ; n++ {
		if c.stopping.Load() {
			c.giveUp(batch, f)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.poke:
			t.Stop()
			continue
		case <-c.stop:
			t.Stop()
			c.giveUp(batch, f)
			return
		}
		wait = min(wait*2, maxRetry)
		batch = append(batch, c.take()...)
		err = c.tx(batch)
		var ce *changeError
		switch {
		case err == nil:
			c.fault(nil, n)
			c.finishAll(batch, nil)
			return
		case errors.As(err, &ce):
			c.fault(nil, n)
			c.writeEach(batch)
			return
		}
		f = newStorageFault(c.db.Path(), err, f.Since)
		c.fault(f, n)
	}
}

// giveUp fails batch and everything after it with the fault: the engine stops, and the next start
// resumes from what the file holds.
func (c *committer) giveUp(batch []*change, f *StorageFault) {
	c.mu.Lock()
	c.dead = f
	c.mu.Unlock()
	c.finishAll(append(batch, c.take()...), f)
}

func (c *committer) finishAll(batch []*change, err error) {
	for _, ch := range batch {
		c.finish(ch, err)
	}
}

func (c *committer) finish(ch *change, err error) {
	c.published(ch, err)
	if ch.done != nil {
		ch.done <- err
	}
}
