package store

import (
	"encoding/json"
	"time"
)

// bucketQuarantine keeps the records taken out of their bucket because they do not decode: what they
// held, where they were, why and when, and the service they belonged to, which needs a reconcile look
// (vmmpm reconcile) since its history lost a record.
var bucketQuarantine = []byte("quarantine")

// Quarantined is one record kept in quarantine.
type Quarantined struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	Cause     string    `json:"cause"`
	At        time.Time `json:"at"`
	ServiceID uint64    `json:"service_id,omitempty"`
	ModuleID  uint64    `json:"module_id,omitempty"`
	// Raw is the record's bytes as they were found, kept for whoever restores it by hand.
	Raw []byte `json:"raw,omitempty"`
}

// Quarantine moves the record under id in q.Bucket into the quarantine (nothing is lost: its bytes go
// with it); q says why and, when known, the service and module it belonged to.
func Quarantine(tx *Tx, id uint64, q Quarantined) error {
	b := tx.tx.Bucket([]byte(q.Bucket))
	if b == nil {
		return &Damage{Path: tx.tx.db.path, Bucket: q.Bucket, Cause: "the bucket is missing"}
	}
	q.Key, q.Raw = keyText(Key(id)), append([]byte(nil), b.Get(Key(id))...)
	qb, err := tx.tx.CreateBucketIfNotExists(bucketQuarantine)
	if err != nil {
		return err
	}
	seq, err := qb.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(q)
	if err != nil {
		return err
	}
	if err := qb.Put(Key(seq), v); err != nil {
		return err
	}
	return b.Delete(Key(id))
}

// QuarantinedRecords lists the quarantine, oldest first.
func QuarantinedRecords(tx *Tx) ([]Quarantined, error) {
	out := []Quarantined{}
	b := tx.tx.Bucket(bucketQuarantine)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var q Quarantined
		if err := json.Unmarshal(v, &q); err != nil {
			return unreadable(tx.tx, bucketQuarantine, k, err)
		}
		out = append(out, q)
		return nil
	})
	return out, err
}
