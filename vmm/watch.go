package vmm

import (
	"context"
	"strings"
	"sync"
	"time"
)

// maxWhereURL bounds the length of one task query's path: every task awaited fits in one query up
// to about 150 consul ids; beyond that the tasks are split over as few queries as fit. 4,000 bytes
// stays under the 8 KiB request-line limit of common web servers (nginx's default buffer).
const maxWhereURL = 4000

// watcher polls, for one client, every task awaited through Await with one task query per interval
// (vmmanager6-api.md §4: where= takes OR and parentheses; WHMCS polls the tasks of one package change
// together this way). The interval grows with the tasks' age and shrinks again when one is added or
// one finishes: a tenth of PollEvery for PollEvery after such an event, then PollEvery, as each job
// polled alone before, so a lone task is noticed as soon as then. One query serves every task, so
// with more tasks the fast rhythm slows (see interval): with the default 2 s, ten tasks or more are
// polled at most once a second however many lanes run.
type watcher struct {
	mu        sync.Mutex
	waiters   map[*waiter]struct{}
	running   bool
	wake      chan struct{}
	fastUntil time.Time
	lastPoll  time.Time
	polls     int // queries sent, for tests
}

type waiter struct {
	ref     TaskRef
	added   time.Time
	missing int        // consecutive polls that did not list the task
	done    chan error // buffered: the watcher never blocks on a waiter that stopped listening
}

// Await waits until the task is complete (nil) or failed (*TaskError), like WaitTask, but through the
// client's watcher, which polls all the tasks awaited on this VMmanager together. A task VMmanager
// still does not list after notVisibleGrace polls and three PollEvery is ErrNotFound.
func (c *Client) Await(ctx context.Context, ref TaskRef) error {
	if ref.ConsulID == "" {
		return errorf(ErrInvalid, "a task needs a consul id")
	}
	w := &waiter{ref: ref, added: time.Now(), done: make(chan error, 1)}
	c.watch.add(c, w)
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		c.watch.remove(w)
		return ctx.Err()
	}
}

// TaskPolls is how many task queries the client's watcher has sent.
func (c *Client) TaskPolls() int {
	c.watch.mu.Lock()
	defer c.watch.mu.Unlock()
	return c.watch.polls
}

func (w *watcher) add(c *Client, wt *waiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiters == nil {
		w.waiters, w.wake = map[*waiter]struct{}{}, make(chan struct{}, 1)
	}
	w.waiters[wt] = struct{}{}
	w.fastUntil = later(w.fastUntil, wt.added.Add(c.pollEvery))
	if !w.running {
		w.running = true
		go c.runWatcher()
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) remove(wt *waiter) {
	w.mu.Lock()
	delete(w.waiters, wt)
	w.mu.Unlock()
}

// interval is the time from one poll to the next (w.mu held). A lone task is polled as before the
// watcher: every tenth of PollEvery while young, then every PollEvery. With more tasks the fast rhythm
// slows by a tenth per two tasks, to half of PollEvery at most; the slow one is three quarters of
// PollEvery, since one query serves them all and noticing late costs each of them.
func (w *watcher) interval(now time.Time, every time.Duration) time.Duration {
	n := len(w.waiters)
	if !now.Before(w.fastUntil) {
		if n <= 1 {
			return every
		}
		return every * 3 / 4
	}
	fast := max(every/10, time.Millisecond)
	return min(fast*time.Duration((n+1)/2), every/2)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// runWatcher polls until nobody waits. It is one operation (with session_ttl 0, one login while it
// runs, renewed on a 401), and it is nobody's request: a waiter that stops waiting does not cut a
// query short for the others.
func (c *Client) runWatcher() {
	w := &c.watch
	o := c.op()
	ctx := context.Background()
	fails := 0
	for {
		w.mu.Lock()
		if len(w.waiters) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		now := time.Now()
		wait := w.lastPoll.Add(w.interval(now, c.pollEvery)).Sub(now)
		w.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-w.wake:
				t.Stop()
			}
			continue // recompute: a new task may want an earlier poll
		}
		w.mu.Lock()
		batch := make([]*waiter, 0, len(w.waiters))
		for wt := range w.waiters {
			batch = append(batch, wt)
		}
		w.lastPoll = now
		w.mu.Unlock()
		tasks, err := c.pollTasks(ctx, o, batch)
		w.mu.Lock()
		switch {
		case err == nil:
			fails = 0
			w.settle(batch, tasks, time.Now(), c.pollEvery)
		case Transient(err) && fails < notVisibleGrace-1:
			fails++ // one failed query does not fail every job waiting on this VMmanager
		default:
			fails = 0
			for _, wt := range batch {
				w.deliver(wt, err)
			}
		}
		w.mu.Unlock()
	}
}

// settle hands each waiter in batch its task's outcome, if it has one (w.mu held).
func (w *watcher) settle(batch []*waiter, tasks []wireTask, now time.Time, every time.Duration) {
	byID := map[string][]wireTask{}
	for _, t := range tasks {
		byID[string(t.ConsulID)] = append(byID[string(t.ConsulID)], t)
	}
	for _, wt := range batch {
		if _, ok := w.waiters[wt]; !ok {
			continue
		}
		t, found := pick(byID[wt.ref.ConsulID], wt.ref)
		switch {
		case !found:
			wt.missing++
			if wt.missing > notVisibleGrace && now.Sub(wt.added) >= 3*every {
				w.deliver(wt, errorf(ErrNotFound, "VMmanager lists no task %s", wt.ref.ConsulID))
			}
		case t.Status == TaskComplete:
			w.deliver(wt, nil)
			w.fastUntil = later(w.fastUntil, now.Add(every))
		case t.Status == TaskFail:
			w.deliver(wt, &TaskError{Task: wt.ref, Reason: t.Output})
			w.fastUntil = later(w.fastUntil, now.Add(every))
		default:
			wt.missing = 0
		}
	}
}

func (w *watcher) deliver(wt *waiter, err error) {
	delete(w.waiters, wt)
	wt.done <- err
}

// pollTasks lists the tasks of every waiter: one query, or as few as keep each under maxWhereURL.
func (c *Client) pollTasks(ctx context.Context, o *op, batch []*waiter) ([]wireTask, error) {
	w := &c.watch
	seen := map[string]bool{}
	var all []wireTask
	var terms []string
	size := 0
	flush := func() error {
		if len(terms) == 0 {
			return nil
		}
		q := "(" + strings.Join(terms, "+OR+") + ")"
		if len(terms) == 1 {
			q = terms[0]
		}
		w.mu.Lock()
		w.polls++
		w.mu.Unlock()
		ws, err := list[wireTask](ctx, c, o, "/vm/v3/task?where="+q)
		all = append(all, ws...)
		terms, size = terms[:0], 0
		return err
	}
	for _, wt := range batch {
		id := wt.ref.ConsulID
		if seen[id] {
			continue
		}
		seen[id] = true
		term := whereTerm(eq("consul_id", id))
		if size+len(term)+4 > maxWhereURL {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		terms = append(terms, term)
		size += len(term) + 4
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return all, nil
}

// pick is the task a ref means among those listed under its consul id (see Client.task).
func pick(ws []wireTask, ref TaskRef) (wireTask, bool) {
	var all, named []wireTask
	for _, t := range ws {
		if string(t.ConsulID) != ref.ConsulID {
			continue
		}
		all = append(all, t)
		if ref.Name != "" && t.Name == ref.Name {
			named = append(named, t)
		}
	}
	if len(named) > 0 {
		all = named
	}
	if len(all) == 0 {
		return wireTask{}, false
	}
	return combine(all), true
}
