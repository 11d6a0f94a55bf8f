package kvtest_test

// boltDB is a minimal kv.DB over bbolt, so the suite is proven against bbolt itself before the
// store's own kv.Bolt is merged (bolt_test.go.pending); delete this file when it is.

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"vmmpm/store/kv"
	"vmmpm/store/kv/kvtest"
)

func TestBoltAdapter(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return boltDB{db}
	})
}

type boltDB struct{ db *bolt.DB }

func (d boltDB) View(fn func(kv.Tx) error) error {
	return d.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}
func (d boltDB) Update(fn func(kv.Tx) error) error {
	return d.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}
func (d boltDB) Close() error { return d.db.Close() }

func mapErr(err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTxNotWritable):
		return kv.ErrTxNotWritable
	case errors.Is(err, bolterrors.ErrBucketExists):
		return kv.ErrBucketExists
	case errors.Is(err, bolterrors.ErrBucketNotFound):
		return kv.ErrBucketNotFound
	}
	return err
}

type boltTx struct{ tx *bolt.Tx }

func (t boltTx) Bucket(name []byte) kv.Bucket {
	if b := t.tx.Bucket(name); b != nil {
		return boltBucket{b}
	}
	return nil
}
func (t boltTx) CreateBucket(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucket(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return boltBucket{b}, nil
}
func (t boltTx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, mapErr(err)
	}
	return boltBucket{b}, nil
}
func (t boltTx) DeleteBucket(name []byte) error { return mapErr(t.tx.DeleteBucket(name)) }
func (t boltTx) ForEach(fn func([]byte, kv.Bucket) error) error {
	return t.tx.ForEach(func(name []byte, b *bolt.Bucket) error { return fn(name, boltBucket{b}) })
}
func (t boltTx) Writable() bool { return t.tx.Writable() }

type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) Get(k []byte) []byte                      { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error                    { return mapErr(b.b.Put(k, v)) }
func (b boltBucket) Delete(k []byte) error                    { return mapErr(b.b.Delete(k)) }
func (b boltBucket) Cursor() kv.Cursor                        { return boltCursor{b.b.Cursor()} }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) Sequence() uint64                         { return b.b.Sequence() }
func (b boltBucket) SetSequence(v uint64) error               { return mapErr(b.b.SetSequence(v)) }
func (b boltBucket) NextSequence() (uint64, error) {
	n, err := b.b.NextSequence()
	return n, mapErr(err)
}
func (b boltBucket) KeyN() int { return b.b.Stats().KeyN }

type boltCursor struct{ c *bolt.Cursor }

func (c boltCursor) First() ([]byte, []byte)        { return c.c.First() }
func (c boltCursor) Last() ([]byte, []byte)         { return c.c.Last() }
func (c boltCursor) Next() ([]byte, []byte)         { return c.c.Next() }
func (c boltCursor) Prev() ([]byte, []byte)         { return c.c.Prev() }
func (c boltCursor) Seek(s []byte) ([]byte, []byte) { return c.c.Seek(s) }
func (c boltCursor) Delete() error                  { return mapErr(c.c.Delete()) }
