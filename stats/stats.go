// Package stats turns the engine's events into the figures the lanes view, `vmmpm stats` and
// `vmmpm status --watch` show: per module and per minute, operations done, failed and retried by type,
// their durations, VMmanager's answer time and errors; per lane, what runs, how many wait and the last
// outcomes. History covers 24 hours and survives restarts: the minutes are kept in their own bbolt
// bucket, written at most once a minute. No terminal code lives here.
package stats

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// Sizes of what the collector keeps.
const (
	// Window is how far back history goes.
	Window = 24 * time.Hour
	// LaneHistory is how many outcomes a lane keeps (the timeline's cells).
	LaneHistory = 40
	// MaxLanes bounds the idle lanes kept: keys with __IID__ make a lane per service, so the least
	// recently used idle ones go first. Busy lanes are always kept.
	MaxLanes = 256
	// LastErrors is how many error notes a module keeps.
	LastErrors = 5
	// Spark is how many minutes the per-minute series of a Snapshot hold (the last hour).
	Spark = 60
	// RefusalWindow and RefusalBurst flag a module: that many refusals (401, 503, 5xx, unreachable;
	// see Refusal) within the window, or an unhealthy verdict from the engine, flag it at once.
	RefusalWindow = 5 * time.Minute
	RefusalBurst  = 3
)

// Outcomes in a lane's timeline.
const (
	OutDone      = 'd'
	OutFailed    = 'f'
	OutRetrying  = 'r'
	OutCancelled = 'c'
)

// TypeCounts is one operation type's figures within one minute.
type TypeCounts struct {
	Done    int  `json:"done,omitempty"`
	Failed  int  `json:"failed,omitempty"`
	Retried int  `json:"retried,omitempty"`
	Dur     Hist `json:"dur"`
}

// Minute is one module's figures within one minute.
type Minute struct {
	Types   map[string]*TypeCounts `json:"types,omitempty"`
	Answer  Hist                   `json:"answer"`
	Refused int                    `json:"refused,omitempty"`
}

func (m *Minute) typ(t string) *TypeCounts {
	if m.Types == nil {
		m.Types = map[string]*TypeCounts{}
	}
	tc := m.Types[t]
	if tc == nil {
		tc = &TypeCounts{}
		m.Types[t] = tc
	}
	return tc
}

// ErrorNote is one VMmanager error a module met.
type ErrorNote struct {
	At      time.Time `json:"at"`
	Job     uint64    `json:"job"`
	Type    string    `json:"type"`
	Message string    `json:"message"`
}

type module struct {
	minutes map[int64]*Minute // by Unix minute
	errors  []ErrorNote       // newest last
	answer  time.Duration     // the last answer time seen
}

type lane struct {
	key     string
	module  uint64
	running *Running
	waiting int
	recent  []byte // outcomes, oldest first
	last    time.Time
}

// Collector follows engine events. It is safe for concurrent use.
type Collector struct {
	mu      sync.Mutex
	mods    map[uint64]*module
	lanes   map[string]*lane
	states  map[uint64]string // the last state seen of each unfinished job
	dirty   map[minuteKey]bool
	dirtyLn bool
}

type minuteKey struct {
	module uint64
	minute int64
}

// New returns an empty collector.
func New() *Collector {
	return &Collector{mods: map[uint64]*module{}, lanes: map[string]*lane{}, states: map[uint64]string{},
		dirty: map[minuteKey]bool{}}
}

func (c *Collector) mod(id uint64) *module {
	m := c.mods[id]
	if m == nil {
		m = &module{minutes: map[int64]*Minute{}}
		c.mods[id] = m
	}
	return m
}

func (c *Collector) minute(id uint64, at time.Time) *Minute {
	m := c.mod(id)
	k := at.Unix() / 60
	mn := m.minutes[k]
	if mn == nil {
		mn = &Minute{}
		m.minutes[k] = mn
	}
	c.dirty[minuteKey{id, k}] = true
	return mn
}

func (c *Collector) lane(key string, module uint64) *lane {
	l := c.lanes[key]
	if l == nil {
		l = &lane{key: key, module: module}
		c.lanes[key] = l
	}
	return l
}

// Observe takes one engine event.
func (c *Collector) Observe(ev queue.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Kind {
	case queue.JobChanged:
		if ev.Job != nil {
			c.job(ev.Job)
		}
	case queue.LaneChanged:
		l := c.lane(ev.Lane, ev.ModuleID)
		busy := 0
		if ev.LaneBusy {
			busy = 1
		}
		l.waiting = max(ev.LaneDepth-busy, 0)
		if !ev.LaneBusy {
			l.running = nil
		}
		c.dirtyLn = true
	}
}

