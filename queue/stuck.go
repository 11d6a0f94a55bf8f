package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"vmmpm/store"
)

// bucketLooks holds the services whose VM a reconcile should look at, keyed by service id: the engine
// stopped following what VMmanager does for them (a running job was cancelled).
var bucketLooks = []byte("queue_reconcile_looks")

// Look asks for a reconcile look at a service: why, and which job left VMmanager unwatched.
type Look struct {
	ServiceID uint64    `json:"service_id"`
	JobID     uint64    `json:"job_id"`
	ModuleID  uint64    `json:"module_id"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

func putLook(tx *store.Tx, l Look) error {
	b, err := tx.Bolt().CreateBucketIfNotExists(bucketLooks)
	if err != nil {
		return err
	}
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return b.Put(store.Key(l.ServiceID), v)
}

// Looks lists the services flagged for a reconcile look, by service id.
func Looks(db *store.DB) ([]Look, error) {
	var out []Look
	err := db.View(func(tx *store.Tx) error {
		b := tx.Bolt().Bucket(bucketLooks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var l Look
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("the reconcile look asked for service %d is unreadable (%v)", store.KeyID(k), err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
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
	look := Look{ServiceID: j.ServiceID, JobID: j.ID, ModuleID: j.ModuleID, Reason: j.Error, At: now}
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
