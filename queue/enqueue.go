package queue

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"vmmpm/store"
)

// MaxCreate caps one CreateServices call.
const MaxCreate = 10_000

// Actor is the engine's changes on behalf of someone: each job and log line says who asked.
type Actor struct {
	e    *Engine
	by   string
	also func(tx *store.Tx, jobs []store.Job) error // see Also
}

// As acts on behalf of by (a caller's description, "uid 1000 (alice)"); "" is the administrator.
func (e *Engine) As(by string) Actor { return Actor{e: e, by: by} }

// who is by as a log line says it.
func (a Actor) who() string {
	if a.by == "" {
		return "the administrator"
	}
	return a.by
}

// Enqueue is Actor.Enqueue on behalf of the administrator.
func (e *Engine) Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error) {
	return e.As("").Enqueue(serviceID, op, args)
}

// CreateServices is Actor.CreateServices on behalf of the administrator.
func (e *Engine) CreateServices(tariffID uint64, count int, clientEmail string) ([]store.Service, error) {
	return e.As("").CreateServices(tariffID, count, clientEmail)
}

// Cancel is Actor.Cancel on behalf of the administrator.
func (e *Engine) Cancel(jobID uint64) error { return e.As("").Cancel(jobID) }

// Retry is Actor.Retry on behalf of the administrator.
func (e *Engine) Retry(jobID uint64) error { return e.As("").Retry(jobID) }

// Enqueue adds one operation for a service and returns the stored job. open selects a module
// (spec §6); when none fits the job is stored failed with a "manual setup" task.
func (a Actor) Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error) {
	e := a.e
	if err := CheckArgs(op, args); err != nil {
		return nil, err
	}
	args = maps.Clone(args)
	pw := args[ArgPassword]
	delete(args, ArgPassword)
	var out *store.Job
	err := a.enqueueTx(func(tx *store.Tx, add func(*jobState)) error {
		s, err := store.Get[store.Service](tx, serviceID)
		if err != nil {
			return unknown("service %d does not exist; see vmmpm service list", serviceID)
		}
		if err := checkDiskShrink(tx, s, op, args); err != nil {
			return err
		}
		js, err := e.plan(tx, s, op, args, a.by, e.opt.Now())
		if err != nil {
			return err
		}
		add(js)
		if pw != "" {
			if err := e.secrets.Set(store.JobSecretID(js.job.ID), pw); err != nil {
				return err
			}
		}
		j := cloneJob(&js.job)
		out = &j
		return nil
	})
	return out, err
}

// CreateServices orders count services of a tariff for clientEmail and enqueues open for each, in one
// transaction.
func (a Actor) CreateServices(tariffID uint64, count int, clientEmail string) ([]store.Service, error) {
	e := a.e
	if err := CheckClient(clientEmail); err != nil {
		return nil, err
	}
	if count < 1 || count > MaxCreate {
		return nil, &store.ValidationError{Field: "count", Rule: fmt.Sprintf("must be between 1 and %d", MaxCreate)}
	}
	var out []store.Service
	err := a.enqueueTx(func(tx *store.Tx, add func(*jobState)) error {
		out = out[:0] // fn may run again, alone, when a transaction it shared failed
		t, err := store.Get[store.Tariff](tx, tariffID)
		if err != nil {
			return unknown("tariff %d does not exist; see vmmpm tariff list", tariffID)
		}
		now := e.opt.Now()
		for range count {
			s := &store.Service{TariffID: t.ID, ClientEmail: clientEmail, Status: store.ServiceOrdered,
				CreatedAt: now, UpdatedAt: now}
			if err := tx.Put(s); err != nil {
				return err
			}
			s.Domain = expandDomain(t.DomainTemplate, s)
			js, err := e.plan(tx, s, store.OpOpen, nil, a.by, now)
			if err != nil {
				return err
			}
			add(js)
			out = append(out, *s) // as plan wrote it
		}
		return nil
	})
	return out, err
}

