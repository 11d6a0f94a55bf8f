package stats

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// Snapshot is every figure at one moment: what `vmmpm stats --json` prints and the lanes view draws.
type Snapshot struct {
	At      time.Time `json:"at"`
	Modules []Module  `json:"modules"`
	Lanes   []Lane    `json:"lanes"`
	// Engine names, on a database kept on PostgreSQL, the host running the engine, which holds the
	// engine lease and so runs every lane ("" on a bbolt file).
	Engine string `json:"engine,omitempty"`
	// EngineRenewed is when that engine last renewed its lease (zero with no Engine).
	EngineRenewed time.Time `json:"engine_renewed,omitzero"`
}

// Module is one module's figures. Name, health and the last check are filled by whoever knows them
// (the backend); the rest comes from the collector.
type Module struct {
	ID        uint64       `json:"id"`
	Name      string       `json:"name,omitempty"`
	Healthy   bool         `json:"healthy"`
	Health    string       `json:"health,omitempty"`
	LastCheck *store.Check `json:"last_check,omitempty"`
	// Flagged: VMmanager keeps refusing this module (the engine says it is unhealthy, or RefusalBurst
	// refusals came within RefusalWindow); Flag says why.
	Flagged bool   `json:"flagged"`
	Flag    string `json:"flag,omitempty"`
	// PerMinute is operations finished (done or failed) in each of the last Spark minutes, oldest
	// first; ErrorsPerMinute is failures and retries.
	PerMinute       []int `json:"per_minute"`
	ErrorsPerMinute []int `json:"errors_per_minute"`
	Hour            Total `json:"hour"`
	Day             Total `json:"day"`
	// Types is each operation type's figures over the last hour.
	Types []TypeStats `json:"types"`
	// Answer is VMmanager's answer time over the last hour (p50, p95) and the last one seen.
	AnswerP50  time.Duration `json:"answer_p50_ns"`
	AnswerP95  time.Duration `json:"answer_p95_ns"`
	AnswerLast time.Duration `json:"answer_last_ns"`
	Errors     []ErrorNote   `json:"last_errors"`
	// Logins is how many times the engine logged in to VMmanager for the module in the current session
	// period (queue.SessionLogins says exactly what that is); nil, and absent from JSON, when unknown:
	// no engine runs in the process that made the snapshot, so none could be asked.
	Logins *Logins `json:"logins,omitempty"`
	// Capacity is what the module's VMmanager had free at the engine's last reading (nil, and absent
	// from JSON, when unknown); CapacityWarn is the module's threshold in percent free and Low lists
	// what is below it (SetCapacity fills the three).
	Capacity     *queue.Capacity `json:"capacity,omitempty"`
	CapacityWarn int             `json:"capacity_warn"`
	Low          []string        `json:"capacity_low,omitempty"`
	// Paused is the module's pause (module pause), if any; the backend fills it.
	Paused *queue.ModulePause `json:"paused,omitempty"`
}

// Logins is the engine's logins to a module's VMmanager in the current session period.
type Logins struct {
	Count int `json:"count"`
	// Since and Until bound the current period; absent when none runs (Count is then 0).
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// SessionTTL is the module's session storage period (0: no session kept, a login per operation,
	// counted over an hour begun by the first login).
	SessionTTL time.Duration `json:"session_ttl_ns"`
}

// Total sums a period.
type Total struct {
	Done    int `json:"done"`
	Failed  int `json:"failed"`
	Retried int `json:"retried"`
	Refused int `json:"refused"`
}

// ErrorRate is the share of attempts that failed or will be retried (0 when none ran).
func (t Total) ErrorRate() float64 {
	n := t.Done + t.Failed + t.Retried
	if n == 0 {
		return 0
	}
	return float64(t.Failed+t.Retried) / float64(n)
}

func (t *Total) add(tc *TypeCounts) {
	t.Done += tc.Done
	t.Failed += tc.Failed
	t.Retried += tc.Retried
}

// TypeStats is one operation type over the last hour.
type TypeStats struct {
	Type string `json:"type"`
	Total
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	// Dur is the durations' histogram, for the exporters.
	Dur Hist `json:"-"`
}

// Lane is one queue key now.
type Lane struct {
	Key     string   `json:"key"`
	Module  uint64   `json:"module"`
	Running *Running `json:"running,omitempty"`
	Waiting int      `json:"waiting"`
	// Recent holds the last outcomes, oldest first: d done, f failed, r retrying, c cancelled.
	Recent string `json:"recent"`
	// Retry is the lane's job waiting out its retry's backoff first, if any (the backend fills it).
	Retry *queue.Backoff `json:"retry,omitempty"`
}

