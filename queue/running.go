package queue

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// The seed's two rules, one operation running per queue key and one per service (spec §4, §6), are
// kept in the database too, beside the scheduler that keeps them in memory: the transaction that
// marks a job running refuses when the database records another job still running in its lane or
// on its service, whichever process or host wrote it. On PostgreSQL every write transaction holds
// the writer lock, so two engines' starts are checked one after the other, never side by side.
//
// The records: "k/"+queue key → the running job's id, and "m/"+module id → the [job][service]
// pairs running in that module (a service belongs to one module; one value per module rather than
// one per service, so a start reads keys the handle's cache already holds, not a row per service).
// A record naming a job no longer running (written by a vmmpm that kept none) counts as free.
var bucketRunning = []byte("queue_running")

// StaleError refuses a job write made from a state the database no longer holds the job in.
type StaleError struct {
	Job          uint64
	Held, Stored string // Stored "": the database holds no such job
}

func (e *StaleError) Error() string {
	stored := "is " + e.Stored
	if e.Stored == "" {
		stored = "is gone"
	}
	return fmt.Sprintf("job %d %s in the database, not %s as this engine held it: another vmmpm changed it beside this one's engine; "+
		"stop the other (vmmpm status lists the engines), and this one reads the jobs afresh when started again", e.Job, stored, e.Held)
}

// checkFrom refuses (*StaleError) a write of j made from state from when the database holds j in
// another state, unless it holds this very write already (a commit whose answer was lost, written
// again: same state, attempt and start).
func checkFrom(tx *store.Tx, j *store.Job, from string) error {
	stored := storedState(tx.KV(), j.ID)
	if stored == from {
		return nil
	}
	if stored == j.State {
		if prev, err := store.Get[store.Job](tx, j.ID); err == nil && prev.Attempt == j.Attempt && prev.StartedAt.Equal(j.StartedAt) {
			return nil
		}
	}
	return &StaleError{Job: j.ID, Held: from, Stored: stored}
}

// storedState is job id's state as its scheduling or index entry holds it ("" when none does).
func storedState(bt kv.Tx, id uint64) string {
	if v := storedEntry(bt.Bucket(bucketUnfinished), bt.Bucket(bucketIndex), store.Key(id)); v != nil {
		return stateName(v[0])
	}
	return ""
}

// storedEntry is job key k's [state][module] entry: its scheduling entry's head (u), or else its
// index entry (idx); nil when neither holds one. Either bucket may be nil.
func storedEntry(u, idx kv.Bucket, k []byte) []byte {
	if u != nil {
		if v := u.Get(k); len(v) >= 9 {
			return v[:9]
		}
	}
	if idx != nil {
		if v := idx.Get(k); len(v) == 9 {
			return v
		}
	}
	return nil
}

// RunningError refuses a start the database's records forbid.
type RunningError struct {
	Job, Other uint64
	Service    uint64 // set when the service's rule refused
	Lane       string // set when the lane's rule refused
}

func (e *RunningError) Error() string {
	where := fmt.Sprintf("on service %d", e.Service)
	if e.Lane != "" {
		where = "in queue " + e.Lane
	}
	return fmt.Sprintf("job %d cannot start: the database records job %d running %s, and one operation runs there at a time; "+
		"another vmmpm is writing beside this one's engine: stop it (vmmpm status lists the engines)", e.Job, e.Other, where)
}

func laneRecord(key string) []byte { return append([]byte("k/"), key...) }

func moduleRecord(module uint64) []byte { return append([]byte("m/"), store.Key(module)...) }

// runningSet is a transaction's view of the records: each module's and lane's read once, changed in
// memory as the transaction's jobs move, and written once at its end (flush), so a batch of 64
// moves costs one read and one write of a record, not 64 (the transaction holds the writer lock).
type runningSet struct {
	mods    map[uint64]*moduleRunning
	lanes   map[string]uint64 // queue key → running job (0: none)
	read    map[string]bool   // lanes read
	dirty   map[string]bool   // lanes written
	changed bool              // a record to write
}

// moduleRunning is one module's record: service → its running job.
type moduleRunning struct {
	bySvc map[uint64]uint64
	dirty bool
}

func newRunningSet() *runningSet {
	return &runningSet{mods: map[uint64]*moduleRunning{}, lanes: map[string]uint64{}, read: map[string]bool{}, dirty: map[string]bool{}}
}

