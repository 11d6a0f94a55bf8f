package store

import (
	"encoding/binary"
	"encoding/json"
	"time"
)

// KeepIdempotent is how long an idempotency key is remembered (at least the 24 h billing may retry for).
const KeepIdempotent = 48 * time.Hour

// MaxIdempotencyKey bounds the Idempotency-Key a caller may send.
const MaxIdempotencyKey = 255

// Idempotent is the first answer to a call made with an idempotency key: a retry with the same key and
// the same request gets Result again instead of a second change.
type Idempotent struct {
	Scope string `json:"scope"` // who sent the key: keys of different callers never meet
	Key   string `json:"key"`
	// Request is a digest of the call and its body: the same key with another request is refused.
	Request string          `json:"request"`
	Call    string          `json:"call"` // what it was, for a refusal's sentence ("POST /api/v1/services")
	Result  json.RawMessage `json:"result"`
	At      time.Time       `json:"at"`
}

var (
	bucketIdempotency = []byte("idempotency")         // scope \0 key → record
	bucketIdemByTime  = []byte("idempotency_by_time") // unix nanos, scope \0 key → nothing (pruning order)
)

func idemKey(scope, key string) []byte { return []byte(scope + "\x00" + key) }

// GetIdempotent is the record of key for scope, or nil.
func GetIdempotent(tx *Tx, scope, key string) (*Idempotent, error) {
	b := tx.tx.Bucket(bucketIdempotency)
	if b == nil {
		return nil, nil
	}
	v := b.Get(idemKey(scope, key))
	if v == nil {
		return nil, nil
	}
	r := new(Idempotent)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, unreadable(tx.tx, bucketIdempotency, idemKey(scope, key), err)
	}
	return r, nil
}

// PutIdempotent stores r and forgets a few records older than KeepIdempotent (each write prunes a
// little, so the bucket stays bounded by what 48 h of calls leave).
func PutIdempotent(tx *Tx, r *Idempotent) error {
	b, err := writeBucket(tx, bucketIdempotency)
	if err != nil {
		return err
	}
	bt, err := writeBucket(tx, bucketIdemByTime)
	if err != nil {
		return err
	}
	k := idemKey(r.Scope, r.Key)
	if err := putJSON(b, k, r); err != nil {
		return err
	}
	if err := bt.Put(append(binary.BigEndian.AppendUint64(nil, uint64(r.At.UnixNano())), k...), nil); err != nil {
		return err
	}
	cut := uint64(r.At.Add(-KeepIdempotent).UnixNano())
	var drop [][]byte
	c := bt.Cursor()
	for tk, _ := c.First(); tk != nil && len(drop) < 16 && binary.BigEndian.Uint64(tk[:8]) < cut; tk, _ = c.Next() {
		drop = append(drop, append([]byte(nil), tk...))
	}
	for _, tk := range drop {
		if err := bt.Delete(tk); err != nil {
			return err
		}
		if err := b.Delete(tk[8:]); err != nil {
			return err
		}
	}
	return nil
}
