package backend

import (
	"context"
	"strconv"
	"strings"

	"vmmpm/queue"
	"vmmpm/store"
)

// The jobs pane's bounds: a view carries at most MaxViewRows jobs, and a filter searches the newest
// SearchLimit jobs of the tab (a chunk at a time), so one answer costs the same however long the
// history is.
const (
	MaxViewRows = 500
	SearchLimit = 10000
	searchChunk = 500
)

// JobsQuery asks for one screenful of the jobs pane.
type JobsQuery struct {
	// State is the tab ("" every state).
	State  string `json:"state,omitempty"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	// Filter keeps the jobs whose id, service, type, module name, queue key, state or last line
	// contain it, in any case, among the newest SearchLimit of State.
	Filter string `json:"filter,omitempty"`
	// Pin is the selected job: when it is not on the page, the view says where it went or why it left.
	Pin uint64 `json:"pin,omitempty"`
}

// JobsView is one screenful of the jobs pane, everything it draws in one answer.
type JobsView struct {
	// Jobs are the window's jobs, newest first, each with its newest log line only (JobDetail reads
	// the whole log).
	Jobs []store.Job `json:"jobs"`
	// Lanes are, per job, its queue key and how many jobs are ahead of it (Ahead -1: finished or
	// not known yet).
	Lanes []LanePos `json:"lanes"`
	// Total is how many jobs the tab (or the filter's matches) holds.
	Total int `json:"total"`
	// Scanned is, with a filter, how many of the newest jobs were searched.
	Scanned int                           `json:"scanned,omitempty"`
	Counts  map[uint64]queue.ModuleCounts `json:"counts"`
	// Modules names every module by id, for the header and the rows.
	Modules map[uint64]string `json:"modules"`
	// PinRow is the pinned job's row when it was not in the window but near it (-1: not looked for or
	// not found); PinState is its state when it left the tab altogether ("gone" when deleted).
	PinRow   int    `json:"pin_row"`
	PinState string `json:"pin_state,omitempty"`
}

// JobDetail is one job, whole, with its place in its lane.
type JobDetail struct {
	Job  store.Job `json:"job"`
	Lane LanePos   `json:"lane"`
	// Refusal is, for a job VMmanager refused for good, the refusal to quote before a retry ("" else).
	Refusal string `json:"refusal,omitempty"`
}

func (l *Local) JobsView(_ context.Context, q JobsQuery) (*JobsView, error) {
	e, err := l.Engine()
	if err != nil {
		return nil, err
	}
	q.Limit = min(max(q.Limit, 0), MaxViewRows)
	q.Offset = max(q.Offset, 0)
	mods, err := store.All[store.Module](l.DB)
	if err != nil {
		return nil, err
	}
	v := &JobsView{Modules: make(map[uint64]string, len(mods)), PinRow: -1}
	for _, m := range mods {
		v.Modules[m.ID] = m.Name
	}
	if v.Jobs, v.Total, v.Scanned, err = window(e, q, v.Modules); err != nil {
		return nil, err
	}
	if q.Pin != 0 && !holds(v.Jobs, q.Pin) {
		v.PinRow, v.PinState = findPin(e, l.DB, q, v.Modules)
	}
	v.Lanes = make([]LanePos, len(v.Jobs))
	for i := range v.Jobs {
		j := &v.Jobs[i]
		v.Lanes[i] = LanePos{Ahead: -1}
		if !store.Finished(j.State) {
			v.Lanes[i].Lane, v.Lanes[i].Ahead = e.LanePosition(j.ID)
		}
		if n := len(j.Log); n > 1 {
			j.Log = j.Log[n-1:]
		}
	}
	v.Counts = e.Counts()
	return v, nil
}

func (l *Local) JobDetail(_ context.Context, id uint64) (*JobDetail, error) {
	e, err := l.Engine()
	if err != nil {
		return nil, err
	}
	j, err := store.Load[store.Job](l.DB, id)
	if err != nil {
		return nil, err
	}
	d := &JobDetail{Job: *j, Lane: LanePos{Ahead: -1}}
	if j.State == store.JobFailed && j.Refused {
		d.Refusal = j.Error
	}
	if !store.Finished(j.State) {
		d.Lane.Lane, d.Lane.Ahead = e.LanePosition(id)
	}
	return d, nil
}

// window reads the jobs of q's window: a page of the tab, or the filter's matches.
func window(e *queue.Engine, q JobsQuery, names map[uint64]string) (jobs []store.Job, total, scanned int, err error) {
	if q.Filter == "" {
		jobs, total, err = e.Page(q.State, q.Offset, q.Limit)
		return jobs, total, 0, err
	}
	needle := strings.ToLower(q.Filter)
	for off := 0; off < SearchLimit; off += searchChunk {
		chunk, all, err := e.Page(q.State, off, min(searchChunk, SearchLimit-off))
		if err != nil {
			return nil, 0, 0, err
		}
		for i := range chunk {
			if !matches(&chunk[i], needle, names) {
				continue
			}
			if total >= q.Offset && len(jobs) < q.Limit {
				jobs = append(jobs, chunk[i])
			}
			total++
		}
		scanned += len(chunk)
		if off+len(chunk) >= all || len(chunk) == 0 {
			break
		}
	}
	return jobs, total, scanned, nil
}

// findPin looks for job q.Pin in a window three times as tall around q's (rows come and go between two
// reads); when it is not there either, it says the job's state, to say why it left the tab.
func findPin(e *queue.Engine, db *store.DB, q JobsQuery, names map[uint64]string) (row int, state string) {
	near := q
	near.Offset, near.Limit = max(q.Offset-q.Limit, 0), 3*q.Limit
	if jobs, _, _, err := window(e, near, names); err == nil {
		for i := range jobs {
			if jobs[i].ID == q.Pin {
				return near.Offset + i, ""
			}
		}
	}
	if j, err := store.Load[store.Job](db, q.Pin); err == nil {
		return -1, j.State
	}
	return -1, "gone"
}

func holds(jobs []store.Job, id uint64) bool {
	for i := range jobs {
		if jobs[i].ID == id {
			return true
		}
	}
	return false
}

func matches(j *store.Job, needle string, names map[uint64]string) bool {
	hay := strings.ToLower(strings.Join([]string{strconv.FormatUint(j.ID, 10),
		"svc " + strconv.FormatUint(j.ServiceID, 10), j.Type, names[j.ModuleID], j.QueueKey, j.State,
		LastLine(j)}, " "))
	return strings.Contains(hay, needle)
}

// LastLine is what a job's row says last: the error of a failed job, else its newest log line.
func LastLine(j *store.Job) string {
	if j.State == store.JobFailed && j.Error != "" {
		return j.Error
	}
	if n := len(j.Log); n > 0 {
		return j.Log[n-1].Text
	}
	return j.Error
}
