package queue

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// bucketIndex maps job id → [state byte][module id, 8 bytes big-endian]. It is written in the same
// transaction as a job record, so opening a database with 100,000 jobs reads 9-byte values instead
// of decoding every job, and Page can find the newest jobs of a state without a scan. For an
// unfinished job it is rewritten only when the job is enqueued, retried after it finished, moves to
// another module or finishes: its state then may be an earlier unfinished one, and the scheduling
// entry (which every write rewrites, and whose first 9 bytes are laid out alike) says the current one.
// A start or a retry wait thus writes a row less, on PostgreSQL about 1 of 5 per job (entryOf says
// the current state; bench/riverpg/README.md has the figures).
var bucketIndex = []byte("queue_job_index")

// entryOf is job k's current [state][module], given its index entry iv: the scheduling entry's for
// an unfinished job that has one (get reads it: a bucket's Get, or a walker's for keys read in
// ascending order, which on PostgreSQL costs no query per job), else iv itself.
func entryOf(get func(k []byte) []byte, k, iv []byte) []byte {
	if len(iv) != 9 || !unfinishedCode(iv[0]) {
		return iv
	}
	if sv := get(k); len(sv) >= 9 {
		return sv[:9]
	}
	return iv
}

// schedGetter reads the scheduling entries of b (nil: there are none) for keys in ascending order.
func schedGetter(b kv.Bucket) func(k []byte) []byte {
	if b == nil {
		return noEntry
	}
	w := &indexWalker{c: b.Cursor()}
	return w.get
}

// schedGet reads the scheduling entries of b (nil: there are none) one key at a time, in any order.
func schedGet(b kv.Bucket) func(k []byte) []byte {
	if b == nil {
		return noEntry
	}
	return b.Get
}

func noEntry([]byte) []byte { return nil }

// unfinishedCode says whether b is the code of an unfinished state.
func unfinishedCode(b byte) bool {
	s := stateName(b)
	return s != "" && !store.Finished(s)
}

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
	v[17] = byte(slices.Index(store.JobTypes, j.Type) + 1)
	binary.BigEndian.PutUint32(v[18:], uint32(j.Lane))
	binary.BigEndian.PutUint64(v[22:], uint64(j.EnqueuedAt.UnixNano()))
	if !j.NextRunAt.IsZero() {
		binary.BigEndian.PutUint64(v[30:], uint64(j.NextRunAt.UnixNano()))
	}
	return append(v, j.QueueKey...)
}

// schedJob is the part of job id that schedValue v holds; ok is false when v is not one.
func schedJob(id uint64, v []byte) (j store.Job, ok bool) {
	if len(v) < 38 || v[17] == 0 || int(v[17]) > len(store.JobTypes) || stateName(v[0]) == "" {
		return j, false
	}
	j = store.Job{ID: id, State: stateName(v[0]), ModuleID: binary.BigEndian.Uint64(v[1:]),
		ServiceID: binary.BigEndian.Uint64(v[9:]), Type: store.JobTypes[v[17]-1],
		Lane: int(binary.BigEndian.Uint32(v[18:])), EnqueuedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[22:]))),
		QueueKey: string(v[38:])}
	if n := binary.BigEndian.Uint64(v[30:]); n != 0 {
		j.NextRunAt = time.Unix(0, int64(n))
	}
	return j, true
}

// bucketCounts maps [module 8][state 1] → how many jobs of that module are in that state (8 bytes),
// written in the same transactions as the index, so the counts of 100,000 jobs cost one small read.
var bucketCounts = []byte("queue_counts")

