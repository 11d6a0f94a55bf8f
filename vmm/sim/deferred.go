package sim

import "time"

// changeTask starts the task of a resource or disk change. One deferred to the VM's next stop (later)
// under Config.DeferPending stays "deferred" until that stop: VMmanager's task list carries a
// defer_reason (GO2), and ISPsystem's module restarts the VM before it waits for such tasks, so a
// deferred task plausibly waits for the restart (FIDELITY.md lists it as an assumption).
func (s *Sim) changeTask(name string, h *host, now time.Time, later bool) *task {
	t := s.addTask(name, h, now, false, "", nil)
	t.deferred = later
	if later && s.cfg.DeferPending {
		t.held = true
		h.held = append(h.held, t)
	}
	return t
}

// releaseHeld completes the tasks that waited for the VM to stop, at the moment it stopped.
func (s *Sim) releaseHeld(h *host, at time.Time) {
	for _, t := range h.held {
		t.held, t.end = false, at
	}
	h.held = nil
}

// failHeld ends the waiting tasks of a VM deleted before it stopped: their change never applied.
func (s *Sim) failHeld(h *host, at time.Time) {
	for _, t := range h.held {
		t.held, t.end, t.fail = false, at, true
		t.reason = "the VM was deleted before the deferred change applied"
	}
	h.held = nil
}

func (t *task) deferReason() string {
	if t.held {
		return "host_stop"
	}
	return ""
}
