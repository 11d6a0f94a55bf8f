package queue

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store"
)

// bucketIndex maps job id → [state byte][module id, 8 bytes big-endian]. It is written in the same
// transaction as every job record, so opening a database with 100,000 jobs reads 9-byte values
// instead of decoding every job, and Page can find the newest jobs of a state without a scan.
var bucketIndex = []byte("queue_job_index")

func stateCode(s string) byte {
	if i := slices.Index(store.JobStates, s); i >= 0 {
		return byte(i + 1)
	}
	return 0
}

func stateName(b byte) string {
	if b >= 1 && int(b) <= len(store.JobStates) {
		return store.JobStates[b-1]
	}
	return ""
}

func indexValue(state string, module uint64) []byte {
	v := make([]byte, 9)
	v[0] = stateCode(state)
	binary.BigEndian.PutUint64(v[1:], module)
	return v
}

// bucketUnfinished maps the id of every unfinished job → what the scheduler needs of it (schedValue),
// so the engine starts on 100,000 waiting jobs without decoding them; it reads a job whole only when
// it starts, resumes or changes it.
var bucketUnfinished = []byte("queue_unfinished")

// schedValue: [state][module 8][service 8][type][lane 4][enqueued_at ns 8][next_run_at ns 8][queue key].
func schedValue(j *store.Job) []byte {
	v := make([]byte, 38, 38+len(j.QueueKey))
	v[0] = stateCode(j.State)
	binary.BigEndian.PutUint64(v[1:], j.ModuleID)
	binary.BigEndian.PutUint64(v[9:], j.ServiceID)
	v[17] = byte(slices.Index(store.OpTypes, j.Type) + 1)
	binary.BigEndian.PutUint32(v[18:], uint32(j.Lane))
	binary.BigEndian.PutUint64(v[22:], uint64(j.EnqueuedAt.UnixNano()))
	if !j.NextRunAt.IsZero() {
		binary.BigEndian.PutUint64(v[30:], uint64(j.NextRunAt.UnixNano()))
	}
	return append(v, j.QueueKey...)
}

// schedJob is the part of job id that schedValue v holds; ok is false when v is not one.
func schedJob(id uint64, v []byte) (j store.Job, ok bool) {
	if len(v) < 38 || v[17] == 0 || int(v[17]) > len(store.OpTypes) || stateName(v[0]) == "" {
		return j, false
	}
	j = store.Job{ID: id, State: stateName(v[0]), ModuleID: binary.BigEndian.Uint64(v[1:]),
		ServiceID: binary.BigEndian.Uint64(v[9:]), Type: store.OpTypes[v[17]-1],
		Lane: int(binary.BigEndian.Uint32(v[18:])), EnqueuedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[22:]))),
		QueueKey: string(v[38:])}
	if n := binary.BigEndian.Uint64(v[30:]); n != 0 {
		j.NextRunAt = time.Unix(0, int64(n))
	}
	return j, true
}

// putJob stores a job, its index entry and its scheduling entry; every job write in this package goes
// through it.
func putJob(tx *store.Tx, j *store.Job) error {
	if err := tx.Put(j); err != nil {
		return err
	}
	b, err := tx.Bolt().CreateBucketIfNotExists(bucketIndex)
	if err != nil {
		return err
	}
	if err := b.Put(store.Key(j.ID), indexValue(j.State, j.ModuleID)); err != nil {
		return err
	}
	u, err := tx.Bolt().CreateBucketIfNotExists(bucketUnfinished)
	if err != nil {
		return err
	}
	if store.Finished(j.State) {
		return u.Delete(store.Key(j.ID))
	}
	return u.Put(store.Key(j.ID), schedValue(j))
}

