package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"vmmpm/store"
)

// Wait is an executor's verdict that an open cannot run until room appears in VMmanager (no free
// address in a pool, not enough CPU, RAM or disk on the cluster): an operator's problem to fix, not
// a client's order to drop. The job goes back to the queue without using its attempt, no open of its
// module starts meanwhile, the module's department gets one task per module and cause, and Ready is
// asked every 10 PollEvery (20 s with the default 2 s) until it says there is room.
type Wait struct {
	Cause  string // e.g. "no free IPv4 in pool 1 (public-v4)": the same words each time for one cause
	Advice string // one sentence for the department's task: what is short and what to do
	Ready  func(ctx context.Context) bool
}

// capacityWait returns the wait an attempt's error asks for, if any.
func capacityWait(err error) *Wait {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Wait
	}
	return nil
}

type capKey struct {
	module uint64
	cause  string
}

// capWait is one module's opens held for one cause.
type capWait struct {
	key    capKey
	advice string
	since  time.Time
	ready  func(context.Context) bool
}

// CapacityWait is one module whose opens wait for room in VMmanager (Status.Capacity).
type CapacityWait struct {
	ModuleID uint64    `json:"module_id"`
	Cause    string    `json:"cause"`
	Advice   string    `json:"advice"`
	Since    time.Time `json:"since"`
}

// capacityHeld reports whether opens of a module wait for room (e.mu held).
func (e *Engine) capacityHeld(module uint64) bool {
	for k := range e.capWaits {
		if k.module == module {
			return true
		}
	}
	return false
}

// waitForCapacity puts an open that found no room back in the queue, its attempt not counted and its
// error "waiting: CAUSE", and holds the module's opens until the probe finds room (e.mu held). The
// first job to meet a cause opens the department's task for it, unless one is still open.
func (e *Engine) waitForCapacity(js *jobState, op *Op, w *Wait) {
	now := e.opt.Now()
	j := &js.job
	if op.Resumed || j.VMTask != nil { // (an open finds no room before it creates anything)
		js.recover = true
		j.Logf(now, "waiting: %s; resumes when VMmanager has room", w.Cause)
	} else {
		if js.lane != nil {
			e.leaveLane(js)
		}
		j.State, j.StartedAt = store.JobQueued, time.Time{}
		j.Attempt = max(j.Attempt-1, 0)
		j.Error = waitingPrefix + w.Cause
		j.Logf(now, "waiting: %s; the attempt does not count, and the job goes on by itself when VMmanager has room", w.Cause)
	}
	ch := e.jobChange(js)
	if js.lane != nil && !js.recover {
		ch.events = append(ch.events, e.laneEvent(js.lane))
	}
	key := capKey{module: j.ModuleID, cause: w.Cause}
	if e.capWaits[key] == nil {
		cw := &capWait{key: key, advice: w.Advice, since: now, ready: w.Ready}
		if e.capWaits == nil {
			e.capWaits = map[capKey]*capWait{}
		}
		e.capWaits[key] = cw
		ch.apply = capacityTask(key, op.Module.Name, w.Advice, now)
		e.log.Warn("opens waiting for room in VMmanager: "+w.Cause, "module", j.ModuleID, "advice", w.Advice)
		e.publishStatus()
		if e.runCtx != nil {
			go e.probeCapacity(e.runCtx, cw)
		}
	}
	e.c.submit(ch)
}

// capacityTitle is the title of the department's task for one module and cause.
func capacityTitle(name, cause string) string {
	return fmt.Sprintf("Opens on module %s wait: %s", name, cause)
}

// capacityTask opens the department's task for a module and cause, unless one is still open: the
// operators are told once, however many services wait.
func capacityTask(key capKey, name, advice string, now time.Time) func(*store.Tx) error {
	return func(tx *store.Tx) error {
		dept := uint64(0)
		if m, err := store.Get[store.Module](tx, key.module); err == nil {
			dept, name = m.DepartmentID, m.Name
		}
		title := capacityTitle(name, key.cause)
		open := false
		err := store.Each[store.Task](tx, func(t *store.Task) bool {
			open = t.ModuleID == key.module && t.Title == title && t.ClosedAt.IsZero()
			return !open
		})
		if err != nil || open {
			return err
		}
		return tx.Put(&store.Task{DepartmentID: dept, ModuleID: key.module, Title: title, Reason: advice, CreatedAt: now})
	}
}

// capProbeEvery is how often a capacity wait asks VMmanager for room.
func (e *Engine) capProbeEvery() time.Duration { return 10 * e.opt.PollEvery }

// probeCapacity asks VMmanager for room until there is some, then lets the module's opens go on.
func (e *Engine) probeCapacity(ctx context.Context, w *capWait) {
	defer store.ExitOnPanic() // the opens it holds would wait for ever
	t := time.NewTicker(e.capProbeEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, e.capProbeEvery())
		ready := w.ready(pctx)
		cancel()
		if !ready {
			if e.opt.MaxPause > 0 && e.opt.Now().Sub(w.since) >= e.opt.MaxPause {
				e.setFatal(fmt.Errorf("the engine stopped because opens on module %d waited %s for room in VMmanager (%s): %s; the jobs keep their attempts and go on at the next start",
					w.key.module, e.opt.MaxPause, w.key.cause, w.advice))
				return
			}
			continue
		}
		e.mu.Lock()
		if e.capWaits[w.key] == w {
			delete(e.capWaits, w.key)
			e.log.Info("room in VMmanager again: opens continue", "module", w.key.module, "cause", w.key.cause,
				"waited", e.opt.Now().Sub(w.since).Round(time.Millisecond).String())
			e.publishStatus()
			if e.active {
				e.kickAll()
			}
		}
		e.mu.Unlock()
		return
	}
}

// capacityStatus lists the capacity waits, oldest first (e.mu held).
func (e *Engine) capacityStatus() []CapacityWait {
	var out []CapacityWait
	for _, w := range e.capWaits {
		out = append(out, CapacityWait{ModuleID: w.key.module, Cause: w.key.cause, Advice: w.advice, Since: w.since})
	}
	slices.SortFunc(out, func(a, b CapacityWait) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return int(a.ModuleID) - int(b.ModuleID)
	})
	return out
}