// expandDomain fills a tariff's domain template: @ID@ is the service id, @USERNAME@ the client's
// address before the @.
func expandDomain(tmpl string, s *store.Service) string {
	if tmpl == "" {
		return ""
	}
	user, _, _ := strings.Cut(s.ClientEmail, "@")
	return strings.NewReplacer("@ID@", strconv.FormatUint(s.ID, 10), "@USERNAME@", user).Replace(tmpl)
}

// enqueueSolo runs fn in a write transaction of its own while holding the scheduler, so lane choices
// inside fn see the jobs fn added before. On failure the added jobs are taken back out. (enqueueTx,
// group.go, runs concurrent calls' fns in one transaction, and each alone when one of them fails.)
func (e *Engine) enqueueSolo(fn func(tx *store.Tx, add func(*jobState)) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.refuseWhilePaused("nothing was enqueued"); err != nil {
		return err
	}
	var added []*jobState
	add := func(js *jobState) {
		if !store.Finished(js.job.State) {
			e.addJob(js)
		}
		added = append(added, js)
	}
	err := e.db.Update(func(tx *store.Tx) error {
		if err := fn(tx, add); err != nil {
			return &changeError{err}
		}
		if err := e.enqueueHook(tx, added); err != nil {
			return &changeError{err}
		}
		return nil
	})
	var ce *changeError
	if errors.As(err, &ce) {
		err = ce.err
	} else if err != nil {
		f := newStorageFault(e.db.Path(), err, e.opt.Now())
		err = fmt.Errorf("the new jobs could not be written to %s (%s) and nothing was enqueued; %s and try again", e.db.Path(), f.Cause(), f.advice())
	}
	if err != nil {
		e.undoEnqueue(added)
		return err
	}
	e.enqueued(added)
	return nil
}

// undoEnqueue takes the jobs of a transaction that failed back out of the scheduler (e.mu held).
func (e *Engine) undoEnqueue(added []*jobState) {
	for _, js := range added {
		if !store.Finished(js.job.State) {
			e.removeJob(js)
		}
		if js.job.Type == store.OpSetPassword && js.job.ID != 0 {
			_ = e.secrets.Delete(store.JobSecretID(js.job.ID))
		}
	}
}

// enqueued moves the jobs of a committed enqueue in the read model, logs and publishes them, and starts
// what may start (e.mu held).
func (e *Engine) enqueued(added []*jobState) {
	e.rm.mu.Lock()
	for _, js := range added {
		e.rm.move(js.job.ID, js.lastState, js.job.State)
		js.lastState, js.lastModule = js.job.State, js.job.ModuleID
	}
	e.rm.mu.Unlock()
	var evs []Event
	for _, js := range added {
		e.logTransition(&js.job)
		j := cloneJob(&js.job)
		evs = append(evs, Event{Kind: JobChanged, Job: &j, ModuleID: j.ModuleID})
		if js.lane != nil {
			evs = append(evs, e.laneEvent(js.lane))
		}
	}
	e.ev.publish(evs...)
	for _, js := range added {
		e.kick(js)
	}
}

// plan builds and stores a job for one operation on s: module, key name and lane (e.mu held).
func (e *Engine) plan(tx *store.Tx, s *store.Service, op string, args map[string]string, by string, now time.Time) (*jobState, error) {
	if err := e.allowed(s, op); err != nil {
		return nil, err
	}
	js := &jobState{job: store.Job{ServiceID: s.ID, Type: op, Args: args, State: store.JobQueued,
		MaxAttempts: e.opt.MaxAttempts, EnqueuedAt: now, By: by}}
	var m *store.Module
	var err error
	if op == store.OpOpen {
		m, err = e.pickModule(tx, s, now)
	} else {
		m, err = e.moduleOf(tx, s)
	}
	if err != nil {
		return nil, err
	}
	if m == nil {
		return js, e.manualSetup(tx, s, js, now)
	}
	js.job.ModuleID = m.ID
	if err := e.placeInLane(js, m); err != nil {
		return nil, err
	}
	switch by := byText(by); {
	case js.lane != nil || js.job.QueueKey != "":
		js.job.Logf(now, "enqueued on %s%s", js.job.QueueKey, by)
	default:
		js.job.Logf(now, "enqueued (queues off)%s", by)
	}
	e.notePaused(js, e.paused[m.ID], now)
	if err := putJob(tx, &js.job); err != nil {
		return nil, err
	}
	if op == store.OpOpen {
		s.Status, s.ModuleID, s.UpdatedAt = store.ServiceProcessing, m.ID, now
		if err := tx.Put(s); err != nil {
			return nil, err
		}
	}
	return js, nil
}

