package kv

import (
	"errors"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// The bbolt implementation. Each wrapper is a struct of one pointer, so turning it into the interface
// allocates nothing: the engine's hot path goes through these on every job write.

type boltDB struct{ db *bolt.DB }

// Bolt is db as a DB.
func Bolt(db *bolt.DB) DB { return boltDB{db} }

func (d boltDB) View(fn func(Tx) error) error {
	return d.db.View(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (d boltDB) Update(fn func(Tx) error) error {
	return d.db.Update(func(t *bolt.Tx) error { return fn(boltTx{t}) })
}

func (d boltDB) Close() error { return d.db.Close() }

// BoltFile is the bbolt handle under db, for the file-only features; ok is false for another DB.
func BoltFile(db DB) (b *bolt.DB, ok bool) {
	d, ok := db.(boltDB)
	return d.db, ok
}

type boltTx struct{ tx *bolt.Tx }

// BoltTx is tx as a Tx, for code holding a bbolt transaction of its own (a benchmark's bare committer).
func BoltTx(tx *bolt.Tx) Tx { return boltTx{tx} }

// RawBolt is the bbolt transaction under tx, for what only bbolt has (Size, WriteTo, Check); ok is
// false for another implementation's.
func RawBolt(tx Tx) (t *bolt.Tx, ok bool) {
	b, ok := tx.(boltTx)
	return b.tx, ok
}

// bucket wraps b, keeping a missing bucket an untyped nil, which callers test.
func bucket(b *bolt.Bucket) Bucket {
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func (t boltTx) Bucket(name []byte) Bucket { return bucket(t.tx.Bucket(name)) }

func (t boltTx) CreateBucket(name []byte) (Bucket, error) {
	b, err := t.tx.CreateBucket(name)
	return bucket(b), mapErr(err)
}

func (t boltTx) CreateBucketIfNotExists(name []byte) (Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	return bucket(b), mapErr(err)
}

func (t boltTx) DeleteBucket(name []byte) error { return mapErr(t.tx.DeleteBucket(name)) }

func (t boltTx) ForEach(fn func(name []byte, b Bucket) error) error {
	return t.tx.ForEach(func(name []byte, b *bolt.Bucket) error { return fn(name, boltBucket{b}) })
}

func (t boltTx) Writable() bool { return t.tx.Writable() }

type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) Get(key []byte) []byte                    { return b.b.Get(key) }
func (b boltBucket) Put(key, value []byte) error              { return mapErr(b.b.Put(key, value)) }
func (b boltBucket) Delete(key []byte) error                  { return mapErr(b.b.Delete(key)) }
func (b boltBucket) Cursor() Cursor                           { return boltCursor{b.b.Cursor()} }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) Sequence() uint64                         { return b.b.Sequence() }
func (b boltBucket) SetSequence(v uint64) error               { return mapErr(b.b.SetSequence(v)) }

func (b boltBucket) NextSequence() (uint64, error) {
	n, err := b.b.NextSequence()
	return n, mapErr(err)
}

// KeyN walks the whole bucket (bbolt keeps no count): call it only where a count is needed.
func (b boltBucket) KeyN() int { return b.b.Stats().KeyN }

type boltCursor struct{ c *bolt.Cursor }

func (c boltCursor) First() ([]byte, []byte)           { return c.c.First() }
func (c boltCursor) Last() ([]byte, []byte)            { return c.c.Last() }
func (c boltCursor) Next() ([]byte, []byte)            { return c.c.Next() }
func (c boltCursor) Prev() ([]byte, []byte)            { return c.c.Prev() }
func (c boltCursor) Seek(seek []byte) ([]byte, []byte) { return c.c.Seek(seek) }
func (c boltCursor) Delete() error                     { return mapErr(c.c.Delete()) }

// boltErr is one of bbolt's misuse errors that kv names too: errors.Is matches both, and the text
// stays bbolt's.
type boltErr struct{ kv, bolt error }

func (e boltErr) Error() string   { return e.bolt.Error() }
func (e boltErr) Unwrap() []error { return []error{e.kv, e.bolt} }

// mapErr gives bbolt's bucket and transaction errors kv's names; any other error passes as it is.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range [...]struct{ bolt, kv error }{
		{bolterrors.ErrBucketExists, ErrBucketExists},
		{bolterrors.ErrBucketNotFound, ErrBucketNotFound},
		{bolterrors.ErrTxNotWritable, ErrTxNotWritable},
	} {
		if errors.Is(err, m.bolt) {
			return boltErr{kv: m.kv, bolt: err}
		}
	}
	return err
}
