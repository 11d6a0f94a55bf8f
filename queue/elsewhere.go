package queue

import (
	"fmt"
	"maps"
	"slices"

	"vmmpm/store"
)

// Modules another engine runs. On a database several hosts' engines share, each runs the modules
// whose lanes it holds (backend: the lease); the jobs of the others stay in its scheduler and lists
// to be shown and planned beside, but it never starts, resumes, retries on a timer or rewrites them:
// the job feed (readForeign) brings their moves from the engine that runs them. A change asked of
// such a job here is refused with an *ElsewhereError (the caller asks the holder, store.AskJob).

// ElsewhereError refuses a change to a job of a module another engine runs.
type ElsewhereError struct {
	Job    uint64
	Module uint64
	Holder string // who runs it, e.g. "vmmpm on host b (pid 7)"
}

func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("job %d belongs to module %d, which %s runs; change it there, or through this host's server, which asks that engine", e.Job, e.Module, e.Holder)
}

// SetElsewhere replaces the modules another engine runs, each with who runs it. A module that
// leaves the set is claimed: the feed is read up to now, the module's unfinished jobs are read
// afresh from the database, and those found running are resumed as crash recovery resumes them
// (by recorded task, or by looking for the service's VM), those retrying wait out their backoff
// here. A module that joins the set must have no job running here (its lane is released at a job
// boundary); one that still has is left to finish, and its later moves come from the feed.
func (e *Engine) SetElsewhere(mods map[uint64]string) error {
	if err := e.ready(); err != nil {
		return err
	}
	e.mu.Lock()
	var claimed []uint64
	for id := range e.elsewhere {
		if _, still := mods[id]; !still {
			claimed = append(claimed, id)
		}
	}
	e.mu.Unlock()
	if len(claimed) > 0 && e.db.KeepsFeed() {
		e.readForeign() // the last moves of the engine that ran them
	}
	var states []jobState
	if len(claimed) > 0 {
		if err := e.db.View(func(tx *store.Tx) error {
			all, _ := readUnfinishedIn(tx.KV())
			for _, js := range all {
				if slices.Contains(claimed, js.job.ModuleID) {
					states = append(states, js)
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("the jobs of module(s) %v could not be read to run them here: %w", claimed, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.elsewhere = maps.Clone(mods)
	if len(claimed) == 0 {
		return nil
	}
	e.placeClaimed(claimed, states)
	return nil
}

// placeClaimed replaces the scheduler's jobs of the claimed modules by states, read afresh, and
// starts what may start (e.mu held).
func (e *Engine) placeClaimed(claimed []uint64, states []jobState) {
	for _, js := range e.sortedJobs() {
		if slices.Contains(claimed, js.job.ModuleID) && !js.worker {
			e.removeJob(js)
			e.waiting = deleteFrom(e.waiting, js)
		}
	}
	slices.SortFunc(states, func(a, b jobState) int { return loadOrder(&a, &b) })
	var evs []Event
	for i := range states {
		js := &states[i]
		if e.jobs[js.job.ID] != nil {
			continue // a worker of this engine still runs it
		}
		js.keyName = keyNameOf(&js.job)
		e.addJob(js)
		if js.lane != nil {
			evs = append(evs, e.laneEvent(js.lane))
		}
	}
	e.ev.publish(evs...)
	e.log.Info("modules claimed: this engine runs their jobs now", "modules", claimed, "unfinished", len(states))
	if !e.active {
		return // Run resumes and arms them (activate)
	}
	for i := range states {
		js := &states[i]
		switch {
		case e.jobs[js.job.ID] != js:
		case e.interrupted(js):
			e.resume(js)
		case js.job.State == store.JobRetrying:
			e.armRetry(js)
		}
	}
	e.kickAll()
}

// elsewhereFor names who runs js's module when another engine does (e.mu held).
func (e *Engine) elsewhereFor(js *jobState) (string, bool) {
	who, ok := e.elsewhere[js.job.ModuleID]
	return who, ok
}

// ranElsewhere: another engine runs js's module (e.mu held).
func (e *Engine) ranElsewhere(js *jobState) bool {
	_, other := e.elsewhereFor(js)
	return other
}

// refuseElsewhere is the *ElsewhereError for a change to js, nil when this engine runs it (e.mu held).
func (e *Engine) refuseElsewhere(js *jobState) error {
	if who, ok := e.elsewhereFor(js); ok {
		return &ElsewhereError{Job: js.job.ID, Module: js.job.ModuleID, Holder: who}
	}
	return nil
}

// runsJob reports whether this engine runs job id's module (a request from another host is carried
// out by the engine that does); a job it cannot read counts as its own, so the answer says why.
func (e *Engine) runsJob(id uint64) bool {
	e.mu.Lock()
	js := e.jobs[id]
	e.mu.Unlock()
	module := uint64(0)
	if js != nil {
		module = js.job.ModuleID
	} else if j, err := store.Load[store.Job](e.db, id); err == nil {
		module = j.ModuleID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, other := e.elsewhere[module]
	return !other
}

// movedElsewhere applies a move the engine running js's module committed (j, as stored) to the
// scheduler and the lists, and publishes it (e.mu and e.rm.mu held).
func (e *Engine) movedElsewhere(js *jobState, j store.Job) []Event {
	from := e.rm.stateOf(j.ID)
	if store.Finished(j.State) {
		e.removeJob(js)
	} else {
		if js.job.State == store.JobRunning && j.State != store.JobRunning {
			e.leaveLane(js)
		}
		js.job, js.partial = j, false
		js.lastState, js.lastModule = j.State, j.ModuleID
		if l := js.lane; l != nil && j.State == store.JobRunning && l.running == nil {
			l.running = js
			e.modLanesOf(l.module).busy++
		}
	}
	e.rm.move(j.ID, from, j.State)
	c := cloneJob(&j)
	evs := []Event{{Kind: JobChanged, Job: &c, ModuleID: j.ModuleID}}
	if js.lane != nil {
		evs = append(evs, e.laneEvent(js.lane))
	}
	return evs
}

// Busy reports whether a job of module runs here (a worker, or one found running that waits to be
// resumed): its lane may be handed to another engine only once none does.
func (e *Engine) Busy(module uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, js := range e.jobs {
		if js.job.ModuleID == module && (js.worker || js.job.State == store.JobRunning) {
			return true
		}
	}
	return false
}
