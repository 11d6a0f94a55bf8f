package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"vmmpm/store"
)

// Executor performs one attempt of an operation. The default talks to VMmanager (NewVMMExecutor);
// benchmarks plug in a fixed-latency one. An executor must be safe to run again after a crash: the
// engine may call it with Op.Resumed for a job that was cut short mid-attempt.
type Executor interface {
	Execute(ctx context.Context, op *Op) (Result, error)
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, op *Op) (Result, error)

func (f ExecutorFunc) Execute(ctx context.Context, op *Op) (Result, error) { return f(ctx, op) }

// Result is what a successful attempt changes besides the job.
type Result struct {
	// Service, when set, is applied to the service record in the transaction that marks the job done.
	Service func(*store.Service)
}

// Op is one attempt as an executor sees it. Job, Service, Module and Tariff are copies read when the
// attempt started (Module and Tariff are zero when the records are gone).
type Op struct {
	Job     store.Job
	Service store.Service
	Module  store.Module
	Tariff  store.Tariff
	// Resumed: the job was found running after an interruption; Job.VMTask, if set, is the VMmanager
	// task it was waiting for.
	Resumed bool

	e  *Engine
	js *jobState
	// read: the service, module and tariff were read inside the transaction that marked the job
	// running (readErr: why not), so the attempt needs no View of its own for them.
	read    bool
	readErr error
}

// Secrets is the engine's secret store (module passwords, setpassword's new password).
func (o *Op) Secrets() store.Secrets { return o.e.secrets }

// PollEvery is how often to poll VMmanager tasks.
func (o *Op) PollEvery() time.Duration { return o.e.opt.PollEvery }

// Logf adds a line to the job's log; it is written with the job's next change.
func (o *Op) Logf(format string, args ...any) {
	o.e.mu.Lock()
	defer o.e.mu.Unlock()
	o.js.job.Logf(o.e.opt.Now(), format, args...)
}

// Record durably stores the VMmanager task the job now waits for (nil keeps the current one), extra
// job arguments, and a change to the service, and returns once they are on disk. Call it as soon as
// VMmanager answers, before polling, so a crash leaves enough to resume without repeating the call.
func (o *Op) Record(task *store.VMTask, args map[string]string, svc func(*store.Service)) error {
	e := o.e
	e.mu.Lock()
	j := &o.js.job
	if task != nil {
		t := *task
		j.VMTask = &t
		j.Logf(e.opt.Now(), "VMmanager task %s (%s) recorded", t.ConsulID, t.Name)
	}
	for k, v := range args {
		if j.Args == nil {
			j.Args = map[string]string{}
		}
		j.Args[k] = v
	}
	ch := e.jobChange(o.js)
	if svc != nil {
		ch.apply = serviceUpdate(j.ServiceID, e.opt.Now(), svc)
	}
	o.Job = cloneJob(j)
	e.mu.Unlock()
	return e.c.commit(ch)
}

// serviceUpdate re-reads the service inside the transaction, so concurrent writers never lose updates.
func serviceUpdate(id uint64, now time.Time, f func(*store.Service)) func(*store.Tx) error {
	return func(tx *store.Tx) error {
		s, err := store.Get[store.Service](tx, id)
		if err != nil {
			return err
		}
		f(s)
		s.UpdatedAt = now
		return tx.Put(s)
	}
}

// work runs attempts on one goroutine: its own, then each one its ends hand over (the next job of the
// lane, say), so a lane changes hands without waking another goroutine.
func (e *Engine) work(ctx context.Context, op *Op, committed <-chan error) {
	defer e.crashed()
	for op != nil {
		next := e.attempt(ctx, op, committed)
		e.wg.Done()
		op = nil
		if next != nil {
			op, committed = next.op, next.committed
		}
	}
}

// relayed is a job started while a worker was finishing, for that worker to run next.
type relayed struct {
	op        *Op
	committed <-chan error
}

func (e *Engine) attempt(ctx context.Context, op *Op, committed <-chan error) *relayed {
	e.c.drainFor(committed) // write the running change here rather than wait for the committer to wake
	if err := <-committed; err != nil {
		return e.finish(op.js, Result{}, err, true)
	}
	if err := e.loadContext(op); err != nil {
		return e.finish(op.js, Result{}, err, false)
	}
	actx, cancel := context.WithTimeout(ctx, e.attemptTimeout(op))
	e.mu.Lock()
	asked := op.js.cancelBy != ""
	op.js.stop = cancel
	e.mu.Unlock()
	var res Result
	err := context.Canceled
	if !asked {
		res, err = e.exec.Execute(actx, op)
	}
	cancel()
	e.mu.Lock()
	op.js.stop = nil
	asked = op.js.cancelBy != ""
	e.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		return e.finish(op.js, Result{}, ctx.Err(), true) // the engine is stopping: leave the job to recovery
	}
	if asked { // cancelled: whatever the attempt ran into, the engine stops following it
		return e.finish(op.js, res, err, false)
	}
	if cause, se, down := keyringDown(err); down {
		e.mu.Lock()
		if op.js.cancelBy != "" { // a cancel came meanwhile: it wins over the wait
			e.mu.Unlock()
			return e.finish(op.js, res, err, false)
		}
		op.js.worker = false
		e.workers--
		e.waitForKeyring(op.js, op, cause, se)
		e.mu.Unlock()
		return nil
	}
	if w := capacityWait(err); w != nil {
		e.mu.Lock()
		if op.js.cancelBy != "" {
			e.mu.Unlock()
			return e.finish(op.js, res, err, false)
		}
		op.js.worker = false
		e.workers--
		e.waitForCapacity(op.js, op, w)
		e.unpark()
		e.mu.Unlock()
		return nil
	}
	return e.finish(op.js, res, err, false)
}

