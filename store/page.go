package store

import (
	"encoding/json"
)

// EachAfter calls fn for every record of kind T with an id above after, in id order, until fn returns false.
func EachAfter[T any, P recordPtr[T]](tx *Tx, after uint64, fn func(P) bool) error {
	c := tx.tx.Bucket(P(new(T)).Bucket()).Cursor()
	for k, v := c.Seek(Key(after + 1)); k != nil; k, v = c.Next() {
		p := P(new(T))
		if err := json.Unmarshal(v, p); err != nil {
			return unreadable(tx.tx, p.Bucket(), k, err)
		}
		if !fn(p) {
			return nil
		}
	}
	return nil
}
