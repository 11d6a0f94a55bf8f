package sim

import (
	"container/heap"
	"math"
	"slices"
	"strconv"
	"time"
)

// consulOffset keeps consul ids apart from task-manager ids, so a client that mixes them up finds nothing.
const consulOffset = 1000

// task is a VMmanager task whose progress follows from the clock: running in [start, end), then
// complete or fail. No goroutine runs it; effects apply when a request first sees it ended.
type task struct {
	id, consulID int
	name         string
	hostID       int
	start, end   time.Time
	fail         bool
	reason       string
	effect       func(ok bool) // applied once, in end order, when the task is over
	held         bool          // waits for the VM's next stop (Config.DeferPending): end is not yet known
	deferred     bool          // a change deferred to the VM's next stop: it does not hold the VM
}

func (t *task) status(now time.Time) string {
	switch {
	case t.held:
		return heldStatus
	case now.Before(t.end):
		return "running"
	case t.fail:
		return "fail"
	}
	return "complete"
}

// addTask starts a task at start (now, or the end of the task it follows) lasting TaskTime.
func (s *Sim) addTask(name string, h *host, start time.Time, fail bool, reason string, effect func(ok bool)) *task {
	t := &task{
		id: len(s.tasks) + 1, name: name, hostID: h.id,
		start: start, end: start.Add(s.cfg.TaskTime), fail: fail, reason: reason, effect: effect,
	}
	t.consulID = t.id + consulOffset
	s.tasks = append(s.tasks, t)
	if effect != nil {
		heap.Push(&s.pending, t)
	}
	return t
}

// settle applies the effects of every task that has ended by now.
func (s *Sim) settle(now time.Time) {
	for s.pending.Len() > 0 && !now.Before(s.pending[0].end) {
		t := heap.Pop(&s.pending).(*task)
		t.effect(!t.fail)
	}
}

func (s *Sim) taskItem(t *task, now time.Time) map[string]any {
	it := map[string]any{"id": t.id, "consul_id": t.consulID, "name": t.name, "status": t.status(now), "defer_reason": t.deferReason()}
	if t.fail && !now.Before(t.end) {
		it["output"] = t.reason
	}
	return it
}

func (c *call) listTasks() (any, error) {
	w, err := c.whereFilter()
	if err != nil {
		return nil, err
	}
	cands := c.s.tasks
	if one, ok := indexHint(w, "consul_id"); ok {
		cands = c.s.taskAt(one - consulOffset)
	} else if one, ok := indexHint(w, "id"); ok {
		cands = c.s.taskAt(one)
	} else if many, ok := anyOfHint(w, "consul_id"); ok {
		for i := range many {
			many[i] -= consulOffset
		}
		cands = c.s.tasksAt(many)
	}
	items := make([]map[string]any, 0, len(cands))
	for _, t := range cands {
		items = append(items, c.s.taskItem(t, c.now))
	}
	return envelope(items, w), nil
}

func (s *Sim) taskAt(id int) []*task {
	if id < 1 || id > len(s.tasks) {
		return nil
	}
	return s.tasks[id-1 : id]
}

// indexHint turns "field EQ n" inside an AND chain into an integer to look up directly.
func indexHint(w whereExpr, field string) (int, bool) {
	if w == nil {
		return 0, false
	}
	v, ok := eqHint(w, field)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != math.Trunc(f) || f < -1e9 || f > 1e9 {
		return 0, false
	}
	return int(f), true
}

func (c *call) getTask() (any, error) {
	ts := c.s.taskAt(c.ids[0])
	if ts == nil {
		return nil, notFound("task", c.ids[0])
	}
	return c.s.taskItem(ts[0], c.now), nil
}

// concurrency returns the most tasks ever running at one moment and how many run now. Windows are
// half-open, so a task that starts exactly when another ends does not overlap it.
func (s *Sim) concurrency(now time.Time) (maxRunning, running int) {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(s.tasks))
	for _, t := range s.tasks {
		if !t.start.Before(t.end) || t.deferred {
			continue // a deferred change waits for the VM; it does not run beside its other tasks
		}
		edges = append(edges, edge{t.start, +1}, edge{t.end, -1})
		if !now.Before(t.start) && now.Before(t.end) {
			running++
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // ends before starts at the same instant
	})
	cur := 0
	for _, e := range edges {
		cur += e.delta
		maxRunning = max(maxRunning, cur)
	}
	return maxRunning, running
}

// taskHeap orders pending effects by end time, then id.
type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if c := h[i].end.Compare(h[j].end); c != 0 {
		return c < 0
	}
	return h[i].id < h[j].id
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(*task)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
