package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"vmmpm/store"
)

// waitingPrefix starts the Error of a job back in the queue after a keyring wait, until it starts.
const waitingPrefix = "waiting: "

// keyProbeEvery is how often a waiting engine asks the keyring again: well within the 5 s in which
// jobs must continue once it is usable.
const keyProbeEvery = 500 * time.Millisecond

// keyringDown reports whether err says the keyring as a whole cannot give passwords (locked, no
// session bus, no Secret Service, no answer), as opposed to one password missing; and its short cause.
func keyringDown(err error) (string, *store.SecretError, bool) {
	var se *store.SecretError
	if !errors.As(err, &se) {
		return "", nil, false
	}
	switch se.Cause {
	case store.ErrLocked:
		return "keyring locked", se, true
	case store.ErrNoSession:
		return "no D-Bus session bus for the keyring", se, true
	case store.ErrNoProvider:
		return "no Secret Service running for the keyring", se, true
	case store.ErrSecretTimeout:
		return "keyring not answering", se, true
	}
	return "", nil, false
}

// waitForKeyring puts a job whose attempt could not read a password back where it was, without using
// the attempt or opening a task, and holds every start until the keyring answers again (e.mu held).
// A fresh attempt goes back to queued; one that had a VMmanager task recorded stays running and is
// resumed. Either way it keeps the head of its lane and its service.
func (e *Engine) waitForKeyring(js *jobState, op *Op, cause string, se *store.SecretError) {
	now := e.opt.Now()
	j := &js.job
	if op.Resumed || j.VMTask != nil {
		js.recover = true
		j.Logf(now, "waiting: %s; resumes when the keyring answers", cause)
	} else {
		if js.lane != nil {
			e.leaveLane(js)
		}
		j.State, j.StartedAt = store.JobQueued, time.Time{}
		j.Attempt = max(j.Attempt-1, 0)
		j.Error = waitingPrefix + cause
		j.Logf(now, "waiting: %s; the attempt does not count", cause)
	}
	ch := e.jobChange(js)
	if js.lane != nil && !js.recover {
		ch.events = append(ch.events, e.laneEvent(js.lane))
	}
	e.c.submit(ch)
	if e.keyWait != nil {
		return
	}
	e.keyWait = &keyWait{cause: cause, advice: se.Error(), since: now, probe: se.ModuleID}
	e.log.Warn("jobs waiting: "+cause, "advice", se.Error())
	e.publishStatus()
	if e.runCtx != nil {
		go e.probeKeyring(e.runCtx, e.keyWait)
	}
}

// probeKeyring asks the keyring for the password that failed until it answers (found or not), then
// lets the jobs go on.
func (e *Engine) probeKeyring(ctx context.Context, w *keyWait) {
	defer store.ExitOnPanic() // the jobs it holds would wait for ever
	t := time.NewTicker(keyProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := e.secrets.Get(w.probe)
		if _, _, down := keyringDown(err); down {
			if e.opt.MaxPause > 0 && e.opt.Now().Sub(w.since) >= e.opt.MaxPause {
				e.setFatal(fmt.Errorf("the engine stopped because jobs waited %s for the keyring (%s): %s; the jobs keep their attempts and go on at the next start", e.opt.MaxPause, w.cause, w.advice))
				return
			}
			continue
		}
		e.mu.Lock()
		if e.keyWait == w {
			e.endKeyWait()
		}
		e.mu.Unlock()
		return
	}
}

// endKeyWait resumes the jobs a keyring wait held (e.mu held).
func (e *Engine) endKeyWait() {
	e.log.Info("keyring usable again: jobs continue", "waited", e.opt.Now().Sub(e.keyWait.since).Round(time.Millisecond).String())
	e.keyWait = nil
	e.publishStatus()
	if !e.active {
		return
	}
	for _, js := range e.sortedJobs() {
		if js.job.State == store.JobRunning && js.recover && !js.worker && !e.ranElsewhere(js) {
			e.resume(js)
		}
	}
	e.kickAll()
}
