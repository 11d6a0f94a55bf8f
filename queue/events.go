package queue

import (
	"sync"
	"sync/atomic"

	"vmmpm/store"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// JobChanged: Job holds a copy of the job as just committed.
	JobChanged EventKind = iota + 1
	// LaneChanged: Lane, LaneBusy and LaneDepth describe one queue key of ModuleID.
	LaneChanged
	// ModuleHealth: Healthy and Health describe ModuleID after an operation succeeded or failed.
	ModuleHealth
	// EngineStatus: Status holds the engine's new state (paused on the disk, waiting for the keyring,
	// or running again).
	EngineStatus
	// ReconcileFound: a scheduled reconcile scan of ModuleID found new drift; Findings counts the new
	// findings by class (reconcile.go).
	ReconcileFound
)

func (k EventKind) String() string {
	switch k {
	case JobChanged:
		return "job"
	case LaneChanged:
		return "lane"
	case ModuleHealth:
		return "module"
	case EngineStatus:
		return "engine"
	case ReconcileFound:
		return "reconcile"
	}
	return "unknown"
}

// Event is one change the engine publishes. Seq numbers every event published by this engine
// (1, 2, 3, …), so a subscriber that sees a gap knows it dropped events and should re-read
// Counts and Page rather than trust its own tally.
type Event struct {
	Seq       uint64     `json:"seq"`
	Kind      EventKind  `json:"kind,omitempty"`
	Job       *store.Job `json:"job,omitempty"` // JobChanged: a copy the subscriber may keep
	ModuleID  uint64     `json:"module_id,omitempty"`
	Lane      string     `json:"lane,omitempty"`       // LaneChanged: the queue key
	LaneBusy  bool       `json:"lane_busy,omitempty"`  // LaneChanged: an operation is running in it
	LaneDepth int        `json:"lane_depth,omitempty"` // LaneChanged: unfinished operations in it, the running one included
	Healthy   bool       `json:"healthy,omitempty"`    // ModuleHealth
	Health    string     `json:"health,omitempty"`     // ModuleHealth: the last error sentence, or "" when healthy
	Status    *Status    `json:"status,omitempty"`     // EngineStatus
	// Findings is ReconcileFound's new findings by class.
	Findings map[string]int `json:"findings,omitempty"`
}

// broker fans events out. A subscriber whose buffer is full loses the event (and sees a Seq gap):
// the engine never waits for a slow reader.
type broker struct {
	seq  atomic.Uint64
	mu   sync.Mutex
	subs map[int]chan Event
	next int
}

func newBroker() *broker { return &broker{subs: map[int]chan Event{}} }

func (b *broker) subscribe(buf int) (<-chan Event, func()) {
	ch := make(chan Event, max(buf, 1))
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = ch
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
			close(ch)
		})
	}
}

func (b *broker) publish(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range evs {
		ev.Seq = b.seq.Add(1)
		for _, ch := range b.subs {
			select {
			case ch <- ev:
			default:
			}
		}
	}
}
