package queue

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"vmmpm/store"
)

// bucketPauses holds each paused module's pause, keyed by module id: a pause outlives restarts.
var bucketPauses = []byte("queue_module_pauses")

// ModulePause is an admin's pause of a module: none of its operations starts until it is resumed;
// running ones finish, queued ones wait.
type ModulePause struct {
	ModuleID uint64    `json:"module_id"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// String is the reason its queued jobs give: "module paused by uid 1000 (alice) at 2026-…".
func (p ModulePause) String() string {
	by := p.By
	if by == "" {
		by = "the administrator"
	}
	return fmt.Sprintf("module paused by %s at %s", by, p.At.Format(time.RFC3339))
}

// waitReason is the Error of a queued job of a paused module.
func (p ModulePause) waitReason() string { return waitingPrefix + p.String() }

// readPauses loads the stored pauses (db opened, before the scheduler runs).
func readPauses(tx *store.Tx) (map[uint64]*ModulePause, error) {
	out := map[uint64]*ModulePause{}
	b := tx.KV().Bucket(bucketPauses)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var p ModulePause
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("the pause of module %d is unreadable (%v); resume the module and pause it again", store.KeyID(k), err)
		}
		out[p.ModuleID] = &p
		return nil
	})
	return out, err
}

// StoredPauses are the pauses kept in db, read without an engine (a file opened read-only).
func StoredPauses(db *store.DB) (map[uint64]ModulePause, error) {
	var out map[uint64]ModulePause
	err := db.View(func(tx *store.Tx) error {
		ps, err := readPauses(tx)
		out = make(map[uint64]ModulePause, len(ps))
		for id, p := range ps {
			out[id] = *p
		}
		return err
	})
	return out, err
}

func putPause(tx *store.Tx, p *ModulePause) error {
	b, err := tx.KV().CreateBucketIfNotExists(bucketPauses)
	if err != nil {
		return err
	}
	if p.At.IsZero() { // resume
		return b.Delete(store.Key(p.ModuleID))
	}
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.Put(store.Key(p.ModuleID), v)
}

// pausedFor says whether js waits for its module's resume (e.mu held).
func (e *Engine) pausedFor(js *jobState) bool {
	return js.job.ModuleID != 0 && e.paused[js.job.ModuleID] != nil
}

// notePaused says on an unfinished job of a paused module why it waits (e.mu held; the caller writes
// it). A job waiting out a backoff keeps its error: it says why it is retried.
func (e *Engine) notePaused(js *jobState, p *ModulePause, now time.Time) {
	if p == nil {
		e.noteHeld(js, now)
		return
	}
	if js.job.State == store.JobQueued {
		js.job.Error = p.waitReason()
	}
	js.job.Logf(now, "waiting: %s", p)
}

// Pauses returns every paused module's pause, by module id.
func (e *Engine) Pauses() map[uint64]ModulePause {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pausesLocked()
}

func (e *Engine) pausesLocked() map[uint64]ModulePause {
	out := make(map[uint64]ModulePause, len(e.paused))
	for id, p := range e.paused {
		out[id] = *p
	}
	return out
}

// PauseModule pauses module id's operations: nothing of it starts until ResumeModule; what runs
// finishes; its queued jobs say why they wait. It returns the pause in force (the earlier one when
// the module was paused already) once it is on disk.
func (a Actor) PauseModule(id uint64) (ModulePause, error) {
	return a.setPause(id, true)
}

// ResumeModule ends module id's pause and starts what may start; resuming a module that is not
// paused changes nothing.
func (a Actor) ResumeModule(id uint64) error {
	_, err := a.setPause(id, false)
	return err
}

func (a Actor) setPause(id uint64, pause bool) (ModulePause, error) {
	e := a.e
	if err := e.ready(); err != nil {
		return ModulePause{}, err
	}
	if _, err := store.Load[store.Module](e.db, id); err != nil {
		return ModulePause{}, unknown("module %d does not exist; see vmmpm module list", id)
	}
	e.mu.Lock()
	verb := map[bool]string{true: "paused", false: "resumed"}[pause]
	if err := e.refuseWhilePaused(fmt.Sprintf("module %d was not %s", id, verb)); err != nil {
		e.mu.Unlock()
		return ModulePause{}, err
	}
	if old := e.paused[id]; (old != nil) == pause {
		defer e.mu.Unlock()
		if old == nil {
			return ModulePause{}, nil
		}
		return *old, nil
	}
	now := e.opt.Now()
	p := &ModulePause{ModuleID: id, By: a.who(), At: now}
	ch, err := e.pauseChange(id, p, pause, now)
	if err != nil {
		e.mu.Unlock()
		return ModulePause{}, err
	}
	old := e.paused[id]
	// The notes first: a resume starts jobs, and a start submitted before the note of the same job
	// would be written over by it (the job stored queued while it runs).
	e.c.submit(ch)
	e.setPaused(id, map[bool]*ModulePause{true: p, false: nil}[pause])
	e.mu.Unlock()
	if err := <-ch.done; err != nil {
		e.mu.Lock()
		e.setPaused(id, old)
		e.mu.Unlock()
		return ModulePause{}, err
	}
	e.log.Info("module "+verb, "module", id, "by", p.By)
	return *p, nil
}

// pauseChange is the stored pause (or its removal) with a line on each unfinished, not running job
// of the module saying so (e.mu held).
func (e *Engine) pauseChange(id uint64, p *ModulePause, pause bool, now time.Time) (*change, error) {
	stored := *p
	if !pause {
		stored.At = time.Time{}
	}
	ch, err := e.noteModules([]uint64{id}, func(js *jobState) {
		if pause {
			e.notePaused(js, p, now)
			return
		}
		js.job.Logf(now, "module resumed by %s", p.By)
		if strings.HasPrefix(js.job.Error, waitingPrefix+"module paused") {
			js.job.Error = ""
		}
		e.noteHeld(js, now) // still held on this host: the job says so now that the pause is gone
	})
	if err != nil {
		return nil, err
	}
	ch.apply = func(tx *store.Tx) error { return putPause(tx, &stored) }
	return ch, nil
}

// setPaused records the module's pause in the scheduler and tells the screens (e.mu held).
func (e *Engine) setPaused(id uint64, p *ModulePause) {
	if p == nil {
		delete(e.paused, id)
	} else {
		e.paused[id] = p
	}
	e.publishStatus()
	if p == nil {
		e.kickAll()
	}
}

// settled: nothing is left that can run: no job, or only jobs of paused modules, none of them running,
// and of modules held on this host.
// It costs the number of unfinished jobs only while a module is paused.
func (e *Engine) settled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.paused)+len(e.holds) == 0 {
		return len(e.jobs) == 0
	}
	for _, js := range e.jobs {
		if !(e.pausedFor(js) || e.heldFor(js)) || js.worker || js.job.State == store.JobRunning && !e.heldFor(js) {
			return false
		}
	}
	return true
}

// logHeld says, as RunUntilIdle stops, how many jobs each paused module holds back.
func (e *Engine) logHeld() {
	e.mu.Lock()
	defer e.mu.Unlock()
	held := map[uint64]int{}
	for _, js := range e.jobs {
		held[js.job.ModuleID]++
	}
	for _, id := range slices.Sorted(maps.Keys(held)) {
		e.log.Warn("jobs wait for a paused module", "module", id, "jobs", held[id], "paused", e.paused[id].String())
	}
}

// Activity is what of one module the engine holds now: running, queued and waiting out a retry.
type Activity struct {
	Running  int `json:"running"`
	Queued   int `json:"queued"`
	Retrying int `json:"retrying"`
}

// String is the drain's progress line: "2 running, 14 queued" (and retrying ones, when any).
func (a Activity) String() string {
	s := fmt.Sprintf("%d running, %d queued", a.Running, a.Queued)
	if a.Retrying > 0 {
		s += fmt.Sprintf(", %d waiting to retry", a.Retrying)
	}
	return s
}

// ModuleActivity counts module id's unfinished jobs as committed.
func (e *Engine) ModuleActivity(id uint64) (Activity, error) {
	var a Activity
	err := e.db.View(func(tx *store.Tx) error {
		if c := readCounts(tx.KV())[id]; c != nil {
			a = Activity{Running: c.Running, Queued: c.Queued, Retrying: c.Retrying}
		}
		return nil
	})
	return a, err
}

// Backoff is the job a lane holds back while it waits out its retry's backoff: the attempt it makes
// next and when.
type Backoff struct {
	Job     uint64    `json:"job"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// Backoffs returns, per queue key, the lane's job that retries first; nothing while the scheduler
// still loads (a first frame does not wait for it).
func (e *Engine) Backoffs() map[string]Backoff {
	select {
	case <-e.loaded:
	default:
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]Backoff{}
	for key, l := range e.lanes {
		for _, js := range l.fifo {
			j := &js.job
			if b, ok := out[key]; j.State == store.JobRetrying && (!ok || j.NextRunAt.Before(b.At)) {
				out[key] = Backoff{Job: j.ID, Attempt: j.Attempt + 1, At: j.NextRunAt}
			}
		}
	}
	return out
}
