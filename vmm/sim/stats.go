package sim

import (
	"maps"
	"net/http"
)

// Stats is what the emulator has seen; GET /sim/stats serves the same data as JSON.
type Stats struct {
	LoginsOK           int            `json:"logins_ok"`
	LoginsFailed       int            `json:"logins_failed"`
	Requests           map[string]int `json:"requests"`      // "METHOD route" → count, ids written {id}
	HostsCreated       map[string]int `json:"hosts_created"` // VM name → times created, so duplicates show
	LiveHosts          int            `json:"live_hosts"`    // VMs not deleted
	Tasks              map[string]int `json:"tasks"`         // status now → count
	MaxConcurrentTasks int            `json:"max_concurrent_tasks"`
	RunningTasks       int            `json:"running_tasks"`
}

// Stats returns a snapshot; the maps are copies.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.settle(now)
	st := Stats{
		LoginsOK:     s.loginsOK,
		LoginsFailed: s.loginsFailed,
		Requests:     maps.Clone(s.requests),
		HostsCreated: maps.Clone(s.hostsCreated),
		Tasks:        map[string]int{},
	}
	for _, t := range s.tasks {
		st.Tasks[t.status(now)]++
	}
	for _, h := range s.hosts {
		if !h.deleted {
			st.LiveHosts++
		}
	}
	st.MaxConcurrentTasks, st.RunningTasks = s.concurrency(now)
	return st
}

// serveStats answers /sim/stats without a token, latency or sleep: it is the test harness's window.
func (s *Sim) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		e := errf(http.StatusMethodNotAllowed, codeBadMethod, "method %s is not allowed on /sim/stats", r.Method)
		s.writeJSON(w, e.status, e.body())
		return
	}
	s.writeJSON(w, http.StatusOK, s.Stats())
}
