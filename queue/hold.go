package queue

import (
	"maps"
	"slices"
	"strings"
	"time"

	"vmmpm/store"
)

// holdPrefix starts the reason a held module's queued jobs give (after waitingPrefix).
const holdPrefix = "held on this host: "

// SetHolds replaces the modules this engine must not run here, each with why (on a database shared
// by several hosts: the modules whose current password this host's keyring lacks). Unlike a pause, a
// hold is this process's alone and is not stored: another host's engine is not bound by it. A held
// module's queued jobs wait and say why; its running jobs finish, and those found running at start
// (crash recovery) are resumed only once the hold ends, as nothing of it may reach VMmanager with a
// password this host does not hold.
func (e *Engine) SetHolds(holds map[uint64]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.holds
	e.holds = maps.Clone(holds)
	var changed []uint64
	for id, why := range e.holds {
		if old[id] != why {
			changed = append(changed, id)
		}
	}
	var released []uint64
	for id := range old {
		if _, ok := e.holds[id]; !ok {
			released = append(released, id)
		}
	}
	if len(changed)+len(released) == 0 {
		return
	}
	now := e.opt.Now()
	ch, err := e.noteModules(append(changed, released...), func(js *jobState) {
		j := &js.job
		if e.heldFor(js) {
			e.noteHeld(js, now)
			return
		}
		j.Logf(now, "no longer held on this host")
		if strings.HasPrefix(j.Error, waitingPrefix+holdPrefix) {
			j.Error = ""
		}
	})
	if err != nil {
		e.setFatalLocked(err)
		return
	}
	e.c.submit(ch)
	for _, id := range released {
		e.log.Info("module no longer held on this host: its jobs go on", "module", id)
	}
	for _, id := range slices.Sorted(slices.Values(changed)) {
		e.log.Warn("module held on this host: its jobs wait", "module", id, "why", e.holds[id])
	}
	if len(released) > 0 && e.active {
		for _, js := range e.sortedJobs() {
			if e.interrupted(js) {
				e.resume(js)
			}
		}
		e.kickAll()
	}
}

// noteHeld says on an unfinished job of a held module why it waits (e.mu held; the caller writes it).
func (e *Engine) noteHeld(js *jobState, now time.Time) {
	why, held := e.holds[js.job.ModuleID]
	if !held {
		return
	}
	if js.job.State == store.JobQueued {
		js.job.Error = waitingPrefix + holdPrefix + why
	}
	js.job.Logf(now, "waiting: %s%s", holdPrefix, why)
}

// heldFor: the job's module is held on this host (e.mu held).
func (e *Engine) heldFor(js *jobState) bool {
	_, held := e.holds[js.job.ModuleID]
	return held && js.job.ModuleID != 0
}

// noteModules changes, with note, each unfinished job of the modules ids that no worker runs, and
// returns the change writing them (e.mu held).
func (e *Engine) noteModules(ids []uint64, note func(js *jobState)) (*change, error) {
	ch := &change{done: make(chan error, 1)}
	var jss []*jobState
	for _, jid := range slices.Sorted(maps.Keys(e.jobs)) {
		if js := e.jobs[jid]; slices.Contains(ids, js.job.ModuleID) && js.job.State != store.JobRunning && !js.worker && !e.ranElsewhere(js) {
			jss = append(jss, js)
		}
	}
	jss, err := e.fillAll(jss)
	if err != nil && !isQuarantined(err) { // a quarantined job is out of the scheduler: nothing to note
		return nil, err
	}
	for _, js := range jss {
		note(js)
		ch.jobs = append(ch.jobs, e.jobChange(js).jobs...)
	}
	return ch, nil
}