// job counts a job's state change; commits that do not change the state (a log line, a recorded
// VMmanager task) count nothing.
func (c *Collector) job(j *store.Job) {
	prev, seen := c.states[j.ID]
	if seen && prev == j.State {
		if j.State == store.JobRunning && j.QueueKey != "" {
			c.setRunning(j)
		}
		return
	}
	if store.Finished(j.State) {
		delete(c.states, j.ID)
	} else {
		c.states[j.ID] = j.State
	}
	var l *lane
	if j.QueueKey != "" {
		l = c.lane(j.QueueKey, j.ModuleID)
		c.dirtyLn = true
	}
	switch j.State {
	case store.JobRunning:
		if l != nil {
			c.setRunning(j)
		}
		return
	case store.JobQueued:
		return
	}
	at := j.FinishedAt
	if at.IsZero() {
		at = lastLog(j)
	}
	if j.State == store.JobCancelled { // never ran to an end: only the lane's timeline shows it
		c.outcome(l, j, OutCancelled, at)
		return
	}
	mn := c.minute(j.ModuleID, at)
	tc := mn.typ(j.Type)
	var out byte
	switch j.State {
	case store.JobDone:
		tc.Done++
		if !j.StartedAt.IsZero() {
			tc.Dur.Add(at.Sub(j.StartedAt))
		}
		out = OutDone
	case store.JobFailed:
		tc.Failed++
		out = OutFailed
	case store.JobRetrying:
		tc.Retried++
		out = OutRetrying
	}
	if d, ok := answerTime(j); ok {
		mn.Answer.Add(d)
		c.mod(j.ModuleID).answer = d
	}
	if (j.State == store.JobFailed || j.State == store.JobRetrying) && j.Error != "" {
		m := c.mod(j.ModuleID)
		m.errors = append(m.errors, ErrorNote{At: at, Job: j.ID, Type: j.Type, Message: j.Error})
		if over := len(m.errors) - LastErrors; over > 0 {
			m.errors = slices.Delete(m.errors, 0, over)
		}
		if Refusal(j.Error) {
			mn.Refused++
		}
	}
	c.outcome(l, j, out, at)
}

// outcome adds a job's end to its lane's timeline (l nil: queues off, no lane).
func (c *Collector) outcome(l *lane, j *store.Job, out byte, at time.Time) {
	if l == nil {
		return
	}
	if l.running != nil && l.running.Job == j.ID {
		l.running = nil
	}
	l.recent = append(l.recent, out)
	if over := len(l.recent) - LaneHistory; over > 0 {
		l.recent = slices.Delete(l.recent, 0, over)
	}
	l.last = at
}

func (c *Collector) setRunning(j *store.Job) {
	c.lane(j.QueueKey, j.ModuleID).running = &Running{Job: j.ID, Type: j.Type, Service: j.ServiceID,
		Since: j.StartedAt, Attempt: j.Attempt}
}

func lastLog(j *store.Job) time.Time {
	if n := len(j.Log); n > 0 {
		return j.Log[n-1].At
	}
	return j.EnqueuedAt
}

// answerTime is how long VMmanager took, in the job's last attempt, to accept the task it was asked
// for: from the attempt's start to the log line that recorded the task.
func answerTime(j *store.Job) (time.Duration, bool) {
	if j.StartedAt.IsZero() {
		return 0, false
	}
	for _, l := range j.Log {
		if !l.At.Before(j.StartedAt) && strings.HasPrefix(l.Text, "VMmanager task ") {
			return l.At.Sub(j.StartedAt), true
		}
	}
	return 0, false
}

// Refusal reports whether an error sentence says VMmanager refused or failed the module as a whole:
// bad credentials or a refused session (401), asleep (503), an internal error (5xx), or not reachable,
// rather than one operation going wrong (a missing VM, no free addresses).
func Refusal(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"http 5", "503", "401", "asleep", "refused the email or password", "session was refused",
		"internal error", "connection refused", "unreachable", "timed out", "did not finish in the time allowed"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// SeedLanes sets what runs and waits in each lane from the scheduler's lanes (read once at start, when
// events of their enqueue were not seen).
func (c *Collector) SeedLanes(lanes []queue.LaneState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lanes {
		l.running, l.waiting = nil, 0
	}
	for _, ls := range lanes {
		l := c.lane(ls.Key, ls.ModuleID)
		l.waiting = ls.Depth
		if j := ls.Running; j != nil {
			c.states[j.ID] = j.State
			c.setRunning(j)
			l.waiting = max(ls.Depth-1, 0)
		}
	}
}

// prune drops minutes older than the window.
func (c *Collector) prune(now time.Time) {
	cut := now.Add(-Window).Unix() / 60
	for _, m := range c.mods {
		for k := range m.minutes {
			if k < cut {
				delete(m.minutes, k)
			}
		}
	}
	var idle []*lane
	for k, l := range c.lanes {
		if l.running != nil || l.waiting > 0 {
			continue
		}
		if len(l.recent) == 0 || now.Sub(l.last) > Window {
			delete(c.lanes, k)
			continue
		}
		idle = append(idle, l)
	}
	if over := len(c.lanes) - MaxLanes; over > 0 {
		slices.SortFunc(idle, func(a, b *lane) int { return a.last.Compare(b.last) })
		for _, l := range idle[:min(over, len(idle))] {
			delete(c.lanes, l.key)
		}
	}
}

// laneOrder sorts lanes by module, then key with numbers compared as numbers (vmm6-7-2 before vmm6-7-10).
func laneOrder(a, b *Lane) int {
	if a.Module != b.Module {
		return cmp.Compare(a.Module, b.Module)
	}
	return natural(a.Key, b.Key)
}

func natural(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
