package queue

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"vmmpm/store"
)

// Subscribe returns a channel of engine events and a function that ends the subscription (and closes
// the channel). Events are dropped, never waited for, when the buffer of buf events is full: a reader
// that notices a gap in Event.Seq should re-read Counts and Page.
func (e *Engine) Subscribe(buf int) (<-chan Event, func()) { return e.ev.subscribe(buf) }

// Counts returns job counts by state per module id, as committed, with each module's lanes (every
// module with queues on appears, even without jobs). Jobs not bound to a module (an open no module
// could take) are counted under id 0. Right after New, while the scheduler still loads, LanesBusy
// may read 0; LaneChanged events follow once it has loaded.
func (e *Engine) Counts() map[uint64]ModuleCounts {
	out := map[uint64]ModuleCounts{}
	params := map[uint64]store.Params{}
	_ = e.db.View(func(tx *store.Tx) error {
		for id, c := range readCounts(tx.KV()) {
			out[id] = *c
		}
		return store.Each(tx, func(m *store.Module) bool { params[m.ID] = m.Params; return true })
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, p := range params {
		if !p.Queue {
			continue
		}
		c := out[id]
		names := 0
		if ml := e.modLanes[id]; ml != nil {
			c.LanesBusy = ml.busy
			names = len(ml.keyNames)
		}
		if tmpl, err := ParseKeyTemplate(p.QueueKey, true); err == nil && !tmpl.UsesIID() && !tmpl.UsesType() {
			names = max(names, 1)
		}
		c.LanesTotal = max(p.QueueCount, 1) * names
		out[id] = c
	}
	return out
}

// StoredCounts are the job counts by state per module as committed in db, read without an engine
// (lanes are not known): for a file opened read-only.
func StoredCounts(db *store.DB) (map[uint64]ModuleCounts, error) {
	out := map[uint64]ModuleCounts{}
	err := db.View(func(tx *store.Tx) error {
		for id, c := range readCounts(tx.KV()) {
			out[id] = *c
		}
		return nil
	})
	return out, err
}

// Page returns jobs in one state ("" = every state), newest first, skipping offset, at most limit,
// and how many there are in all. A record that does not decode is a JobUnreadable placeholder in its
// place, so a damaged record shows in the jobs pane instead of vanishing from it. The ids come from an in-memory index, so the cost is O(limit) reads
// whatever the history size.
func (e *Engine) Page(state string, offset, limit int) ([]store.Job, int, error) {
	if state != "" && stateCode(state) == 0 {
		return nil, 0, &store.ValidationError{Field: "state", Rule: "must be one of queued, running, retrying, done, failed, cancelled"}
	}
	var ids []uint64
	total := -1
	e.rm.mu.Lock()
	if e.rm.ready {
		l := &e.rm.all
		if state != "" {
			l = e.rm.by[state]
		}
		ids, total = l.newest(offset, limit), len(l.ids)
	}
	e.rm.mu.Unlock()
	jobs := make([]store.Job, 0, len(ids))
	err := e.db.View(func(tx *store.Tx) error {
		if total < 0 { // the lists are still loading: read the index and the stored counts
			ids, total = newestInIndex(tx.KV(), state, offset, limit), 0
			for _, c := range readCounts(tx.KV()) {
				total += c.of(state)
			}
		}
		for _, id := range ids {
			j, err := store.Get[store.Job](tx, id)
			var d *store.Damage
			switch {
			case err == nil:
				jobs = append(jobs, *j)
			case errors.As(err, &d):
				jobs = append(jobs, unreadableJob(tx, id, d))
			} // else pruned meanwhile: skip
		}
		return nil
	})
	return jobs, total, err
}

// JobUnreadable is the state of Page's placeholder for a job whose record does not decode: the row
// keeps its place, its Error is the damage's sentence, and no action takes it.
const JobUnreadable = "unreadable"

func unreadableJob(tx *store.Tx, id uint64, d *store.Damage) store.Job {
	j := store.Job{ID: id, State: JobUnreadable, Error: d.Error()}
	if idx := tx.KV().Bucket(bucketIndex); idx != nil {
		if v := idx.Get(store.Key(id)); len(v) == 9 {
			j.ModuleID = binary.BigEndian.Uint64(v[1:])
		}
	}
	return j
}

// Job returns one job as last committed.
func (e *Engine) Job(id uint64) (*store.Job, error) { return store.Load[store.Job](e.db, id) }

// LanePosition returns the queue key of an unfinished job and how many jobs are ahead of it there
// (0: it runs next, or is running). With queues off the lane is "" and the position counts the
// service's earlier operations. A finished or unknown job gives ("", -1), and so does every job in the
// moment after New while the scheduler loads.
func (e *Engine) LanePosition(jobID uint64) (lane string, pos int) {
	select {
	case <-e.loaded:
	default:
		return "", -1 // still loading: not known yet (LaneChanged events follow the load)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	js := e.jobs[jobID]
	if js == nil {
		return "", -1
	}
	if js.lane != nil {
		return js.lane.key, slices.Index(js.lane.fifo, js)
	}
	return "", slices.Index(e.svcs[js.job.ServiceID], js)
}

// Idle reports whether nothing is queued, running or waiting to retry (RunUntilIdle also stops when
// all that is left waits for a paused module: settled).
func (e *Engine) Idle() bool {
	if e.ready() != nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.jobs) == 0
}

// Health reports what the engine last saw of module id: healthy until an operation failed for a
// reason that concerns the module (unreachable, refused login, 503), with that failure's sentence.
func (e *Engine) Health(module uint64) (healthy bool, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h := e.health[module]; h != nil && h.bad {
		return false, h.msg
	}
	return true, ""
}

// LaneState is one lane as the scheduler holds it: its queue key, module, how many unfinished jobs it
// holds (the running one included) and, when one runs, that job as last committed.
type LaneState struct {
	Key      string
	ModuleID uint64
	Depth    int
	Running  *store.Job
}

// Lanes waits until the scheduler has loaded and returns every lane that holds jobs. Only running jobs
// are read whole (one per busy lane), so it costs the number of lanes, not of waiting jobs.
func (e *Engine) Lanes() ([]LaneState, error) {
	if err := e.ready(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	out := make([]LaneState, 0, len(e.lanes))
	var running []uint64
	for _, l := range e.lanes {
		out = append(out, LaneState{Key: l.key, ModuleID: l.module, Depth: len(l.fifo)})
		if l.busy() {
			running = append(running, l.running.job.ID)
		} else {
			running = append(running, 0)
		}
	}
	e.mu.Unlock()
	err := e.db.View(func(tx *store.Tx) error {
		for i, id := range running {
			if id == 0 {
				continue
			}
			if j, err := store.Get[store.Job](tx, id); err == nil && j.State == store.JobRunning {
				out[i].Running = j
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b LaneState) int { return strings.Compare(a.Key, b.Key) })
	return out, err
}