// allowed refuses operations that cannot make sense for the service as it stands.
func (e *Engine) allowed(s *store.Service, op string) error {
	if op == store.OpReconcile { // reconcile checks its actions itself, deleted services included
		return nil
	}
	pendingOpen := false
	for _, js := range e.svcs[s.ID] {
		pendingOpen = pendingOpen || js.job.Type == store.OpOpen
	}
	switch {
	case s.Status == store.ServiceDeleted:
		return fmt.Errorf("service %d is deleted and cannot be changed; order a new one", s.ID)
	case op == store.OpOpen && pendingOpen:
		return fmt.Errorf("service %d already has an open operation waiting or running", s.ID)
	case op == store.OpOpen && s.Status != store.ServiceOrdered && s.Status != store.ServiceFailed:
		return fmt.Errorf("service %d is %s, so it cannot be opened again", s.ID, s.Status)
	case op != store.OpOpen && s.VM.HostID == 0 && !pendingOpen:
		return fmt.Errorf("service %d has no VM yet; open it first", s.ID)
	}
	return nil
}

// moduleOf is the module a non-open operation runs on: the service's, or its pending open's.
func (e *Engine) moduleOf(tx *store.Tx, s *store.Service) (*store.Module, error) {
	id := s.ModuleID
	for _, js := range e.svcs[s.ID] {
		if id == 0 {
			id = js.job.ModuleID
		}
	}
	m, ok := e.modules.get(tx, id)
	if !ok {
		return nil, fmt.Errorf("service %d is bound to module %d, which no longer exists", s.ID, id)
	}
	return &m, nil
}

// pickModule applies module selection for an open; nil means none fits. A service already bound to a
// module opens there again whatever its health: a VM named svc-{IID} may exist in that VMmanager, and
// opening elsewhere would give the service a second VM (spec §5).
func (e *Engine) pickModule(tx *store.Tx, s *store.Service, now time.Time) (*store.Module, error) {
	if s.ModuleID != 0 {
		return e.moduleOf(tx, s)
	}
	t, err := store.Get[store.Tariff](tx, s.TariffID)
	if err != nil {
		return nil, err
	}
	var cands []candidate
	for _, id := range t.ModuleIDs {
		m, ok := e.modules.get(tx, id)
		if !ok {
			continue
		}
		cands = append(cands, candidate{Module: m, RecentError: e.recentError(&m, now), ActiveOpens: e.opens[m.ID]})
	}
	m, ok := selectModule(cands, t.DataCenterID, s.ModuleID)
	if !ok {
		return nil, nil
	}
	return &m, nil
}

// manualSetup stores the open as failed with a task for the first module's department.
func (e *Engine) manualSetup(tx *store.Tx, s *store.Service, js *jobState, now time.Time) error {
	t, err := store.Get[store.Tariff](tx, s.TariffID)
	if err != nil {
		return err
	}
	dept, first := uint64(0), uint64(0)
	if len(t.ModuleIDs) > 0 {
		first = t.ModuleIDs[0]
		if m, err := store.Get[store.Module](tx, first); err == nil {
			dept = m.DepartmentID
		}
	}
	reason := fmt.Sprintf("no enabled module of tariff %q serves its data center %d: set the service up by hand, or enable or add a module there and retry the job", t.Name, t.DataCenterID)
	j := &js.job
	j.State, j.Error, j.FinishedAt = store.JobFailed, reason, now
	j.Logf(now, "no module fits: %s", reason)
	if err := putJob(tx, j); err != nil {
		return err
	}
	task := &store.Task{DepartmentID: dept, ModuleID: first, ServiceID: s.ID, JobID: j.ID,
		Title: fmt.Sprintf("manual setup of service %d", s.ID), Reason: reason, CreatedAt: now}
	if err := tx.Put(task); err != nil {
		return err
	}
	s.Status, s.UpdatedAt = store.ServiceFailed, now
	return tx.Put(s)
}

