package queue

import (
	"errors"
	"iter"
	"maps"
	"slices"
	"time"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// Follow is a stopped engine read afresh from the database, for a view beside another process's
// engine (backend.Standby), which makes one at each change it hears. On a database that keeps a
// job feed (store.ReadFeed) it reads only the jobs the feed names since e read: its scheduler (the
// Lanes screen, LanePosition) is e's with those jobs moved, and its id lists (Page) are e's, shared,
// brought forward by the same moves. Otherwise, and every FollowWhole, it reads the unfinished jobs
// whole and brings the lists forward by readModel.catchUp, so the finished history, which only grows
// at its new end and is pruned at its old one, is not read again. e must never run, nor its
// followers; the two share the lists, so close e once the follower is in place.
func (e *Engine) Follow() (*Engine, error) {
	<-e.listed
	e.mu.Lock()
	active := e.active
	e.mu.Unlock()
	if active {
		return nil, errors.New("a running engine's lists follow its own commits; Follow is for a stopped engine")
	}
	f, err := open(e.db, e.secrets, e.opt, e.rm)
	if err != nil {
		return nil, err
	}
	f.loaded, f.listed = make(chan struct{}), make(chan struct{})
	var states []jobState
	var stale bool
	err = e.db.View(func(tx *store.Tx) error {
		if e.fed.whole.IsZero() || time.Since(e.fed.whole) >= FollowWhole {
			states, stale = f.followWhole(tx)
			return nil
		}
		var ok bool
		var at uint64
		if states, at, ok = e.followFeed(tx); ok {
			f.fed = feedPos{at: at, whole: e.fed.whole}
			return nil
		}
		states, stale = f.followWhole(tx)
		return nil
	})
	close(f.listed)
	if err == nil {
		err = f.place(states, stale)
	}
	f.loadErr = err
	close(f.loaded)
	if err != nil {
		f.c.close()
		return nil, err
	}
	return f, nil
}

// FollowWhole is how often Follow reads the unfinished jobs whole though the feed names what moved:
// a vmmpm older than the feed writing to the same database writes no rows.
var FollowWhole = 30 * time.Second

// feedPos is where a follower read the feed to (at), and when it last read the unfinished jobs whole.
type feedPos struct {
	at    uint64
	whole time.Time
}

// followWhole reads the unfinished jobs whole for f and brings the lists forward, walking the
// scheduling entries once for both: a view beside thousands of waiting jobs refreshes at every
// wake-up. It notes the feed's position in the same snapshot.
func (f *Engine) followWhole(tx *store.Tx) (states []jobState, stale bool) {
	states, stale = readUnfinishedIn(tx.KV())
	entries := unfinishedEntries(tx.KV())
	if !stale {
		entries = statesOf(states)
	}
	f.rm.catchUp(tx, entries)
	f.fed = feedPos{at: store.FeedLast(tx), whole: time.Now()}
	return states, stale
}

// followFeed is e's unfinished jobs moved as the feed says they moved since e read it, with the
// feed's newest row, and the lists brought forward the same way; ok is false when the feed cannot
// say (pruned past e, restored) or the jobs disagree with the stored counts: then the lists are
// unchanged, and Follow reads whole.
func (e *Engine) followFeed(tx *store.Tx) (states []jobState, at uint64, ok bool) {
	changes, at, ok := store.ReadFeed(tx, e.fed.at)
	if !ok {
		return nil, 0, false
	}
	want := storedByState(tx.KV())
	if states, ok = e.movedBy(tx.KV(), changes, want); !ok {
		return nil, 0, false
	}
	moves := make([]move, len(changes))
	for i, c := range changes {
		moves[i] = move{id: c.ID, from: fromLists, to: c.State}
	}
	if excess, ok := e.rm.commit(moves, want); !ok || excess != 0 {
		e.rm.load(tx) // a move no row told (an older vmmpm wrote it)
	}
	return states, at, true
}

// movedBy is e's unfinished jobs, as scheduling entries read them, with the jobs changes name read
// again from bt, in loadOrder; ok is false when one of those disagrees with its index entry, or the
// jobs of a state with want, the stored counts.
func (e *Engine) movedBy(bt kv.Tx, changes []store.JobChange, want map[string]int) (states []jobState, ok bool) {
	moved := make(map[uint64]bool, len(changes))
	for _, c := range changes {
		moved[c.ID] = true
	}
	var again []jobState
	u, idx := bt.Bucket(bucketUnfinished), bt.Bucket(bucketIndex)
	for id := range moved {
		k := store.Key(id)
		v := []byte(nil)
		if u != nil {
			v = u.Get(k)
		}
		if v == nil {
			continue // finished, or gone
		}
		j, ok := schedJob(id, v)
		if !ok || idx == nil || !agrees(v, idx.Get(k)) {
			return nil, false
		}
		again = append(again, jobState{job: j, recover: j.State == store.JobRunning,
			lastState: j.State, lastModule: j.ModuleID, partial: true})
	}
	slices.SortFunc(again, func(a, b jobState) int { return loadOrder(&a, &b) })
	e.mu.Lock()
	states = make([]jobState, 0, len(e.placed)+len(again))
	for _, js := range e.placed { // in loadOrder: merged with again, the result is too
		if moved[js.job.ID] {
			continue
		}
		for len(again) > 0 && loadOrder(&again[0], js) < 0 {
			states, again = append(states, again[0]), again[1:]
		}
		states = append(states, jobState{job: js.job, recover: js.recover, partial: js.partial,
			lastState: js.lastState, lastModule: js.lastModule})
	}
	e.mu.Unlock()
	states = append(states, again...)
	got := map[string]int{}
	for i := range states {
		got[states[i].job.State]++
	}
	for _, st := range []string{store.JobQueued, store.JobRunning, store.JobRetrying} {
		if got[st] != want[st] {
			return nil, false
		}
	}
	return states, true
}

// fromLists, as a move's from, is the state the lists hold the job in, looked up as the move applies.
const fromLists = "?"

// catchUp brings the lists forward to what tx holds, reading only what may have changed since they
// last looked: the index past the newest id seen (new jobs), the scheduling entries (jobs unfinished
// now), the index entries of jobs unfinished before, and, when the stored counts say finished jobs went,
// the oldest finished ids until the missing ones are found (pruning takes the oldest). The stored
// counts check the result: lists that disagree with them (a retried job that finished between two
// looks, which no entry read here shows) are loaded whole. The caller is the lists' only writer.
// entries are the scheduling entries in tx (unfinishedEntries, or statesOf what the scheduler read).
func (rm *readModel) catchUp(tx *store.Tx, entries iter.Seq2[uint64, string]) {
	bt := tx.KV()
	want := storedByState(bt)
	excess, ok := rm.commit(rm.changed(bt, entries), want)
	if ok && excess > 0 {
		excess, ok = rm.commit(rm.pruned(bt, excess), want)
	}
	if !ok || excess != 0 {
		rm.load(tx)
	}
}

// unfinishedEntries walks bt's scheduling entries: each job's id and state (empty entries left out).
func unfinishedEntries(bt kv.Tx) iter.Seq2[uint64, string] {
	return func(yield func(uint64, string) bool) {
		u := bt.Bucket(bucketUnfinished)
		if u == nil {
			return
		}
		c := u.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) > 0 && !yield(store.KeyID(k), stateName(v[0])) {
				return
			}
		}
	}
}