// deleteFinishedJob removes a finished job and its index entry, returning what the index held and the
// job's type; ok is false (and nothing is deleted) when the job is not finished.
func deleteFinishedJob(tx *store.Tx, id uint64) (state string, module uint64, typ string, ok bool) {
	b := tx.Bolt().Bucket(bucketIndex)
	if b == nil {
		return "", 0, "", false
	}
	v := b.Get(store.Key(id))
	if len(v) != 9 || !store.Finished(stateName(v[0])) {
		return "", 0, "", false
	}
	state, module = stateName(v[0]), binary.BigEndian.Uint64(v[1:])
	if v := tx.Bolt().Bucket((&store.Job{}).Bucket()).Get(store.Key(id)); v != nil {
		var j struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(v, &j)
		typ = j.Type
	}
	if err := b.Delete(store.Key(id)); err != nil {
		return "", 0, "", false
	}
	_ = tx.Delete(&store.Job{ID: id})
	if u := tx.Bolt().Bucket(bucketUnfinished); u != nil {
		_ = u.Delete(store.Key(id))
	}
	return state, module, typ, true
}

// ensureIndex rebuilds the index from the job records when it is missing or disagrees with them
// (a database written before this package kept one). The check compares the newest ids: jobs are
// written only through this package, so the two can only differ by jobs added without an index.
func ensureIndex(db *store.DB) error {
	ok := false
	err := db.View(func(tx *store.Tx) error {
		ok = indexMatches(tx.Bolt())
		return nil
	})
	if err != nil || ok {
		return err
	}
	return rebuildIndex(db)
}