func (rs *runningSet) module(b kv.Bucket, id uint64) *moduleRunning {
	m := rs.mods[id]
	if m == nil {
		m = &moduleRunning{bySvc: map[uint64]uint64{}}
		if b != nil {
			for _, p := range decodePairs(b.Get(moduleRecord(id))) {
				m.bySvc[p.service] = p.job
			}
		}
		rs.mods[id] = m
	}
	return m
}

func (rs *runningSet) lane(b kv.Bucket, key string) uint64 {
	if !rs.read[key] {
		rs.read[key] = true
		if b != nil {
			rs.lanes[key] = idOf(b.Get(laneRecord(key)))
		}
	}
	return rs.lanes[key]
}

// keep updates the set as j moves: from running (was) or not, to j.State. A start (not running
// before, running now) is refused with a *RunningError where another job runs (u, the scheduling
// entries, say whether a recorded job still does); a resume (running before and now) only records
// itself, over whatever the records held.
func (rs *runningSet) keep(bt kv.Tx, u kv.Bucket, j *store.Job, was bool) error {
	is := j.State == store.JobRunning
	if !was && !is {
		return nil
	}
	b := bt.Bucket(bucketRunning)
	running := func(id uint64) bool {
		if id == 0 || id == j.ID {
			return false
		}
		v := u.Get(store.Key(id))
		return len(v) > 0 && v[0] == stateCode(store.JobRunning)
	}
	m := rs.module(b, j.ModuleID)
	if is && !was {
		if j.QueueKey != "" {
			if other := rs.lane(b, j.QueueKey); running(other) {
				return &RunningError{Job: j.ID, Other: other, Lane: j.QueueKey}
			}
		}
		if other := m.bySvc[j.ServiceID]; running(other) {
			return &RunningError{Job: j.ID, Other: other, Service: j.ServiceID}
		}
	}
	switch {
	case is:
		m.bySvc[j.ServiceID], m.dirty, rs.changed = j.ID, true, true
	case m.bySvc[j.ServiceID] == j.ID:
		delete(m.bySvc, j.ServiceID)
		m.dirty, rs.changed = true, true
	}
	if j.QueueKey == "" {
		return nil
	}
	switch cur := rs.lane(b, j.QueueKey); {
	case is:
		rs.lanes[j.QueueKey], rs.dirty[j.QueueKey], rs.changed = j.ID, true, true
	case cur == j.ID:
		rs.lanes[j.QueueKey], rs.dirty[j.QueueKey], rs.changed = 0, true, true
	}
	return nil
}

// flush writes the records the transaction changed.
func (rs *runningSet) flush(bt kv.Tx) error {
	if rs == nil || !rs.changed {
		return nil
	}
	b, err := bt.CreateBucketIfNotExists(bucketRunning)
	if err != nil {
		return err
	}
	for id, m := range rs.mods {
		if !m.dirty {
			continue
		}
		ps := make([]pair, 0, len(m.bySvc))
		for svc, job := range m.bySvc {
			ps = append(ps, pair{job: job, service: svc})
		}
		slices.SortFunc(ps, func(a, b pair) int { return cmp.Compare(a.service, b.service) })
		if err := putOrDelete(b, moduleRecord(id), encodePairs(ps)); err != nil {
			return err
		}
	}
	for key := range rs.dirty {
		if job := rs.lanes[key]; job != 0 {
			if err := b.Put(laneRecord(key), store.Key(job)); err != nil {
				return err
			}
		} else if err := putOrDelete(b, laneRecord(key), nil); err != nil {
			return err
		}
	}
	return nil
}

// pair is one running job of a module and its service.
type pair struct{ job, service uint64 }

func decodePairs(v []byte) []pair {
	out := make([]pair, 0, len(v)/16+1)
	for ; len(v) >= 16; v = v[16:] {
		out = append(out, pair{job: binary.BigEndian.Uint64(v), service: binary.BigEndian.Uint64(v[8:])})
	}
	return out
}

func encodePairs(ps []pair) []byte {
	out := make([]byte, 0, 16*len(ps))
	for _, p := range ps {
		out = binary.BigEndian.AppendUint64(out, p.job)
		out = binary.BigEndian.AppendUint64(out, p.service)
	}
	return out
}

func idOf(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// putOrDelete stores v at k, or deletes k when v is empty.
func putOrDelete(b kv.Bucket, k, v []byte) error {
	if len(v) == 0 {
		if b.Get(k) == nil {
			return nil
		}
		return b.Delete(k)
	}
	return b.Put(k, v)
}