// loadContext gives op its service, module and tariff: read already in the start's transaction,
// or in a View of their own (a job resumed after a restart).
func (e *Engine) loadContext(op *Op) error {
	if op.read {
		return op.readErr
	}
	return e.db.View(func(tx *store.Tx) error { return e.readContext(tx, op) })
}

func (e *Engine) readContext(tx *store.Tx, op *Op) error {
	s, err := store.Get[store.Service](tx, op.Job.ServiceID)
	if err != nil {
		return permanent(fmt.Errorf("service %d no longer exists", op.Job.ServiceID))
	}
	op.Service = *s
	if m, ok := e.modules.get(tx, op.Job.ModuleID); ok {
		op.Module = m
	}
	if t, ok := e.tariffs.get(tx, s.TariffID); ok {
		op.Tariff = t
	}
	return nil
}

// decoded keeps the last decoded copy of each record of one kind with the bytes it was decoded from.
// A read still goes through the transaction, so it sees every commit whoever made it, but it decodes
// only when the stored bytes changed: modules and tariffs change rarely and every job reads them.
// Copies share slices and pointers with the cache, so executors must treat them as read-only.
type decoded[T any, P interface {
	*T
	store.Record
}] struct {
	mu   sync.Mutex
	byID map[uint64]decodedRec[T]
}

type decodedRec[T any] struct {
	raw []byte
	v   T
}