// Running is the operation a lane runs.
type Running struct {
	Job     uint64    `json:"job"`
	Type    string    `json:"type"`
	Service uint64    `json:"service"`
	Since   time.Time `json:"since"`
	Attempt int       `json:"attempt"`
}

// Snapshot computes the figures at now for modules ids (every module seen when ids is nil).
func (c *Collector) Snapshot(now time.Time, ids []uint64) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if ids == nil {
		ids = slices.Sorted(maps.Keys(c.mods))
	}
	s := &Snapshot{At: now, Modules: make([]Module, 0, len(ids)), Lanes: make([]Lane, 0, len(c.lanes))}
	for _, id := range ids {
		s.Modules = append(s.Modules, c.module(id, now))
	}
	for _, l := range c.lanes {
		out := Lane{Key: l.key, Module: l.module, Waiting: l.waiting, Recent: string(l.recent)}
		if l.running != nil {
			r := *l.running
			out.Running = &r
		}
		s.Lanes = append(s.Lanes, out)
	}
	slices.SortFunc(s.Lanes, func(a, b Lane) int { return laneOrder(&a, &b) })
	return s
}

func (c *Collector) module(id uint64, now time.Time) Module {
	out := Module{ID: id, Healthy: true, PerMinute: make([]int, Spark), ErrorsPerMinute: make([]int, Spark)}
	m := c.mods[id]
	if m == nil {
		return out
	}
	cur := now.Unix() / 60
	types := map[string]*TypeStats{}
	var answer Hist
	refusedRecent := 0
	for k, mn := range m.minutes {
		age := cur - k
		if age < 0 || age >= int64(Window/time.Minute) {
			continue
		}
		var t Total
		for _, tc := range mn.Types {
			t.add(tc)
		}
		t.Refused = mn.Refused
		out.Day.add(&TypeCounts{Done: t.Done, Failed: t.Failed, Retried: t.Retried})
		out.Day.Refused += t.Refused
		if age < int64(RefusalWindow/time.Minute) {
			refusedRecent += mn.Refused
		}
		if age >= Spark {
			continue
		}
		out.PerMinute[Spark-1-age] = t.Done + t.Failed
		out.ErrorsPerMinute[Spark-1-age] = t.Failed + t.Retried
		out.Hour.add(&TypeCounts{Done: t.Done, Failed: t.Failed, Retried: t.Retried})
		out.Hour.Refused += t.Refused
		answer.Merge(&mn.Answer)
		for name, tc := range mn.Types {
			ts := types[name]
			if ts == nil {
				ts = &TypeStats{Type: name}
				types[name] = ts
			}
			ts.add(tc)
			ts.Dur.Merge(&tc.Dur)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(types)) {
		ts := types[name]
		ts.P50, ts.P95 = ts.Dur.Quantile(0.5), ts.Dur.Quantile(0.95)
		out.Types = append(out.Types, *ts)
	}
	out.AnswerP50, out.AnswerP95, out.AnswerLast = answer.Quantile(0.5), answer.Quantile(0.95), m.answer
	out.Errors = slices.Clone(m.errors)
	if refusedRecent >= RefusalBurst {
		out.Flagged = true
		out.Flag = "VMmanager refused or failed it " + strconv.Itoa(refusedRecent) + " times in the last 5 minutes"
	}
	return out
}

// Verdict is the one definition of a module's health, which vmmpm status and vmmpm stats both show:
// healthy unless flagged (the engine finds it unhealthy, or VMmanager refused it RefusalBurst times
// in RefusalWindow), and why.
func (m *Module) Verdict() (healthy bool, why string) { return !m.Flagged, m.Flag }

// SetHealth applies the engine's verdict on a module: an unhealthy module is flagged at once.
func (m *Module) SetHealth(healthy bool, msg string) {
	m.Healthy, m.Health = healthy, msg
	if !healthy {
		m.Flagged = true
		if m.Flag == "" {
			m.Flag = msg
		}
	}
}

// FitLanes makes module's lanes follow its parameters: every key of keys is shown (idle ones too),
// and idle lanes outside keys (the key or the number of queues changed) are dropped. Busy ones stay
// until they drain.
func (s *Snapshot) FitLanes(module uint64, keys []string) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := s.Lanes[:0]
	for _, l := range s.Lanes {
		if l.Module == module {
			delete(want, l.Key)
			if l.Running == nil && l.Waiting == 0 && !slices.Contains(keys, l.Key) {
				continue
			}
		}
		out = append(out, l)
	}
	for _, k := range keys {
		if want[k] {
			out = append(out, Lane{Key: k, Module: module})
		}
	}
	s.Lanes = out
	slices.SortFunc(s.Lanes, func(a, b Lane) int { return laneOrder(&a, &b) })
}
