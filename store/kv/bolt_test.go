package kv_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"vmmpm/store/kv"
)

// openBolt is a real bbolt file in a temporary folder, as kv.DB.
func openBolt(t *testing.T) (kv.DB, *bolt.DB) {
	t.Helper()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := kv.Bolt(b)
	t.Cleanup(func() { _ = db.Close() })
	return db, b
}

func TestBoltBucketsAndErrors(t *testing.T) {
	db, _ := openBolt(t)
	err := db.Update(func(tx kv.Tx) error {
		if b := tx.Bucket([]byte("none")); b != nil {
			t.Errorf("a missing bucket is %#v, not an untyped nil", b)
		}
		if _, err := tx.CreateBucket([]byte("a")); err != nil {
			return err
		}
		_, err := tx.CreateBucket([]byte("a"))
		if !errors.Is(err, kv.ErrBucketExists) || !errors.Is(err, bolterrors.ErrBucketExists) {
			t.Errorf("a second CreateBucket: %v", err)
		}
		if err := tx.DeleteBucket([]byte("none")); !errors.Is(err, kv.ErrBucketNotFound) || !errors.Is(err, bolterrors.ErrBucketNotFound) {
			t.Errorf("DeleteBucket of a missing bucket: %v", err)
		}
		if _, err := tx.CreateBucketIfNotExists([]byte("b")); err != nil {
			return err
		}
		if b, err := tx.CreateBucketIfNotExists([]byte("a")); err != nil || b == nil {
			t.Errorf("CreateBucketIfNotExists of an existing bucket: %v, %v", b, err)
		}
		if !tx.Writable() {
			t.Error("an Update's transaction is not writable")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx kv.Tx) error {
		if tx.Writable() {
			t.Error("a View's transaction is writable")
		}
		var names []string
		_ = tx.ForEach(func(name []byte, b kv.Bucket) error {
			if b == nil {
				t.Errorf("ForEach gave bucket %s as nil", name)
			}
			names = append(names, string(name))
			return nil
		})
		if len(names) != 2 || names[0] != "a" || names[1] != "b" {
			t.Errorf("buckets %v, want [a b]", names)
		}
		err := tx.Bucket([]byte("a")).Put([]byte("k"), []byte("v"))
		if !errors.Is(err, kv.ErrTxNotWritable) || !errors.Is(err, bolterrors.ErrTxNotWritable) || err.Error() != bolterrors.ErrTxNotWritable.Error() {
			t.Errorf("a Put in a View: %v", err)
		}
		if _, err := tx.Bucket([]byte("a")).NextSequence(); !errors.Is(err, kv.ErrTxNotWritable) {
			t.Errorf("NextSequence in a View: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBoltKeysCursorsSequences(t *testing.T) {
	db, _ := openBolt(t)
	keys := []string{"a", "b", "c", "d"}
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		if n, err := b.NextSequence(); n != 1 || err != nil {
			t.Errorf("first NextSequence = %d, %v", n, err)
		}
		if err := b.SetSequence(41); err != nil {
			return err
		}
		if n, _ := b.NextSequence(); n != 42 || b.Sequence() != 42 {
			t.Errorf("after SetSequence(41): next %d, sequence %d", n, b.Sequence())
		}
		return b.Delete([]byte("b"))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("x"))
		if got := b.Get([]byte("c")); !bytes.Equal(got, []byte("vc")) || b.Get([]byte("b")) != nil {
			t.Errorf("Get c = %q, Get of the deleted b = %q", got, b.Get([]byte("b")))
		}
		if b.KeyN() != 3 {
			t.Errorf("KeyN = %d, want 3", b.KeyN())
		}
		c := b.Cursor()
		walk := func(k, _ []byte) string { return string(k) }
		if f, l := walk(c.First()), walk(c.Last()); f != "a" || l != "d" {
			t.Errorf("First %q, Last %q", f, l)
		}
		if p, n := walk(c.Prev()), walk(c.Next()); p != "c" || n != "d" {
			t.Errorf("Prev from d %q, then Next %q", p, n)
		}
		if k := walk(c.Next()); k != "" {
			t.Errorf("Next past the end = %q", k)
		}
		if k, v := c.Seek([]byte("b")); string(k) != "c" || string(v) != "vc" {
			t.Errorf("Seek b landed on %q=%q, want c", k, v)
		}
		if err := c.Delete(); err != nil {
			return err
		}
		var seen []string
		_ = b.ForEach(func(k, _ []byte) error { seen = append(seen, string(k)); return nil })
		if len(seen) != 2 || seen[0] != "a" || seen[1] != "d" {
			t.Errorf("after the cursor's Delete of c: %v", seen)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBoltRollsBackOnError: an Update whose fn fails commits nothing, as bbolt's.
func TestBoltRollsBackOnError(t *testing.T) {
	db, _ := openBolt(t)
	boom := errors.New("boom")
	err := db.Update(func(tx kv.Tx) error {
		_, _ = tx.CreateBucket([]byte("x"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	_ = db.View(func(tx kv.Tx) error {
		if tx.Bucket([]byte("x")) != nil {
			t.Error("a failed Update left its bucket")
		}
		return nil
	})
}

func TestRawBolt(t *testing.T) {
	db, raw := openBolt(t)
	if b, ok := kv.BoltFile(db); !ok || b != raw {
		t.Errorf("BoltFile = %p, %v; want %p", b, ok, raw)
	}
	_ = db.View(func(tx kv.Tx) error {
		if bt, ok := kv.RawBolt(tx); !ok || bt.DB() != raw || bt.Size() == 0 {
			t.Errorf("RawBolt = %v, %v", bt, ok)
		}
		return nil
	})
	if _, ok := kv.RawBolt(otherTx{}); ok {
		t.Error("RawBolt took another implementation's Tx for bbolt's")
	}
	_ = raw.View(func(bt *bolt.Tx) error {
		if got, _ := kv.RawBolt(kv.BoltTx(bt)); got != bt {
			t.Error("BoltTx does not wrap the transaction it is given")
		}
		return nil
	})
}

// otherTx stands for another implementation's transaction.
type otherTx struct{ kv.Tx }

// TestBoltWrappersAllocateNothing: the engine goes through these wrappers on every job write, so
// they cost no allocation beyond bbolt's own.
func TestBoltWrappersAllocateNothing(t *testing.T) {
	db, _ := openBolt(t)
	if err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("x"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx kv.Tx) error {
		bt, _ := kv.RawBolt(tx)
		raw := testing.AllocsPerRun(100, func() {
			b := bt.Bucket(name)
			_, _ = b.Get(key), b.Put(key, value)
			_, _ = b.Cursor().First()
		})
		wrapped := testing.AllocsPerRun(100, func() {
			b := tx.Bucket(name)
			_, _ = b.Get(key), b.Put(key, value)
			_, _ = b.Cursor().First()
		})
		// The one more is the cursor: bbolt's stays on the stack when it does not escape.
		if wrapped > raw+1 {
			t.Errorf("Bucket, Get, Put and a cursor: %v allocations through kv, %v on bbolt", wrapped, raw)
		}
		return nil
	})
}

// Keys on the heap, as the callers' are (store.Key returns a new slice).
var name, key, value = []byte("x"), []byte("k"), []byte("v")