// statesOf is unfinishedEntries of the jobs readUnfinishedIn read.
func statesOf(states []jobState) iter.Seq2[uint64, string] {
	return func(yield func(uint64, string) bool) {
		for i := range states {
			if !yield(states[i].job.ID, states[i].job.State) {
				return
			}
		}
	}
}

// changed are the moves since the lists last looked, but for finished jobs that went; entries are
// the scheduling entries now.
func (rm *readModel) changed(bt kv.Tx, entries iter.Seq2[uint64, string]) []move {
	rm.mu.Lock()
	seen, was := rm.seen, map[uint64]string{}
	for _, s := range []string{store.JobQueued, store.JobRunning, store.JobRetrying} {
		for _, id := range rm.by[s].ids {
			was[id] = s
		}
	}
	rm.mu.Unlock()
	var moves []move
	for id, to := range entries {
		if id > seen {
			continue // new: read from the index below
		}
		from, ok := was[id]
		if !ok {
			from = fromLists // finished when the lists last looked, retried since
		}
		delete(was, id)
		if to != from {
			moves = append(moves, move{id: id, from: from, to: to})
		}
	}
	idx := bt.Bucket(bucketIndex)
	if idx == nil {
		return moves // no job was ever written
	}
	w := indexWalker{c: idx.Cursor()}
	for _, id := range slices.Sorted(maps.Keys(was)) { // unfinished before, not now: finished or gone
		to := ""
		if v := w.get(store.Key(id)); len(v) == 9 {
			to = stateName(v[0])
		}
		moves = append(moves, move{id: id, from: was[id], to: to})
	}
	c, get := idx.Cursor(), schedGetter(bt.Bucket(bucketUnfinished))
	for k, v := c.Seek(store.Key(seen + 1)); k != nil; k, v = c.Next() {
		if len(v) == 9 {
			moves = append(moves, move{id: store.KeyID(k), to: stateName(entryOf(get, k, v)[0])})
		}
	}
	return moves
}

