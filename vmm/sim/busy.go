package sim

import (
	"net/http"
	"time"
)

// codeBusy is the emulator's answer to a change of a VM that is busy with another task (409). No
// source shows what VMmanager answers then; FIDELITY.md lists it as an assumption.
const codeBusy = 2008

// changesVM lists the routes that start a task on an existing VM: under Config.OneTaskPerVM each is
// refused while another task of that VM runs.
var changesVM = map[string]bool{
	"DELETE /vm/v3/host/{id}":         true,
	"POST /vm/v3/host/{id}/start":     true,
	"POST /vm/v3/host/{id}/stop":      true,
	"POST /vm/v3/host/{id}/restart":   true,
	"POST /vm/v3/host/{id}/reinstall": true,
	"POST /vm/v3/host/{id}/password":  true,
	"POST /vm/v3/host/{id}/resource":  true,
	"POST /vm/v3/host/{id}/ip":        true,
	"POST /vm/v3/disk/{id}":           true,
}

// busy refuses a change of a VM while one of its tasks runs (Config.OneTaskPerVM). A change deferred
// to the VM's next stop does not hold the VM: ISPsystem's module posts a resource and a disk change
// with defer one after the other, then restarts.
func (s *Sim) busy(key string, ids []int, now time.Time) error {
	if !s.cfg.OneTaskPerVM || !changesVM[key] || len(ids) == 0 {
		return nil
	}
	id := ids[0]
	if key == "POST /vm/v3/disk/{id}" {
		id -= diskOffset
	}
	if t := s.runningTask(id, now); t != nil {
		return errf(http.StatusConflict, codeBusy, "VM %d is busy with task %s (%d); repeat the request when it has finished", id, t.name, t.consulID)
	}
	return nil
}

// runningTask is a task of VM id that runs at now, not counting deferred changes.
func (s *Sim) runningTask(id int, now time.Time) *task {
	for i := len(s.tasks) - 1; i >= 0; i-- {
		t := s.tasks[i]
		if t.hostID == id && !t.deferred && !now.Before(t.start) && now.Before(t.end) {
			return t
		}
	}
	return nil
}