// rebuildIndex writes the index and the scheduling entries afresh from the job records.
func rebuildIndex(db *store.DB) error {
	return db.Update(func(tx *store.Tx) error {
		bt := tx.Bolt()
		for _, name := range [][]byte{bucketIndex, bucketUnfinished} {
			if bt.Bucket(name) != nil {
				if err := bt.DeleteBucket(name); err != nil {
					return err
				}
			}
		}
		idx, err := bt.CreateBucket(bucketIndex)
		if err != nil {
			return err
		}
		unf, err := bt.CreateBucket(bucketUnfinished)
		if err != nil {
			return err
		}
		c := bt.Bucket((&store.Job{}).Bucket()).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var j store.Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("job %d is unreadable: %w", store.KeyID(k), err)
			}
			if err := idx.Put(k, indexValue(j.State, j.ModuleID)); err != nil {
				return err
			}
			if !store.Finished(j.State) {
				if err := unf.Put(k, schedValue(&j)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func indexMatches(bt *bolt.Tx) bool {
	idx := bt.Bucket(bucketIndex)
	jobs := bt.Bucket((&store.Job{}).Bucket())
	if idx == nil || bt.Bucket(bucketUnfinished) == nil {
		return false
	}
	jk, _ := jobs.Cursor().Last()
	ik, _ := idx.Cursor().Last()
	return string(jk) == string(ik)
}

// idList is an ascending list of job ids. New ids arrive at the end and pruning takes from the front,
// so the usual insert and remove touch only the ends.
type idList struct{ ids []uint64 }

func (l *idList) insert(id uint64) {
	n := len(l.ids)
	if n == 0 || l.ids[n-1] < id {
		l.ids = append(l.ids, id)
		return
	}
	i := sort.Search(n, func(i int) bool { return l.ids[i] >= id })
	if i < n && l.ids[i] == id {
		return
	}
	l.ids = slices.Insert(l.ids, i, id)
}

func (l *idList) remove(id uint64) {
	i := sort.Search(len(l.ids), func(i int) bool { return l.ids[i] >= id })
	if i < len(l.ids) && l.ids[i] == id {
		l.ids = slices.Delete(l.ids, i, i+1)
	}
}

// newest returns up to limit ids, newest first, after skipping offset: O(limit).
func (l *idList) newest(offset, limit int) []uint64 {
	n := len(l.ids)
	if offset < 0 {
		offset = 0
	}
	if limit <= 0 || offset >= n {
		return nil
	}
	out := make([]uint64, 0, min(limit, n-offset))
	for i := n - 1 - offset; i >= 0 && len(out) < limit; i-- {
		out = append(out, l.ids[i])
	}
	return out
}

// ModuleCounts are one module's job counts by state and its lanes (spec §10 header).
// LanesTotal is queue_count times the key names in use (1 when the key has no __IID__/__TYPE__);
// it is 0 for a module with queues off.
type ModuleCounts struct {
	Queued     int `json:"queued"`
	Running    int `json:"running"`
	Retrying   int `json:"retrying"`
	Failed     int `json:"failed"`
	Done       int `json:"done"`
	Cancelled  int `json:"cancelled"`
	LanesBusy  int `json:"lanes_busy"`
	LanesTotal int `json:"lanes_total"`
}

func (c *ModuleCounts) add(state string, d int) {
	switch state {
	case store.JobQueued:
		c.Queued += d
	case store.JobRunning:
		c.Running += d
	case store.JobRetrying:
		c.Retrying += d
	case store.JobFailed:
		c.Failed += d
	case store.JobDone:
		c.Done += d
	case store.JobCancelled:
		c.Cancelled += d
	}
}

// readModel is what the jobs pane reads: ids per state and counts per module. It follows committed
// transactions only, so it never shows a state the file does not hold.
type readModel struct {
	mu       sync.Mutex
	all      idList
	by       map[string]*idList
	finished idList
	counts   map[uint64]*ModuleCounts
}

func newReadModel() *readModel {
	rm := &readModel{by: map[string]*idList{}, counts: map[uint64]*ModuleCounts{}}
	for _, s := range store.JobStates {
		rm.by[s] = &idList{}
	}
	return rm
}

// load fills the model from the index bucket.
func (rm *readModel) load(tx *store.Tx) {
	b := tx.Bolt().Bucket(bucketIndex)
	if b == nil {
		return
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) == 9 {
			rm.move(store.KeyID(k), "", 0, stateName(v[0]), binary.BigEndian.Uint64(v[1:]))
		}
	}
}

// move records a job going from one state (and module) to another; "" means absent.
func (rm *readModel) move(id uint64, from string, fromModule uint64, to string, toModule uint64) {
	if from == to && fromModule == toModule {
		return
	}
	if from != "" {
		rm.by[from].remove(id)
		rm.countsOf(fromModule).add(from, -1)
		if store.Finished(from) {
			rm.finished.remove(id)
		}
	} else {
		rm.all.insert(id)
	}
	if to == "" {
		rm.all.remove(id)
		return
	}
	rm.by[to].insert(id)
	rm.countsOf(toModule).add(to, 1)
	if store.Finished(to) {
		rm.finished.insert(id)
	}
}

// unfinished is how many jobs are queued, running or retrying.
func (rm *readModel) unfinished() int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.by[store.JobQueued].ids) + len(rm.by[store.JobRunning].ids) + len(rm.by[store.JobRetrying].ids)
}

func (rm *readModel) countsOf(module uint64) *ModuleCounts {
	c := rm.counts[module]
	if c == nil {
		c = &ModuleCounts{}
		rm.counts[module] = c
	}
	return c
}

// UnfinishedJobs returns the ids of module's jobs that may still run, read from the index (9 bytes a
// job), so `module rm` costs milliseconds with 100,000 jobs in the history and holds no write lock long.
func UnfinishedJobs(tx *store.Tx, module uint64) ([]uint64, error) {
	b := tx.Bolt().Bucket(bucketIndex)
	if b == nil {
		return nil, nil // no job was ever written
	}
	var ids []uint64
	err := b.ForEach(func(k, v []byte) error {
		if len(v) != 9 {
			return fmt.Errorf("job index entry %d is damaged; open the database with vmmpm engine to rebuild it", store.KeyID(k))
		}
		if binary.BigEndian.Uint64(v[1:]) == module && !store.Finished(stateName(v[0])) {
			ids = append(ids, store.KeyID(k))
		}
		return nil
	})
	return ids, err
}
