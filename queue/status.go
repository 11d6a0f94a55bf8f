package queue

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Status is the engine's own state, beside its jobs: whether it is paused because the disk refuses
// writes, and whether jobs wait for the keyring. The TUI, vmmpm status and the server show it; it
// travels in EngineStatus events.
type Status struct {
	// Paused: the last commit failed (disk full, over quota, read-only, I/O error); nothing starts and
	// running jobs make no further VMmanager change until a retried commit succeeds.
	Paused      bool      `json:"paused"`
	PauseReason string    `json:"pause_reason,omitempty"` // e.g. "disk full on /var (12288 bytes free)"
	PausedSince time.Time `json:"paused_since,omitzero"`
	// PauseAdvice is what to do about the pause's cause (free space, remount, check the disk).
	PauseAdvice string `json:"pause_advice,omitempty"`
	// Waiting is why jobs wait without using attempts, e.g. "keyring locked" ("" when none waits).
	Waiting       string    `json:"waiting,omitempty"`
	WaitingAdvice string    `json:"waiting_advice,omitempty"` // the sentence saying how to fix it
	WaitingSince  time.Time `json:"waiting_since,omitzero"`
	// Capacity lists the modules whose opens wait for room in VMmanager (a full pool or cluster).
	Capacity []CapacityWait `json:"capacity_waits,omitempty"`
	// Modules lists the modules an admin paused (module pause), by id.
	Modules []ModulePause `json:"paused_modules,omitempty"`
}

// String is the one-line state: "paused: …", "waiting: …" or "running".
func (s Status) String() string {
	switch {
	case s.Paused:
		return "paused: " + s.PauseReason
	case s.Waiting != "":
		return "waiting: " + s.Waiting
	case len(s.Capacity) == 1:
		return fmt.Sprintf("running; opens on module %d waiting: %s", s.Capacity[0].ModuleID, s.Capacity[0].Cause)
	case len(s.Capacity) > 1:
		return fmt.Sprintf("running; opens waiting for room in VMmanager on %d modules", len(s.Capacity))
	}
	return "running"
}

// Status returns the engine's state; EngineStatus events carry every change of it.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.statusLocked()
}

// Paused reports whether the engine is paused on a disk fault, and its cause
// ("disk full on /var (12288 bytes free)").
func (e *Engine) Paused() (bool, string) {
	s := e.Status()
	return s.Paused, s.PauseReason
}

func (e *Engine) statusLocked() Status {
	var s Status
	if f := e.pause; f != nil {
		s.Paused, s.PauseReason, s.PausedSince, s.PauseAdvice = true, f.Cause(), f.Since, f.advice()
	}
	if w := e.keyWait; w != nil {
		s.Waiting, s.WaitingAdvice, s.WaitingSince = w.cause, w.advice, w.since
	}
	s.Capacity = e.capacityStatus()
	for _, id := range slices.Sorted(maps.Keys(e.paused)) {
		s.Modules = append(s.Modules, *e.paused[id])
	}
	return s
}

func (e *Engine) publishStatus() {
	s := e.statusLocked()
	e.ev.publish(Event{Kind: EngineStatus, Status: &s})
}

// onFault runs in the committer: f is the disk fault of a paused commit (n: failed retries so far), or
// nil when a retry succeeded.
func (e *Engine) onFault(f *StorageFault, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f == nil {
		if e.pause == nil {
			return
		}
		e.log.Info("engine resumed: the database can be written again", "db", e.db.Path(),
			"paused_for", time.Since(e.pause.Since).Round(time.Millisecond).String())
		e.pause = nil
		e.publishStatus()
		e.kickAll()
		return
	}
	first := e.pause == nil
	changed := first || e.pause.Cause() != f.Cause()
	e.pause = f
	if first {
		e.log.Warn("engine paused: "+f.Cause(), "db", e.db.Path(), "error", f.Err.Error())
	}
	if changed {
		e.publishStatus()
	}
	if e.opt.MaxPause > 0 && n > 0 && time.Since(f.Since) >= e.opt.MaxPause {
		g := *f
		g.Waited = e.opt.MaxPause
		if e.fatal == nil {
			e.fatal = &g
		}
		if e.stopRun != nil {
			e.stopRun()
		}
	}
}

// kickAll starts whatever may start, in enqueue order (after a pause or a wait ends).
func (e *Engine) kickAll() {
	e.kick(e.sortedJobs()...)
	e.unpark()
}

func (e *Engine) sortedJobs() []*jobState {
	return slices.SortedFunc(maps.Values(e.jobs), func(a, b *jobState) int { return cmp.Compare(a.seq, b.seq) })
}

// keyWait: a job could not read its module's password because the keyring is locked or absent.
type keyWait struct {
	cause, advice string
	since         time.Time
	probe         uint64 // the Secrets id whose read failed, asked again until the keyring answers
}
