package queue

import (
	"context"
	"fmt"
	"time"

	"vmmpm/store"
)

// Jobs other processes wrote. On a shared database a host whose engine stands by may enqueue (its
// TUI, its commands): it writes the new job and the holder's engine, told by the job feed
// (store.ReadFeed) which jobs another handle wrote, takes them into its scheduler and lists. Those
// writers only add jobs: a change to a job this engine runs (cancel, retry) is asked of it
// (store.AskJob) and made through it (carryOut), so a job it knows never changes under it.

// ForeignPoll is how often a running engine on a shared database looks for jobs another process
// wrote when no wake-up (Options.Wake) came sooner.
var ForeignPoll = time.Second

// foreignEvery is the most often it looks (its wake-up skips its own commits, but other hosts may
// commit often too): as often as a handle NOTIFYs (pgkv's gap).
const foreignEvery = 20 * time.Millisecond

// takeForeign looks for jobs other processes wrote until ctx ends (Run's goroutine).
func (e *Engine) takeForeign(ctx context.Context) {
	var wake <-chan struct{}
	if e.opt.Wake != nil {
		wake = e.opt.Wake(ctx)
	}
	tick := time.NewTicker(ForeignPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
		e.readForeign()
		select {
		case <-ctx.Done():
			return
		case <-time.After(foreignEvery):
		}
	}
}

// readForeign reads the feed since the engine last looked and takes in the jobs another handle
// wrote that the engine does not know. Where the feed cannot say (pruned past it, a restore), the
// unfinished jobs it does not know are taken from the scheduling entries instead.
func (e *Engine) readForeign() {
	var jobs []store.Job
	var gone []uint64
	var asked []store.JobRequest
	err := e.db.View(func(tx *store.Tx) error {
		asked = store.JobRequestsAfter(tx, e.fed.at)
		changes, at, ok := store.ReadFeed(tx, e.fed.at)
		ids := foreignIDs(changes, e.db.FeedWriter())
		gone = goneIDs(changes, e.db.FeedWriter())
		if !ok {
			at, ids, gone = store.FeedLast(tx), e.unknownUnfinished(tx), nil
		}
		for _, id := range ids {
			j, err := store.Get[store.Job](tx, id)
			if err != nil {
				continue // pruned since, or unreadable: the engine's own read says so when it runs it
			}
			jobs = append(jobs, *j)
		}
		e.fed.at = at
		return nil
	})
	if err != nil {
		e.log.Warn("jobs other hosts wrote could not be read; looking again", "error", err)
		return
	}
	if len(jobs)+len(gone) > 0 {
		e.takeIn(jobs, gone)
	}
	for _, r := range asked {
		if !e.runsJob(r.Job) {
			continue // the engine running its module answers it
		}
		e.wg.Add(1) // a cancel of a running job waits for its worker: the reading goes on meanwhile
		go func() { defer e.wg.Done(); e.carryOut(r) }()
	}
}

// carryOut does what another host asked (store.AskJob) through this engine, as a cancel or retry
// made here would be, and writes the answer the asker waits for.
func (e *Engine) carryOut(r store.JobRequest) {
	var err error
	switch r.Action {
	case store.RequestCancel:
		err = e.As(r.By).Cancel(r.Job)
	case store.RequestRetry:
		err = e.As(r.By).Retry(r.Job)
	default:
		err = fmt.Errorf("another host asked %q of job %d, which this vmmpm does not know how to do; upgrade that host's vmmpm to this one's", r.Action, r.Job)
	}
	answer := ""
	if err != nil {
		answer = err.Error()
	}
	e.log.Info("request from another host carried out", "job", r.Job, "action", r.Action, "by", r.By, "error", answer)
	if werr := e.db.Update(func(tx *store.Tx) error { return store.AnswerJob(tx, r.Seq, answer, e.opt.Now()) }); werr != nil {
		e.log.Warn("the answer to another host's request could not be written; it will say it got none", "job", r.Job, "error", werr)
	}
}

// foreignIDs are the jobs changes name that another writer than me wrote, each once, in the order
// of their first change.
func foreignIDs(changes []store.JobChange, me uint64) []uint64 {
	var ids []uint64
	seen := map[uint64]bool{}
	for _, c := range changes {
		if c.Writer != me && c.State != "" && !seen[c.ID] {
			seen[c.ID] = true
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// goneIDs are the finished jobs another writer than me pruned (another engine's history pruning).
func goneIDs(changes []store.JobChange, me uint64) []uint64 {
	var ids []uint64
	for _, c := range changes {
		if c.Writer != me && c.State == "" {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// unknownUnfinished are the unfinished jobs in tx the scheduler does not hold.
func (e *Engine) unknownUnfinished(tx *store.Tx) []uint64 {
	var ids []uint64
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range unfinishedEntries(tx.KV()) {
		if e.jobs[id] == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// takeIn puts jobs another process wrote, in the order they were committed (enqueue order), into
// the scheduler (a queued one) and the lists, publishes them and starts what may start, as an
// enqueue of the engine's own would (enqueued); a finished job retried elsewhere (a compare-and-set
// on its stored state) comes back the same way. A job of a module another engine runs moves as
// that engine moved it (movedElsewhere); any other job the engine knows is left as the engine holds
// it, and one in a state only an engine writes (running, retrying) of a module it runs is left to
// the next load. gone are finished jobs another engine pruned.
func (e *Engine) takeIn(jobs []store.Job, gone []uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var added []*jobState
	var evs []Event
	e.rm.mu.Lock()
	for _, j := range jobs {
		_, other := e.elsewhere[j.ModuleID]
		if js := e.jobs[j.ID]; js != nil {
			if _, ran := e.elsewhere[js.job.ModuleID]; ran && !js.worker {
				evs = append(evs, e.movedElsewhere(js, j)...)
			}
			continue
		}
		was := ""
		if e.rm.ready {
			was = e.rm.stateOf(j.ID)
		}
		if was != "" && (store.Finished(j.State) || !store.Finished(was)) {
			if other && was != j.State { // finished elsewhere while the lists showed it unfinished
				e.rm.move(j.ID, was, j.State)
			}
			continue
		}
		if !store.Finished(j.State) && j.State != store.JobQueued && !other {
			e.log.Warn("job written by another host in a state only an engine writes; left until the engine loads again",
				"job", j.ID, "state", j.State)
			continue
		}
		js := &jobState{job: j, keyName: keyNameOf(&j), lastState: was} // was "": new to the lists
		if !store.Finished(j.State) {
			e.addJob(js)
		}
		added = append(added, js)
	}
	e.dropForeign(gone)
	e.rm.mu.Unlock()
	e.ev.publish(evs...)
	e.enqueued(added)
}

// dropForeign takes the finished jobs another engine pruned out of the scheduler (were they still
// unfinished here) and the lists (e.mu and e.rm.mu held).
func (e *Engine) dropForeign(gone []uint64) {
	var moves []move
	for _, id := range gone {
		if js := e.jobs[id]; js != nil && !js.worker {
			e.removeJob(js)
		}
		if from := e.rm.stateOf(id); from != "" {
			moves = append(moves, move{id: id, from: from})
		}
	}
	e.rm.dropGone(moves)
}
