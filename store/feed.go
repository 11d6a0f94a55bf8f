package store

import (
	"encoding/binary"
	"slices"
	"time"

	"vmmpm/store/kv"
)

// The job feed: on a database kept on a server, each committed transaction that wrote jobs appends
// one row naming them (bucketFeed: commit number → [written at, unix ns 8][writer 8][change 17]…,
// the writer being the handle that wrote it, FeedWriter), so a reader on another host learns which
// jobs moved from the rows after the last it read, not by reading every unfinished job again. Writers run one at a time on every driver, so the commit number (the
// generation a kv.Generational transaction commits as, else the bucket's sequence) is the commit
// order; it has gaps where commits wrote no job. A bbolt file has one process, whose engine sees its
// own writes: it keeps no feed.
var bucketFeed = []byte("job_feed")

// keyFeedPruned (in the meta bucket) is the newest row pruning dropped: a reader after an earlier
// row may have missed rows, and reads everything.
var keyFeedPruned = []byte("job_feed_pruned")

// FeedKeep is how long the feed keeps a row: a reader that last read longer ago reads everything.
// Readers look at least every second while they run; a busy engine adds hundreds of rows a second.
var FeedKeep = 2 * time.Minute

// feedPruneEvery: a handle drops the rows older than FeedKeep at most this often, so that the range
// read pruning begins with is not made under the writer lock at every commit.
var feedPruneEvery = 10 * time.Second

// feedPruneMax bounds the rows one commit drops, so pruning never makes a commit long.
var feedPruneMax = 4096

// JobChange is one job as a transaction left it: State "" when the job was deleted (pruned). Writer
// is the handle that wrote it (FeedWriter; 0 when a change is noted, before it is written).
type JobChange struct {
	ID, Module uint64
	State      string
	Writer     uint64
}

// feedHeader is a row's length before its changes: when it was written and by which handle.
const feedHeader = 16

// KeepsFeed reports whether the database keeps a job feed: it is no bbolt file.
func (db *DB) KeepsFeed() bool { return db.feed }

// FeedWriter is this handle's number in the rows it writes, drawn at random when it opened: an engine
// tells the jobs other processes wrote (a standby host's enqueue) from its own.
func (db *DB) FeedWriter() uint64 { return db.feedWriter }

const changeLen = 17 // [id 8][module 8][state 1]

// NoteJob records that tx wrote job id (state "" : deleted), for the feed; later notes of one job
// in a transaction replace earlier ones. Nothing on a bbolt file, or in a read-only transaction.
func (tx *Tx) NoteJob(id, module uint64, state string) {
	if !tx.tx.db.feed || !tx.tx.Writable() {
		return
	}
	if tx.noted == nil {
		tx.noted = map[uint64]int{}
	}
	c := JobChange{ID: id, Module: module, State: state}
	if i, ok := tx.noted[id]; ok {
		tx.changes[i] = c
		return
	}
	tx.noted[id] = len(tx.changes)
	tx.changes = append(tx.changes, c)
}

// writeFeed appends tx's row, when it noted jobs, and now and then drops the rows past FeedKeep.
func (tx *Tx) writeFeed() error {
	if len(tx.changes) == 0 {
		return nil
	}
	b, err := tx.tx.CreateBucketIfNotExists(bucketFeed)
	if err != nil {
		return err
	}
	n, err := tx.commitNumber(b)
	if err != nil {
		return err
	}
	now := time.Now()
	v := make([]byte, feedHeader, feedHeader+changeLen*len(tx.changes))
	binary.BigEndian.PutUint64(v, uint64(now.UnixNano()))
	binary.BigEndian.PutUint64(v[8:], tx.tx.db.feedWriter)
	for _, c := range tx.changes {
		v = binary.BigEndian.AppendUint64(v, c.ID)
		v = binary.BigEndian.AppendUint64(v, c.Module)
		v = append(v, byte(slices.Index(JobStates, c.State)+1))
	}
	if err := b.Put(Key(n), v); err != nil {
		return err
	}
	db := tx.tx.db
	if last := db.feedPruned.Load(); now.UnixNano()-last < int64(feedPruneEvery) {
		return nil
	}
	more, err := tx.pruneFeed(b, now.Add(-FeedKeep))
	if err == nil && !more { // with more to drop, the next commit goes on
		db.feedPruned.Store(now.UnixNano())
	}
	return err
}

// commitNumber is the number tx commits as, the key of what it appends to b (the feed, the job
// requests): the generation after the one it began at (kv.Generational), so no sequence is written
// at every commit; else b's next sequence.
func (tx *Tx) commitNumber(b kv.Bucket) (uint64, error) {
	if g, ok := tx.tx.Tx.(kv.Generational); ok {
		return g.Generation() + 1, nil
	}
	return b.NextSequence()
}

// pruneFeed drops the rows written before cut, the oldest first, at most feedPruneMax of them, and
// notes the newest it dropped; more says it stopped at that bound.
func (tx *Tx) pruneFeed(b kv.Bucket, cut time.Time) (more bool, err error) {
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) >= cut.UnixNano() {
			break
		}
		if len(old) == feedPruneMax {
			more = true
			break
		}
		old = append(old, slices.Clone(k))
	}
	if len(old) == 0 {
		return false, nil
	}
	for _, k := range old { // after the walk: a cursor's Delete may move it past the next row
		if err := b.Delete(k); err != nil {
			return false, err
		}
	}
	return more, tx.bucket(bucketMeta).Put(keyFeedPruned, old[len(old)-1])
}

// FeedLast is the newest feed row tx's snapshot can hold (0: none yet): a reader that read
// everything in that snapshot reads the feed after it next time.
func FeedLast(tx *Tx) uint64 {
	if g, ok := tx.tx.Tx.(kv.Generational); ok {
		return g.Generation()
	}
	if b := tx.KV().Bucket(bucketFeed); b != nil {
		return b.Sequence()
	}
	return 0
}

// ReadFeed returns the job changes committed after row `after`, oldest first, and the newest row
// tx's snapshot can hold (FeedLast). ok is false when the feed may no longer hold every row after
// `after` (pruned past it, or the database was restored to an earlier point) or the database keeps
// none (a bbolt file): the reader must read everything.
func ReadFeed(tx *Tx, after uint64) (changes []JobChange, last uint64, ok bool) {
	if !tx.tx.db.feed {
		return nil, 0, false
	}
	last = FeedLast(tx)
	if last < after {
		return nil, 0, false // restored to an earlier point: the numbers may name other commits
	}
	if p := tx.KV().Bucket(bucketMeta).Get(keyFeedPruned); len(p) == 8 && KeyID(p) > after {
		return nil, 0, false
	}
	b := tx.KV().Bucket(bucketFeed)
	if b == nil || last == after {
		return nil, last, true
	}
	c := b.Cursor()
	for k, v := c.Seek(Key(after + 1)); k != nil; k, v = c.Next() {
		if len(v) < feedHeader || (len(v)-feedHeader)%changeLen != 0 {
			return nil, 0, false // not a row this build reads: read everything
		}
		writer := binary.BigEndian.Uint64(v[8:])
		for r := v[feedHeader:]; len(r) > 0; r = r[changeLen:] {
			ch := JobChange{ID: binary.BigEndian.Uint64(r), Module: binary.BigEndian.Uint64(r[8:]), Writer: writer}
			if s := int(r[16]); s > 0 && s <= len(JobStates) {
				ch.State = JobStates[s-1]
			}
			changes = append(changes, ch)
		}
	}
	return changes, last, true
}
