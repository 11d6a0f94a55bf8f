package sim

import (
	"slices"
	"strconv"
	"time"
)

// Request is one API request the emulator answered while Config.Trace was on.
type Request struct {
	At    time.Time
	Route string // "METHOD pattern", as in Stats.Requests
}

// TaskSpan is one task and when it ran: running in [Start, End), then complete or fail. A task that
// waits for something (a deferred change, the VM's next stop) has a zero End until that happens.
type TaskSpan struct {
	ConsulID string
	Name     string
	HostID   int
	Start    time.Time
	End      time.Time
}

// trace notes a request (s.mu held).
func (s *Sim) trace(now time.Time, route string) {
	if s.cfg.Trace {
		s.traced = append(s.traced, Request{At: now, Route: route})
	}
}

// Requests returns the requests answered since the emulator started, oldest first, when Config.Trace
// is on (nil otherwise): what a benchmark needs to count requests per second.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.traced)
}

// Tasks returns every task with its window, in creation order.
func (s *Sim) Tasks() []TaskSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(s.now())
	out := make([]TaskSpan, 0, len(s.tasks))
	for _, t := range s.tasks {
		sp := TaskSpan{ConsulID: strconv.Itoa(t.consulID), Name: t.name, HostID: t.hostID, Start: t.start}
		if !t.waiting() {
			sp.End = t.end
		}
		out = append(out, sp)
	}
	return out
}

// heldStatus is what a task waiting for the VM's next stop reports. No source names it: any status
// other than complete or fail means "not finished" to every public client.
const heldStatus = "deferred"

func (t *task) waiting() bool { return t.held }