// placeInLane applies the lane rule of spec §4 (queues on) and sets QueueKey and Lane.
func (e *Engine) placeInLane(js *jobState, m *store.Module) error {
	if !m.Params.Queue {
		return nil
	}
	tmpl, err := ParseKeyTemplate(m.Params.QueueKey, true)
	if err != nil {
		return fmt.Errorf("module %d has an invalid queue key (%v); fix it with module set", m.ID, err)
	}
	name := tmpl.Expand(js.job.Type, m.ID, js.job.ServiceID)
	count := max(m.Params.QueueCount, 1)
	own := 0
	for _, o := range e.svcs[js.job.ServiceID] {
		if o.keyName == name && o.job.QueueKey != "" && o.job.Lane <= count {
			own = o.job.Lane
		}
	}
	n := chooseLane(count, own, func(n int) int {
		if l := e.lanes[QueueKey(name, n)]; l != nil {
			return len(l.fifo)
		}
		return 0
	})
	js.keyName, js.job.QueueKey, js.job.Lane = name, QueueKey(name, n), n
	return nil
}

// ---- cancel and retry ----

// ErrNotFound is matched by the error for an unknown job id.
var ErrNotFound = errors.New("no such job")

// unknownID is the refusal of an id the user gave that does not exist: a *store.ValidationError for the
// record as a whole (so commands exit 2), which also matches ErrNotFound.
type unknownID struct{ v store.ValidationError }

func (e *unknownID) Error() string        { return e.v.Error() }
func (e *unknownID) Is(target error) bool { return target == ErrNotFound }
func (e *unknownID) As(target any) bool {
	if p, ok := target.(**store.ValidationError); ok {
		*p = &e.v
		return true
	}
	return false
}

func unknown(format string, args ...any) error {
	return &unknownID{store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf(format, args...)}}
}

// ErrPaused marks a change refused at once because the engine is paused on its disk: it would wait
// for the disk, and a caller must not hang on it.
var ErrPaused = errors.New("the engine is paused")

// refuseWhilePaused refuses a change while the engine is paused, saying what was not done (e.mu held).
func (e *Engine) refuseWhilePaused(notDone string) error {
	if e.pause == nil {
		return nil
	}
	return fmt.Errorf("%w (%s), so %s; it runs nothing until the database can be written again: %s, then try again",
		ErrPaused, e.pause.Cause(), notDone, e.pause.advice())
}

// byText is " by WHO" for an enqueue's log line, nothing when the caller is not known.
func byText(by string) string {
	if by == "" {
		return ""
	}
	return " by " + by
}

// Cancel stops a job. One that has not started (queued, or waiting to retry) just ends; a running one
// ends once the engine has stopped waiting for VMmanager (cancelRunning says what is left to look at).
func (a Actor) Cancel(jobID uint64) error {
	e := a.e
	if err := e.ready(); err != nil {
		return err
	}
	e.mu.Lock()
	if err := e.refuseWhilePaused(fmt.Sprintf("job %d was not cancelled", jobID)); err != nil {
		e.mu.Unlock()
		return err
	}
	js := e.jobs[jobID]
	if js == nil {
		e.mu.Unlock()
		return e.notUnfinished(jobID, "cancelled")
	}
	if err := e.refuseElsewhere(js); err != nil {
		e.mu.Unlock()
		return err
	}
	if js.worker {
		reply, err := e.askCancel(js, a.who())
		e.mu.Unlock()
		if err != nil {
			return err
		}
		return <-reply
	}
	if err := e.fill(js); err != nil {
		e.mu.Unlock()
		return err
	}
	now := e.opt.Now()
	if js.job.State == store.JobRunning { // found running, no worker follows it (interrupted, keyring)
		js.cancelBy, js.cancelReply = a.who(), make(chan error, 1)
		reply := js.cancelReply
		e.cancelRunning(js, now)
		e.mu.Unlock()
		return <-reply
	}
	j := &js.job
	j.State, j.FinishedAt = store.JobCancelled, now
	j.Logf(now, "cancelled by %s", a.who())
	ch := e.jobChange(js)
	if j.Type == store.OpOpen {
		svc := j.ServiceID
		ch.apply = serviceUpdate(svc, now, func(s *store.Service) {
			if s.Status == store.ServiceProcessing {
				s.Status = store.ServiceOrdered
			}
		})
	}
	if j.Type == store.OpSetPassword {
		e.dropJobSecret(j.ID)
	}
	ch.done = make(chan error, 1)
	e.finishChange(js, ch)
	e.mu.Unlock()
	return <-ch.done
}