// addCount adds d to the count of the index value v's module and state.
func addCount(b kv.Bucket, v []byte, d int64) error {
	ka := countKey(v)
	k := ka[:]
	n := d
	if c := b.Get(k); len(c) == 8 {
		n += int64(binary.BigEndian.Uint64(c))
	}
	if n <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// countKey is the counts key of the index value v: [module 8][state 1].
func countKey(v []byte) (k [9]byte) {
	copy(k[:], v[1:9])
	k[8] = v[0]
	return k
}

// readCounts returns the stored counts by module.
func readCounts(bt kv.Tx) map[uint64]*ModuleCounts {
	out := map[uint64]*ModuleCounts{}
	b := bt.Bucket(bucketCounts)
	if b == nil {
		return out
	}
	_ = b.ForEach(func(k, v []byte) error {
		if len(k) == 9 && len(v) == 8 {
			m := binary.BigEndian.Uint64(k)
			if out[m] == nil {
				out[m] = &ModuleCounts{}
			}
			out[m].add(stateName(k[8]), int(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	return out
}

// putJob stores a job, its index entry, its scheduling entry and the counts; every job write in this
// package goes through it.
func putJob(tx *store.Tx, j *store.Job) error { return putJobFrom(tx, j, "", nil) }

// putJobFrom is putJob of a job the engine holds in state from ("": new, or read in this
// transaction): a compare-and-set, refused with a *StaleError when the database holds it in
// another state, so an engine never writes over a move it did not make; rs, the transaction's
// running records, refuses a start where another job runs (the engine's writes; others, nil,
// never write a running job).
func putJobFrom(tx *store.Tx, j *store.Job, from string, rs *runningSet) error {
	fresh := j.ID == 0 // its id comes from the bucket's sequence, so no index entry can hold it yet
	if from != "" {
		if err := checkFrom(tx, j, from); err != nil {
			return err
		}
	}
	if err := tx.Put(j); err != nil {
		return err
	}
	tx.NoteJob(j.ID, j.ModuleID, j.State)
	return putEntries(tx.KV(), j, fresh, rs)
}

// putEntries writes what the queue keeps beside a job record: its index entry, its scheduling entry
// and the counts. fresh skips reading the old index entry of a job just given its id, which on
// PostgreSQL is a round trip per job enqueued (the key is in no cache).
func putEntries(bt kv.Tx, j *store.Job, fresh bool, rs *runningSet) error {
	b, err := bt.CreateBucketIfNotExists(bucketIndex)
	if err != nil {
		return err
	}
	k, v := store.Key(j.ID), indexValue(j.State, j.ModuleID)
	u, err := bt.CreateBucketIfNotExists(bucketUnfinished)
	if err != nil {
		return err
	}
	var old []byte
	if !fresh {
		old = bytes.Clone(storedEntry(u, b, k)) // the page under it may change with the Puts
	}
	if rs != nil {
		if err := rs.keep(bt, u, j, old != nil && old[0] == stateCode(store.JobRunning)); err != nil {
			return err
		}
	}
	// Unfinished before and after, in the same module: the index entry stays as it is.
	keep := old != nil && unfinishedCode(old[0]) && !store.Finished(j.State) && bytes.Equal(old[1:9], v[1:9])
	if !bytes.Equal(old, v) {
		cb, err := bt.CreateBucketIfNotExists(bucketCounts)
		if err != nil {
			return err
		}
		if old != nil {
			if err := addCount(cb, old, -1); err != nil {
				return err
			}
		}
		if err := addCount(cb, v, 1); err != nil {
			return err
		}
	}
	if !keep {
		if err := b.Put(k, v); err != nil {
			return err
		}
	}
	if store.Finished(j.State) {
		return u.Delete(store.Key(j.ID))
	}
	return u.Put(store.Key(j.ID), schedValue(j))
}

// jobGone: tx holds no index entry of job id (pruned, or never written).
func jobGone(tx *store.Tx, id uint64) bool {
	b := tx.KV().Bucket(bucketIndex)
	return b == nil || b.Get(store.Key(id)) == nil
}

// deleteFinishedJob removes a finished job and its index entry, returning what the index held and the
// job's type; ok is false (and nothing is deleted) when the job is not finished.
func deleteFinishedJob(tx *store.Tx, id uint64) (state string, module uint64, typ string, ok bool) {
	b := tx.KV().Bucket(bucketIndex)
	if b == nil {
		return "", 0, "", false
	}
	v := b.Get(store.Key(id))
	if len(v) != 9 || !store.Finished(stateName(v[0])) {
		return "", 0, "", false
	}
	state, module = stateName(v[0]), binary.BigEndian.Uint64(v[1:])
	if cb := tx.KV().Bucket(bucketCounts); cb != nil {
		if err := addCount(cb, v, -1); err != nil {
			return "", 0, "", false
		}
	}
	if v := tx.MustBucket((&store.Job{}).Bucket()).Get(store.Key(id)); v != nil {
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
	tx.NoteJob(id, module, "")
	if u := tx.KV().Bucket(bucketUnfinished); u != nil {
		_ = u.Delete(store.Key(id))
	}
	return state, module, typ, true
}

// ensureIndex rebuilds the index from the job records when it is missing or disagrees with them
// (a database written before this package kept one). The check compares the newest ids: jobs are
// written only through this package, so the two can only differ by jobs added without an index.
func ensureIndex(db *store.DB) error {
	ok, counted := false, false
	err := db.View(func(tx *store.Tx) error {
		ok, counted = indexMatches(tx), tx.KV().Bucket(bucketCounts) != nil
		return nil
	})
	switch {
	case err != nil:
		return err
	case !ok:
		return rebuildIndex(db)
	case !counted: // written by a vmmpm that kept no counts: count the index once
		return db.Update(func(tx *store.Tx) error { return countIndex(tx.KV()) })
	}
	return nil
}

// countIndex writes the counts bucket afresh from the index.
func countIndex(bt kv.Tx) error {
	if bt.Bucket(bucketCounts) != nil {
		if err := bt.DeleteBucket(bucketCounts); err != nil {
			return err
		}
	}
	cb, err := bt.CreateBucket(bucketCounts)
	if err != nil {
		return err
	}
	counts := map[[9]byte]uint64{}
	if idx := bt.Bucket(bucketIndex); idx != nil {
		get := schedGetter(bt.Bucket(bucketUnfinished))
		_ = idx.ForEach(func(k, v []byte) error {
			if len(v) == 9 {
				counts[countKey(entryOf(get, k, v))]++
			}
			return nil
		})
	}
	for k, n := range counts {
		if err := cb.Put(k[:], binary.BigEndian.AppendUint64(nil, n)); err != nil {
			return err
		}
	}
	return nil
}

// rebuildIndex writes the index and the scheduling entries afresh from the job records.
func rebuildIndex(db *store.DB) error {
	return db.Update(func(tx *store.Tx) error {
		bt := tx.KV()
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
		c := tx.MustBucket((&store.Job{}).Bucket()).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var j store.Job
			if err := json.Unmarshal(v, &j); err != nil {
				return store.Unreadable(tx, (&store.Job{}).Bucket(), k, err)
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
		return countIndex(bt)
	})
}

func indexMatches(tx *store.Tx) bool {
	bt := tx.KV()
	idx := bt.Bucket(bucketIndex)
	jobs := tx.MustBucket((&store.Job{}).Bucket())
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

func (l *idList) has(id uint64) bool {
	_, ok := slices.BinarySearch(l.ids, id)
	return ok
}

// drop removes ids (ascending) in one pass from the first of them; the oldest ones (what pruning
// takes) by slicing them off, which copies nothing.
func (l *idList) drop(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	if len(ids) <= len(l.ids) && slices.Equal(l.ids[:len(ids)], ids) {
		l.ids = l.ids[len(ids):]
		return
	}
	i, _ := slices.BinarySearch(l.ids, ids[0])
	kept := l.ids[:i]
	for _, id := range l.ids[i:] {
		for len(ids) > 0 && ids[0] < id {
			ids = ids[1:]
		}
		if len(ids) == 0 || ids[0] != id {
			kept = append(kept, id)
		}
	}
	l.ids = kept
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
	if p := c.field(state); p != nil {
		*p += d
	}
}

// field is the count of one state; nil for an unknown state.
func (c *ModuleCounts) field(state string) *int {
	switch state {
	case store.JobQueued:
		return &c.Queued
	case store.JobRunning:
		return &c.Running
	case store.JobRetrying:
		return &c.Retrying
	case store.JobFailed:
		return &c.Failed
	case store.JobDone:
		return &c.Done
	case store.JobCancelled:
		return &c.Cancelled
	}
	return nil
}

// readModel is what the jobs pane pages through: job ids per state, in memory. It follows committed
// transactions only, so it never shows a state the file does not hold. Counts are not kept here: they
// are stored beside the index (bucketCounts), so a first frame needs no pass over 100,000 entries.
//
// The id lists load behind the engine's start; until then Page reads the index itself, and moves are
// kept and replayed over the loaded lists. Replaying is safe even for moves the load already saw:
// each move removes from one list and inserts into another, and a job's last move wins.
type readModel struct {
	mu       sync.Mutex
	ready    bool
	pending  []move
	all      idList
	by       map[string]*idList
	finished idList
	seen     uint64 // the newest id the lists ever held: jobs past it are new to them (catchUp)
	loads    int    // times the lists were read whole (load)
}

// move is one job going from one state to another; "" means absent.
type move struct {
	id       uint64
	from, to string
}

func newReadModel() *readModel {
	rm := &readModel{by: map[string]*idList{}}
	for _, s := range store.JobStates {
		rm.by[s] = &idList{}
	}
	return rm
}

// load fills the lists from the index bucket, then replays what moved meanwhile. An engine calls it
// once; catchUp again when the lists disagree with the stored counts.
func (rm *readModel) load(tx *store.Tx) {
	fresh := newReadModel()
	if b := tx.KV().Bucket(bucketIndex); b != nil {
		get := schedGetter(tx.KV().Bucket(bucketUnfinished))
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) == 9 {
				fresh.apply(move{id: store.KeyID(k), to: stateName(entryOf(get, k, v)[0])})
			}
		}
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.all, rm.by, rm.finished, rm.seen = fresh.all, fresh.by, fresh.finished, max(rm.seen, fresh.seen)
	rm.loads++
	for _, m := range rm.pending {
		rm.apply(m)
	}
	rm.pending, rm.ready = nil, true
}

// move records a job going from one state to another; "" means absent (rm.mu held).
func (rm *readModel) move(id uint64, from, to string) {
	if from == to {
		return
	}
	if !rm.ready {
		rm.pending = append(rm.pending, move{id: id, from: from, to: to})
		return
	}
	rm.apply(move{id: id, from: from, to: to})
}

// dropGone applies moves of jobs that went (to "", each from the list holding it), a list at a time:
// one pass over each list, where a remove each would shift its tail each time; pruning takes up to
// pruneBatch of the oldest at once, from lists of KeepFinished. rm.mu held.
func (rm *readModel) dropGone(gone []move) {
	if !rm.ready {
		rm.pending = append(rm.pending, gone...)
		return
	}
	lists := map[*idList][]uint64{}
	for _, m := range gone {
		lists[&rm.all] = append(lists[&rm.all], m.id)
		if l := rm.by[m.from]; l != nil {
			lists[l] = append(lists[l], m.id)
		}
		if store.Finished(m.from) {
			lists[&rm.finished] = append(lists[&rm.finished], m.id)
		}
	}
	for l, ids := range lists {
		slices.Sort(ids)
		l.drop(ids)
	}
}

func (rm *readModel) apply(m move) {
	if m.from != "" {
		rm.by[m.from].remove(m.id)
		if store.Finished(m.from) {
			rm.finished.remove(m.id)
		}
	}
	if m.to == "" {
		rm.all.remove(m.id)
		return
	}
	rm.all.insert(m.id)
	rm.seen = max(rm.seen, m.id)
	rm.by[m.to].insert(m.id)
	if store.Finished(m.to) {
		rm.finished.insert(m.id)
	}
}

// newestInIndex pages the index itself, newest first: what Page does before the lists have loaded.
// It costs offset+limit entries for every state, and a walk past other states' jobs for one state.
func newestInIndex(bt kv.Tx, state string, offset, limit int) []uint64 {
	b := bt.Bucket(bucketIndex)
	if b == nil || limit <= 0 {
		return nil
	}
	code := stateCode(state)
	get := schedGet(bt.Bucket(bucketUnfinished)) // newest first: a Get each, only for unfinished entries passed
	var ids []uint64
	c := b.Cursor()
	for k, v := c.Last(); k != nil && len(ids) < limit; k, v = c.Prev() {
		if state != "" && (len(v) != 9 || entryOf(get, k, v)[0] != code) {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		ids = append(ids, store.KeyID(k))
	}
	return ids
}

// of is the count of one state, or of all ("").
func (c *ModuleCounts) of(state string) int {
	if state == "" {
		return c.total()
	}
	if p := c.field(state); p != nil {
		return *p
	}
	return 0
}

func (c *ModuleCounts) unfinished() int { return c.Queued + c.Running + c.Retrying }

func (c *ModuleCounts) total() int { return c.unfinished() + c.Done + c.Failed + c.Cancelled }

// storedTotals are how many jobs there are and how many of them are queued, running or retrying,
// from the stored counts.
func storedTotals(db *store.DB) (total, unfinished int, err error) {
	err = db.View(func(tx *store.Tx) error {
		for _, c := range readCounts(tx.KV()) {
			total, unfinished = total+c.total(), unfinished+c.unfinished()
		}
		return nil
	})
	return total, unfinished, err
}

// UnfinishedJobs returns the ids of module's jobs that may still run, read from the index (9 bytes a
// job), so `module rm` costs milliseconds with 100,000 jobs in the history and holds no write lock long.
func UnfinishedJobs(tx *store.Tx, module uint64) ([]uint64, error) {
	b := tx.KV().Bucket(bucketIndex)
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

// indexWalker reads index entries for ascending keys: it steps forward from the last one, which is
// cheaper than a search from the root when the keys are close (unfinished jobs cluster at the newest
// end), and searches when they are not.
type indexWalker struct {
	c    kv.Cursor
	k, v []byte
}

func (w *indexWalker) get(k []byte) []byte {
	for range 8 {
		if w.k == nil {
			break
		}
		switch bytes.Compare(w.k, k) {
		case 0:
			return w.v
		case 1:
			return nil
		}
		w.k, w.v = w.c.Next()
	}
	w.k, w.v = w.c.Seek(k)
	if bytes.Equal(w.k, k) {
		return w.v
	}
	return nil
}