// pruned finds n finished jobs the index no longer holds, walking the lists' finished ids from the
// oldest, a chunk copied at a time; fewer than n when the walk reached the newest.
func (rm *readModel) pruned(bt kv.Tx, n int) []move {
	idx := bt.Bucket(bucketIndex)
	if idx == nil {
		return nil
	}
	w := indexWalker{c: idx.Cursor()}
	var gone []move
	const chunk = 1024
	for at := 0; len(gone) < n; at += chunk {
		rm.mu.Lock()
		ids := slices.Clone(rm.finished.ids[min(at, len(rm.finished.ids)):min(at+chunk, len(rm.finished.ids))])
		rm.mu.Unlock()
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if w.get(store.Key(id)) == nil {
				gone = append(gone, move{id: id, from: fromLists})
			}
			if len(gone) == n {
				break
			}
		}
	}
	return gone
}

// commit applies moves, the removals a list at a time (one pass over it, where a remove each would
// shift its tail each time), and returns how many finished jobs more than want the lists hold; ok is
// false when they hold fewer of a state, or more unfinished ones, than want, which no pruning explains.
func (rm *readModel) commit(moves []move, want map[string]int) (excess int, ok bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	var gone []move
	for _, m := range moves {
		if m.from == fromLists {
			m.from = rm.stateOf(m.id)
		}
		if m.to != "" || m.from == "" {
			rm.apply(m)
			continue
		}
		gone = append(gone, m)
	}
	rm.dropGone(gone)
	total := 0
	for _, s := range store.JobStates {
		d := len(rm.by[s].ids) - want[s]
		if d < 0 || d > 0 && !store.Finished(s) {
			return 0, false
		}
		excess, total = excess+d, total+want[s]
	}
	return excess, len(rm.all.ids) == total+excess
}

// stateOf is the state whose list holds id, "" when none does (rm.mu held).
func (rm *readModel) stateOf(id uint64) string {
	for s, l := range rm.by {
		if l.has(id) {
			return s
		}
	}
	return ""
}

// storedByState are the stored counts summed over the modules.
func storedByState(bt kv.Tx) map[string]int {
	out := map[string]int{}
	for _, c := range readCounts(bt) {
		for _, s := range store.JobStates {
			out[s] += c.of(s)
		}
	}
	return out
}