func (e *Engine) notUnfinished(jobID uint64, verb string) error {
	j, err := store.Load[store.Job](e.db, jobID)
	if err != nil {
		return unknown("job %d does not exist; see vmmpm jobs", jobID)
	}
	return fmt.Errorf("job %d is %s; only unfinished jobs can be %s", jobID, j.State, verb)
}

// Retry puts a failed job back in the queue with fresh attempts, behind the work already queued.
// A failed open without a module (manual setup) goes through module selection again.
func (a Actor) Retry(jobID uint64) error {
	e := a.e
	return a.enqueueTx(func(tx *store.Tx, add func(*jobState)) error {
		if e.jobs[jobID] != nil {
			return fmt.Errorf("job %d has not failed; only failed jobs can be retried", jobID)
		}
		j, err := store.Get[store.Job](tx, jobID)
		if err != nil {
			return unknown("job %d does not exist; see vmmpm jobs", jobID)
		}
		if j.State != store.JobFailed {
			return fmt.Errorf("job %d is %s; only failed jobs can be retried", jobID, j.State)
		}
		s, err := store.Get[store.Service](tx, j.ServiceID)
		if err != nil {
			return err
		}
		js, err := e.replan(tx, j, s, a.who())
		if err != nil {
			return err
		}
		add(js)
		return closeJobTasks(tx, jobID, e.opt.Now())
	})
}

func (e *Engine) replan(tx *store.Tx, j *store.Job, s *store.Service, who string) (*jobState, error) {
	now := e.opt.Now()
	prevState, prevModule := j.State, j.ModuleID
	if j.Type == store.OpOpen && s.Status == store.ServiceFailed {
		s.Status = store.ServiceOrdered // let allowed() accept the re-run
	}
	if err := e.allowed(s, j.Type); err != nil {
		return nil, err
	}
	var m *store.Module
	var err error
	switch {
	case j.Type == store.OpOpen && j.ModuleID == 0:
		m, err = e.pickModule(tx, s, now)
	default:
		m, err = store.Get[store.Module](tx, j.ModuleID)
		if err != nil {
			err = fmt.Errorf("module %d of job %d no longer exists", j.ModuleID, j.ID)
		}
	}
	if err != nil {
		return nil, err
	}
	js := &jobState{job: *j, lastState: prevState, lastModule: prevModule}
	js.job.State, js.job.Attempt, js.job.Error = store.JobQueued, 0, ""
	js.job.NextRunAt, js.job.FinishedAt, js.job.StartedAt = time.Time{}, time.Time{}, time.Time{}
	js.job.EnqueuedAt, js.job.MaxAttempts, js.job.Refused = now, e.opt.MaxAttempts, false
	js.job.QueueKey, js.job.Lane, js.job.VMTask = "", 0, nil
	js.job.Logf(now, "retried by %s", who)
	if m == nil {
		return js, e.manualSetup(tx, s, js, now)
	}
	js.job.ModuleID = m.ID
	if err := e.placeInLane(js, m); err != nil {
		return nil, err
	}
	e.notePaused(js, e.paused[m.ID], now)
	if err := putJob(tx, &js.job); err != nil {
		return nil, err
	}
	if j.Type == store.OpOpen {
		s.Status, s.ModuleID, s.UpdatedAt = store.ServiceProcessing, m.ID, now
		return js, tx.Put(s)
	}
	return js, nil
}

// dropJobSecret forgets setpassword's password once it is no longer needed.
func (e *Engine) dropJobSecret(jobID uint64) {
	go func() { _ = e.secrets.Delete(store.JobSecretID(jobID)) }() // a keyring call must not hold the scheduler
}
