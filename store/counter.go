package store

import (
	"encoding/binary"
)

// Counter reads a named number kept in the meta bucket (0 when never written).
func (db *DB) Counter(name string) (uint64, error) {
	var v uint64
	err := db.View(func(tx *Tx) error {
		if b := tx.bucket(bucketMeta).Get([]byte("counter:" + name)); len(b) == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		return nil
	})
	return v, err
}

// SetCounter durably writes a named number to the meta bucket.
func (db *DB) SetCounter(name string, v uint64) error {
	return db.Update(func(tx *Tx) error {
		return tx.bucket(bucketMeta).Put([]byte("counter:"+name), binary.BigEndian.AppendUint64(nil, v))
	})
}
