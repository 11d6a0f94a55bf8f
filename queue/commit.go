package queue

import (
	"sync"

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
	prune  []uint64
	events []Event // published after the commit, after the job events
	done   chan error

	pruned []jobWrite // filled inside the transaction: what pruning removed
}

func (c *change) run(tx *store.Tx) error {
	for i := range c.jobs {
		if err := putJob(tx, &c.jobs[i].job); err != nil {
			return err
		}
	}
	if c.apply != nil {
		if err := c.apply(tx); err != nil {
			return err
		}
	}
	c.pruned = c.pruned[:0]
	for _, id := range c.prune {
		state, module, typ, ok := deleteFinishedJob(tx, id)
		if !ok {
			continue // retried since pruning chose it
		}
		c.pruned = append(c.pruned, jobWrite{job: store.Job{ID: id, Type: typ}, fromState: state, fromModule: module})
	}
	return nil
}

// committer groups changes from concurrent workers: while one transaction is being made durable, new
// changes pile up, and the next transaction takes all of them at once. Unlike bbolt's Batch it never
// waits on a timer, so a lone change commits at once and a crowd shares one fsync (spec §6).
type committer struct {
	db        *store.DB
	published func(*change, error) // called in commit order, after the transaction is durable

	mu      sync.Mutex
	pending []*change
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	closeOnce sync.Once
}

func newCommitter(db *store.DB, published func(*change, error)) *committer {
	c := &committer{db: db, published: published, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.loop()
	return c
}

// submit queues ch; it never blocks. Wait on ch.done (when set) for durability.
func (c *committer) submit(ch *change) {
	c.mu.Lock()
	c.pending = append(c.pending, ch)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// commit submits ch and waits until it is durable.
func (c *committer) commit(ch *change) error {
	ch.done = make(chan error, 1)
	c.submit(ch)
	return <-ch.done
}

// flush waits until everything submitted before it is durable.
func (c *committer) flush() { _ = c.commit(&change{}) }

func (c *committer) close() {
	c.closeOnce.Do(func() { close(c.stop) })
	<-c.stopped
}

func (c *committer) loop() {
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

func (c *committer) drain() {
	for {
		c.mu.Lock()
		batch := c.pending
		c.pending = nil
		c.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		c.write(batch)
	}
}

// write commits a batch in one transaction. If it fails, each change is retried alone so one bad
// change cannot take the others down with it (as bbolt's Batch does).
func (c *committer) write(batch []*change) {
	err := c.db.Update(func(tx *store.Tx) error {
		for _, ch := range batch {
			if err := ch.run(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, ch := range batch {
			c.finish(ch, c.db.Update(ch.run))
		}
		return
	}
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
