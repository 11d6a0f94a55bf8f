package queue

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// quarantinedError is what fill returns for a job whose record does not decode: the record has been
// moved to store's quarantine and the engine goes on without it (setFatalLocked ignores it).
type quarantinedError struct{ msg string }

func (e *quarantinedError) Error() string { return e.msg }

func isQuarantined(err error) bool {
	var q *quarantinedError
	return errors.As(err, &q)
}

// quarantine takes js out of the scheduler, and its record, index and scheduling entries and counts out
// of the file, into store's quarantine with the service and module its scheduling entry names, so that
// service is flagged for a reconcile look (vmmpm check lists it). One bad record stops nothing else
// (e.mu held).
func (e *Engine) quarantine(js *jobState, d *store.Damage) error {
	id, state := js.job.ID, js.lastState
	q := store.Quarantined{Bucket: d.Bucket, Cause: d.Cause, At: e.opt.Now(), ServiceID: js.job.ServiceID, ModuleID: js.job.ModuleID}
	e.c.submit(&change{apply: func(tx *store.Tx) error { return quarantineJob(tx, id, q) }})
	e.rm.mu.Lock()
	e.rm.move(id, state, "")
	e.rm.mu.Unlock()
	e.log.Warn("job record quarantined", "job", id, "service", q.ServiceID, "module", q.ModuleID, "cause", d.Cause)
	e.kick(e.removeJob(js)...)
	return &quarantinedError{fmt.Sprintf("job %d cannot be read from %s (%s), so it was put in quarantine and the engine goes on without it; vmmpm check lists it, and service %d needs a look with vmmpm reconcile",
		id, d.Path, d.Cause, q.ServiceID)}
}

// quarantineJob moves job id's record into the quarantine and drops the queue's entries for it.
func quarantineJob(tx *store.Tx, id uint64, q store.Quarantined) error {
	if err := store.Quarantine(tx, id, q); err != nil {
		return err
	}
	return dropEntries(tx.KV(), id)
}

// QuarantineUnreadable moves every job record that does not decode into the quarantine, in one
// transaction, with the service and module the queue's entries know (a finished job's index entry
// knows only its module): what the engine does for the jobs it runs, for finished ones too (vmmpm
// check --quarantine). No engine may hold the file meanwhile; a file whose structure is damaged
// refuses the write. It returns how many it moved.
func QuarantineUnreadable(db *store.DB, now time.Time) (int, error) {
	n := 0
	err := db.Update(func(tx *store.Tx) error {
		bt := tx.KV()
		name := (&store.Job{}).Bucket()
		var bad []*store.Damage
		var ids []uint64
		c := tx.MustBucket(name).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var j store.Job
			if err := json.Unmarshal(v, &j); err != nil && len(k) == 8 {
				bad, ids = append(bad, store.Unreadable(tx, name, k, err).(*store.Damage)), append(ids, store.KeyID(k))
			}
		}
		for i, id := range ids {
			q := store.Quarantined{Bucket: string(name), Cause: bad[i].Cause, At: now}
			q.ServiceID, q.ModuleID = ownerOf(bt, id)
			if err := quarantineJob(tx, id, q); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// ownerOf is the service and module of job id as its scheduling entry says (unfinished), or the
// module alone as its index entry says.
func ownerOf(bt kv.Tx, id uint64) (service, module uint64) {
	if u := bt.Bucket(bucketUnfinished); u != nil {
		if j, ok := schedJob(id, u.Get(store.Key(id))); ok {
			return j.ServiceID, j.ModuleID
		}
	}
	if idx := bt.Bucket(bucketIndex); idx != nil {
		if v := idx.Get(store.Key(id)); len(v) == 9 {
			return 0, binary.BigEndian.Uint64(v[1:])
		}
	}
	return 0, 0
}

// dropEntries removes what the queue keeps beside job id: its index entry (and its count), its
// scheduling entry.
func dropEntries(bt kv.Tx, id uint64) error {
	if b := bt.Bucket(bucketIndex); b != nil {
		k := store.Key(id)
		if v := bytes.Clone(entryOf(schedGet(bt.Bucket(bucketUnfinished)), k, b.Get(k))); len(v) == 9 {
			if cb := bt.Bucket(bucketCounts); cb != nil {
				if err := addCount(cb, v, -1); err != nil {
					return err
				}
			}
			if err := b.Delete(store.Key(id)); err != nil {
				return err
			}
		}
	}
	if u := bt.Bucket(bucketUnfinished); u != nil {
		return u.Delete(store.Key(id))
	}
	return nil
}

// CheckIndex is vmmpm check's look at the queue's buckets (store.CheckFile runs it): every index
// entry names a job record, and every scheduling entry has an index entry.
func CheckIndex(tx *store.Tx) []*store.Damage {
	var out []*store.Damage
	bt := tx.KV()
	jobs := bt.Bucket((&store.Job{}).Bucket())
	idx := bt.Bucket(bucketIndex)
	bad := func(bucket, k []byte, cause string) {
		key := fmt.Sprintf("%q", k)
		if len(k) == 8 {
			key = fmt.Sprint(store.KeyID(k))
		}
		out = append(out, &store.Damage{Path: tx.Path(), Bucket: string(bucket), Key: key, Cause: cause})
	}
	if idx != nil && jobs != nil {
		_ = idx.ForEach(func(k, _ []byte) error {
			if jobs.Get(k) == nil {
				bad(bucketIndex, k, "the index names a job that has no record")
			}
			return nil
		})
	}
	if u := bt.Bucket(bucketUnfinished); u != nil {
		_ = u.ForEach(func(k, _ []byte) error {
			if idx == nil || idx.Get(k) == nil {
				bad(bucketUnfinished, k, "a scheduling entry has no index entry")
			}
			return nil
		})
	}
	return out
}

// crashed, deferred at the top of an engine goroutine, turns its panic into a crash report and stops
// the engine with the report's sentence (Run returns it): the job it ran stays running in the file and
// is resumed at the next start, as after any crash. If the code that panicked left the scheduler's
// lock held, nothing in this process can go on: it says the sentence and exits 1.
func (e *Engine) crashed() {
	err := store.Recovered(recover())
	if err == nil {
		return
	}
	e.wg.Done() // the attempt it ran: Run's end waits for no worker that is gone
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if e.mu.TryLock() {
			e.setFatalLocked(err)
			e.mu.Unlock()
			return
		}
	}
	fmt.Fprintln(os.Stderr, "vmmpm: "+err.Error())
	os.Exit(1)
}
