package queue

import (
	"errors"
	"sync"

	"vmmpm/store"
)

// enqueuer groups concurrent enqueues (orders from many billing clients at once) into one transaction,
// as the committer groups the engine's own changes: whoever finds nobody enqueueing writes everything
// pending, the others wait for that write, so fifty concurrent orders cost a few fsyncs, not fifty.
type enqueuer struct {
	mu      sync.Mutex
	pending []*enqueueReq
	leading bool
}

type enqueueReq struct {
	fn   func(tx *store.Tx, add func(*jobState)) error
	err  error
	done chan struct{}
}

// errShared stops a shared enqueue transaction when one of its calls fails: nothing of it is kept, and
// each call runs again alone, so one refusal never takes another call down.
var errShared = errors.New("a call of a shared enqueue failed")

// enqueueTx runs fn in a write transaction while holding the scheduler (see enqueueSolo), sharing the
// transaction with the calls made at the same moment. fn may run more than once: it must start from
// scratch each time (its writes and jobs of a failed run are undone).
func (e *Engine) enqueueTx(fn func(tx *store.Tx, add func(*jobState)) error) error {
	if err := e.ready(); err != nil {
		return err
	}
	r := &enqueueReq{fn: fn, done: make(chan struct{})}
	g := &e.enq
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.leading {
		g.mu.Unlock()
		<-r.done
		return r.err
	}
	g.leading = true
	for len(g.pending) > 0 {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		e.enqueueBatch(batch)
		g.mu.Lock()
	}
	g.leading = false
	g.mu.Unlock()
	<-r.done
	return r.err
}

func (e *Engine) enqueueBatch(batch []*enqueueReq) {
	if len(batch) == 1 || !e.enqueueTogether(batch) {
		for _, r := range batch {
			r.err = e.enqueueSolo(r.fn)
		}
	}
	for _, r := range batch {
		close(r.done)
	}
}

// enqueueTogether runs every call of batch in one transaction; false when one failed (or the disk
// refused), with nothing kept.
func (e *Engine) enqueueTogether(batch []*enqueueReq) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	var added []*jobState
	add := func(js *jobState) {
		if !store.Finished(js.job.State) {
			e.addJob(js)
		}
		added = append(added, js)
	}
	err := e.db.Update(func(tx *store.Tx) error {
		for _, r := range batch {
			from := len(added)
			if err := r.fn(tx, add); err != nil {
				return errShared
			}
			if err := e.enqueueHook(tx, added[from:]); err != nil {
				return errShared
			}
		}
		return nil
	})
	if err != nil {
		e.undoEnqueue(added)
		return false
	}
	e.enqueued(added)
	return true
}
