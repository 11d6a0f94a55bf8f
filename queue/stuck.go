package queue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"vmmpm/store"
)

// bucketLooks holds the services whose VM a reconcile should look at, keyed by service id: the engine
// stopped following what VMmanager does for them (a running job was cancelled).
var bucketLooks = []byte("queue_reconcile_looks")

// bucketLooked holds, by job id, the quarantined job records whose service a scan has looked at since:
// the quarantine keeps the record, only its flag goes.
var bucketLooked = []byte("queue_reconcile_looked")

// The kinds of Look.
const (
	LookCancelled   = "cancelled"   // a running job was cancelled: VMmanager may have gone on
	LookQuarantined = "quarantined" // a job record did not decode and is in store's quarantine
)

// Look asks for a reconcile look at a service: why, and which job left VMmanager unwatched or lost
// its record. ServiceID is 0 for a quarantined finished job whose service nothing names any more.
type Look struct {
	ServiceID uint64    `json:"service_id"`
	JobID     uint64    `json:"job_id"`
	ModuleID  uint64    `json:"module_id"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

func putLook(tx *store.Tx, l Look) error {
	b, err := tx.KV().CreateBucketIfNotExists(bucketLooks)
	if err != nil {
		return err
	}
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return b.Put(store.Key(l.ServiceID), v)
}

// Looks lists every flag asking for a reconcile look, in one read: the services whose running job was
// cancelled, by service id, then the quarantined job records not looked at since, oldest first.
func Looks(db *store.DB) ([]Look, error) {
	var out []Look
	err := db.View(func(tx *store.Tx) error {
		var err error
		if out, err = cancelLooks(tx); err != nil {
			return err
		}
		q, err := quarantineLooks(tx)
		out = append(out, q...)
		return err
	})
	return out, err
}

func cancelLooks(tx *store.Tx) ([]Look, error) {
	var out []Look
	b := tx.KV().Bucket(bucketLooks)
	if b == nil {
		return nil, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var l Look
		if err := json.Unmarshal(v, &l); err != nil {
			return fmt.Errorf("the reconcile look asked for service %d is unreadable (%v)", store.KeyID(k), err)
		}
		if l.Kind == "" {
			l.Kind = LookCancelled // flagged before looks had kinds
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// quarantineLooks are the quarantined job records whose look is still to come.
func quarantineLooks(tx *store.Tx) ([]Look, error) {
	qs, err := store.QuarantinedRecords(tx)
	if err != nil {
		return nil, err
	}
	looked := tx.KV().Bucket(bucketLooked)
	jobs := string((&store.Job{}).Bucket())
	var out []Look
	for _, q := range qs {
		id, err := strconv.ParseUint(q.Key, 10, 64)
		if q.Bucket != jobs || err != nil || looked != nil && looked.Get(store.Key(id)) != nil {
			continue
		}
		out = append(out, Look{ServiceID: q.ServiceID, JobID: id, ModuleID: q.ModuleID, Kind: LookQuarantined, At: q.At,
			Reason: fmt.Sprintf("job %d's record was unreadable and is in quarantine (vmmpm check lists it)", id)})
	}
	return out, nil
}

// ClearLooks takes down the flags of looks a scan has done, in one transaction: a cancel's flag only
// while it is still the one for that job (a newer cancel of the service stays flagged), a quarantined
// record's by noting it looked at (the record stays in quarantine).
func ClearLooks(db *store.DB, done []Look, now time.Time) error {
	if len(done) == 0 {
		return nil
	}
	return db.Update(func(tx *store.Tx) error {
		for _, l := range done {
			if err := clearLook(tx, l, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func clearLook(tx *store.Tx, l Look, now time.Time) error {
	if l.Kind == LookQuarantined {
		b, err := tx.KV().CreateBucketIfNotExists(bucketLooked)
		if err != nil {
			return err
		}
		return b.Put(store.Key(l.JobID), []byte(now.UTC().Format(time.RFC3339)))
	}
	b := tx.KV().Bucket(bucketLooks)
	if b == nil {
		return nil
	}
	var cur Look
	if v := b.Get(store.Key(l.ServiceID)); v == nil || json.Unmarshal(v, &cur) != nil || cur.JobID != l.JobID {
		return nil
	}
	return b.Delete(store.Key(l.ServiceID))
}

// CancelledRunning starts the error of a job cancelled while it ran.
const CancelledRunning = "Cancelled while running"

// askCancel asks the worker running js to stop and returns where its answer comes (e.mu held).
func (e *Engine) askCancel(js *jobState, by string) (<-chan error, error) {
	if js.cancelReply != nil {
		return nil, fmt.Errorf("job %d is being cancelled already; wait for it to say cancelled", js.job.ID)
	}
	js.cancelBy, js.cancelReply = by, make(chan error, 1)
	if js.stop != nil {
		js.stop() // the executor's context ends: it stops waiting for VMmanager
	}
	return js.cancelReply, nil
}

// cancelRunning ends a running job the engine stops following: its record and log say which VMmanager
// task may still run, the service is flagged for a reconcile look, and its module's department gets
// one task. The lane's next start shares the transaction, so it is never durable before this end
// (e.mu held; the worker, if any, has returned).
func (e *Engine) cancelRunning(js *jobState, now time.Time) {
	j := &js.job
	if js.lane != nil {
		e.leaveLane(js)
	}
	doing := "no VMmanager task was recorded, but VMmanager may have received the request"
	if t := j.VMTask; t != nil {
		doing = fmt.Sprintf("VMmanager task %s (%s) may still be running", t.ConsulID, t.Name)
	}
	j.State, j.FinishedAt = store.JobCancelled, now
	j.Error = fmt.Sprintf("%s by %s; %s: check service %d's VM in VMmanager (it is flagged for a reconcile look).", CancelledRunning, js.cancelBy, doing, j.ServiceID)
	j.Logf(now, "cancelled while running by %s: the engine no longer waits for it; %s", js.cancelBy, doing)
	ch := e.jobChange(js)
	look := Look{ServiceID: j.ServiceID, JobID: j.ID, ModuleID: j.ModuleID, Kind: LookCancelled, Reason: cancelledWhy(j), At: now}
	title := fmt.Sprintf("%s of service %d cancelled while running", j.Type, j.ServiceID)
	task := e.taskApply(j, title, j.Error, now)
	ch.apply = func(tx *store.Tx) error {
		if err := putLook(tx, look); err != nil {
			return err
		}
		return task(tx)
	}
	if j.Type == store.OpSetPassword {
		e.dropJobSecret(j.ID)
	}
	ch.done = js.cancelReply
	js.cancelReply = nil
	e.finishChange(js, ch)
}

// cancelledWhy is a cancel's reconcile look in one clause: the job and the VMmanager task it left.
func cancelledWhy(j *store.Job) string {
	if t := j.VMTask; t != nil {
		return fmt.Sprintf("job %d was cancelled while VMmanager task %s (%s) ran", j.ID, t.ConsulID, t.Name)
	}
	return fmt.Sprintf("job %d was cancelled while it ran (no VMmanager task was recorded, but VMmanager may have received the request)", j.ID)
}

// taskApply opens one task for the job's module's department; an open open job marks its service
// failed (spec §6).
func (e *Engine) taskApply(j *store.Job, title, reason string, now time.Time) func(tx *store.Tx) error {
	jobID, svcID, module, op := j.ID, j.ServiceID, j.ModuleID, j.Type
	return func(tx *store.Tx) error {
		dept := uint64(0)
		if m, err := store.Get[store.Module](tx, module); err == nil {
			dept = m.DepartmentID
		}
		t := &store.Task{DepartmentID: dept, ModuleID: module, ServiceID: svcID, JobID: jobID,
			Title: title, Reason: reason, CreatedAt: now}
		if err := tx.Put(t); err != nil {
			return err
		}
		if op != store.OpOpen {
			return nil
		}
		return serviceUpdate(svcID, now, func(s *store.Service) { s.Status = store.ServiceFailed })(tx)
	}
}

// closeJobTasks closes the open tasks a job's earlier failure opened: a retry takes the failure over,
// so a failure has one task at a time.
func closeJobTasks(tx *store.Tx, jobID uint64, now time.Time) error {
	var open []uint64
	if err := store.Each(tx, func(t *store.Task) bool {
		if t.JobID == jobID && t.ClosedAt.IsZero() {
			open = append(open, t.ID)
		}
		return true
	}); err != nil {
		return err
	}
	for _, id := range open {
		if err := store.CloseTask(tx, id, now); err != nil {
			return err
		}
	}
	return nil
}