func (d *decoded[T, P]) get(tx *store.Tx, id uint64) (T, bool) {
	var zero T
	raw := tx.MustBucket(P(&zero).Bucket()).Get(store.Key(id))
	if raw == nil {
		return zero, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.byID[id]; ok && bytes.Equal(c.raw, raw) {
		return c.v, true
	}
	p, err := store.Get[T, P](tx, id)
	if err != nil {
		return zero, false
	}
	if d.byID == nil {
		d.byID = map[uint64]decodedRec[T]{}
	}
	d.byID[id] = decodedRec[T]{raw: bytes.Clone(raw), v: *p}
	return *p, true
}

// Error is an executor's verdict on a failed attempt, in the engine's own terms (like asynq's SkipRetry
// or River's JobCancel): the scheduler reads Retry, Module and Msg and knows nothing of VMmanager.
// An error that is not an *Error is final, except a secret-store timeout or the attempt's own timeout.
type Error struct {
	Err    error
	Msg    string // one sentence for the job's error and the task's reason; Err's text when empty
	Retry  bool   // another attempt later may succeed (spec §6 transient errors)
	Module bool   // says something about the module (unreachable, TLS, login, overload), not one service
	// Wait, when set, holds the job (and its module's opens) until room appears, its attempt unused.
	Wait *Wait
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err final: the job fails at once.
func Permanent(err error) error { return &Error{Err: err} }

// Retryable marks err worth another attempt after the backoff.
func Retryable(err error) error { return &Error{Err: err, Retry: true} }

func permanent(err error) error { return Permanent(err) }

// transient says whether an attempt's error is worth another attempt (spec §6).
func transient(err error) bool {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Retry
	}
	return errors.Is(err, store.ErrSecretTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// describe is the sentence stored as the job's error and the task's reason.
func describe(err error) string {
	var qe *Error
	if errors.As(err, &qe) && qe.Msg != "" {
		return qe.Msg
	}
	var se *store.SecretError
	if errors.As(err, &se) {
		return se.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "The attempt did not finish in the time allowed; check that VMmanager is responsive."
	}
	return sentence(err.Error())
}

// sentence capitalises msg and ends it with one full stop.
func sentence(msg string) string {
	msg = strings.TrimRight(strings.TrimSpace(msg), ".")
	if msg == "" {
		return "The operation failed for an unknown reason."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// healthRelevant: failures that say something about the module rather than about one service.
func healthRelevant(err error) bool {
	var qe *Error
	if errors.As(err, &qe) {
		return qe.Module
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// finish records the outcome of an attempt. interrupted leaves the job running for recovery.
// It returns a job it started for the calling worker to run next.
func (e *Engine) finish(js *jobState, res Result, err error, interrupted bool) (next *relayed) {
	e.mu.Lock()
	e.relaying = true
	defer func() {
		e.unpark()
		next, e.relay, e.relaying = e.relay, nil, false
		e.mu.Unlock()
	}()
	js.worker = false
	e.workers--
	if interrupted {
		js.recover = true
		e.cancelGone(js, "the engine stopped before job %d's cancel was recorded; it resumes at the next start, cancel it again then")
		return
	}
	now := e.opt.Now()
	j := &js.job
	if js.cancelBy == "" { // a cancelled attempt's error says nothing about the module
		e.noteHealth(j.ModuleID, err, now)
	}
	if js.lane != nil {
		e.leaveLane(js)
	}
	switch {
	case js.cancelBy != "" && err != nil:
		e.cancelRunning(js, now)
	case err == nil:
		e.cancelGone(js, "job %d finished (done) before the cancel took effect")
		e.succeed(js, res, now)
	case transient(err) && j.Attempt < j.MaxAttempts:
		e.retryLater(js, err, now)
	default:
		e.failJob(js, err, now)
	}
	return
}

func (e *Engine) succeed(js *jobState, res Result, now time.Time) {
	j := &js.job
	j.State, j.FinishedAt, j.Error = store.JobDone, now, ""
	j.Logf(now, "done")
	ch := e.jobChange(js)
	if res.Service != nil {
		ch.apply = serviceUpdate(j.ServiceID, now, res.Service)
	}
	if j.Type == store.OpSetPassword {
		e.dropJobSecret(j.ID)
	}
	e.finishChange(js, ch)
}

func (e *Engine) retryLater(js *jobState, err error, now time.Time) {
	j := &js.job
	d := backoff(j.Attempt, e.opt.BackoffBase, e.opt.Rand.Float64())
	j.State, j.Error, j.NextRunAt = store.JobRetrying, describe(err), now.Add(d)
	j.Logf(now, "attempt %d failed, retrying in %s: %s", j.Attempt, d.Round(time.Millisecond), j.Error)
	ch := e.jobChange(js)
	if js.lane != nil {
		ch.events = append(ch.events, e.laneEvent(js.lane))
	}
	e.c.submit(ch)
	if e.active {
		e.armRetry(js)
	}
	if js.lane != nil { // the backoff does not idle the lane: the next job of another service may run
		if h := e.head(js.lane); h != nil {
			e.kick(h)
		}
	}
}

// failJob ends a job for good and opens a task for its module's department (spec §6).
func (e *Engine) failJob(js *jobState, err error, now time.Time) {
	j := &js.job
	j.State, j.FinishedAt, j.Error = store.JobFailed, now, describe(err)
	j.Logf(now, "failed: %s", j.Error)
	j.Refused = !transient(err) // VMmanager (or a rule) said no for good: a retry asks first
	ch := e.jobChange(js)
	ch.apply = e.taskApply(j, fmt.Sprintf("%s of service %d failed", j.Type, j.ServiceID), j.Error, now)
	e.finishChange(js, ch)
}

// finishChange submits the final change of a job together with the running changes of whatever its
// departure starts, in one step: they share the next transaction (one fsync hands the lane over), and
// the next job's start can never be durable before this end.
func (e *Engine) finishChange(js *jobState, ch *change) {
	l := js.lane
	next := e.removeJob(js)
	if l != nil {
		ch.events = append(ch.events, e.laneEvent(l))
	}
	e.held = append(e.held[:0], ch)
	e.holding = true
	e.kick(next...)
	e.holding = false
	e.c.submit(e.held...)
	clear(e.held)
}

// cancelGone answers a cancel asked of js that will not be recorded (e.mu held).
func (e *Engine) cancelGone(js *jobState, why string) {
	if js.cancelReply != nil {
		js.cancelReply <- fmt.Errorf(why, js.job.ID)
		js.cancelBy, js.cancelReply = "", nil
	}
}

// attemptTimeout is the time limit of op's attempt: its module's setting for the operation's type,
// else the engine's.
func (e *Engine) attemptTimeout(op *Op) time.Duration {
	if d := op.Module.AttemptTimeoutOf(op.Job.Type); d > 0 {
		return d
	}
	return e.opt.AttemptTimeout
}

func (e *Engine) noteHealth(module uint64, err error, now time.Time) {
	h := e.health[module]
	if h == nil {
		h = &modHealth{}
		e.health[module] = h
	}
	was := h.bad
	switch {
	case err == nil:
		h.bad, h.msg = false, ""
	case healthRelevant(err):
		h.bad, h.lastErr, h.msg = true, now, describe(err)
	default:
		return
	}
	if was != h.bad {
		e.ev.publish(Event{Kind: ModuleHealth, ModuleID: module, Healthy: !h.bad, Health: h.msg})
	}
}

// recentError: the engine saw the module fail within HealthWindow, or its last check failed.
func (e *Engine) recentError(m *store.Module, now time.Time) bool {
	if h := e.health[m.ID]; h != nil && h.bad && now.Sub(h.lastErr) < e.opt.HealthWindow {
		return true
	}
	return m.LastCheck != nil && !m.LastCheck.OK
}
