package jobs

import (
	"strconv"
	"strings"
	"time"

	"vmmpm/store"
	"vmmpm/ui/common"
)

// The filter searches the newest SearchLimit jobs of the tab, a page at a time, so its cost is bounded
// however long the history is; it re-runs at most every searchRefresh while jobs change.
const (
	SearchLimit   = 10000
	searchChunk   = 500
	searchRefresh = 2 * time.Second
)

// search returns the window of jobs matching w.filter among the newest SearchLimit of w.state.
func search(eng common.Engine, w window, names map[uint64]string) page {
	p := page{window: w}
	q := strings.ToLower(w.filter)
	for off := 0; off < SearchLimit; off += searchChunk {
		jobs, total, err := eng.Page(w.state, off, min(searchChunk, SearchLimit-off))
		if err != nil {
			p.err = err
			return p
		}
		for i := range jobs {
			if !matches(&jobs[i], q, names) {
				continue
			}
			if p.total >= w.offset && len(p.jobs) < w.limit {
				p.jobs = append(p.jobs, jobs[i])
			}
			p.total++
		}
		p.scanned += len(jobs)
		if off+len(jobs) >= total || len(jobs) == 0 {
			break
		}
	}
	return p
}

func matches(j *store.Job, q string, names map[uint64]string) bool {
	hay := strings.ToLower(strings.Join([]string{strconv.FormatUint(j.ID, 10),
		"svc " + strconv.FormatUint(j.ServiceID, 10), j.Type, names[j.ModuleID], j.QueueKey, j.State,
		lastLine(j)}, " "))
	return strings.Contains(hay, q)
}

// lastLine is the newest log line, or the error of a failed job.
func lastLine(j *store.Job) string {
	if j.State == store.JobFailed && j.Error != "" {
		return j.Error
	}
	if n := len(j.Log); n > 0 {
		return j.Log[n-1].Text
	}
	return j.Error
}
