// Package damagetest damages a closed vmmpm database the ways a disk or a careless hand does, for the
// tests that prove damage is named and contained: a record overwritten with garbage, a bucket deleted,
// a data page overwritten.
package damagetest

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store/kv"
)

// Record overwrites the value under key id in bucket with bytes that are not JSON.
func Record(t testing.TB, path, bucket string, id uint64) {
	t.Helper()
	update(t, path, func(tx kv.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			t.Fatalf("damagetest: no bucket %q in %s", bucket, path)
		}
		return b.Put(binary.BigEndian.AppendUint64(nil, id), []byte("\x00garbage{{"))
	})
}

// DeleteBucket removes bucket and everything in it.
func DeleteBucket(t testing.TB, path, bucket string) {
	t.Helper()
	update(t, path, func(tx kv.Tx) error { return tx.DeleteBucket([]byte(bucket)) })
}

// Page overwrites the body of a leaf page of bucket (its first, when the bucket spans several pages),
// keeping the page header so bbolt still takes it for a leaf and reads the garbage as its elements.
// It returns the page id. The bucket must be big enough to have pages of its own (not inline).
func Page(t testing.TB, path, bucket string) uint64 {
	t.Helper()
	var root uint64
	var pageSize int
	db := open(t, path)
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			t.Fatalf("damagetest: no bucket %q in %s", bucket, path)
		}
		root, pageSize = uint64(b.Root()), db.Info().PageSize
		return nil
	})
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatalf("damagetest: bucket %q is inline (too small to have a page)", bucket)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	leaf := firstLeaf(t, f, root, pageSize)
	garbage := make([]byte, pageSize-pageHeader)
	for i := range garbage {
		garbage[i] = byte(0xA5 ^ i)
	}
	if _, err := f.WriteAt(garbage, int64(leaf)*int64(pageSize)+pageHeader); err != nil {
		t.Fatal(err)
	}
	return leaf
}

// bbolt's page layout: id u64, flags u16, count u16, overflow u32; a branch element is pos u32,
// ksize u32, pgid u64.
const (
	pageHeader = 16
	branchFlag = 0x01
	leafFlag   = 0x02
)

// firstLeaf walks from page id down the first branch element of each branch page to a leaf.
func firstLeaf(t testing.TB, f *os.File, id uint64, pageSize int) uint64 {
	t.Helper()
	for range 16 {
		hdr := make([]byte, pageHeader+16)
		if _, err := f.ReadAt(hdr, int64(id)*int64(pageSize)); err != nil {
			t.Fatal(err)
		}
		switch flags := binary.LittleEndian.Uint16(hdr[8:10]); {
		case flags&leafFlag != 0:
			return id
		case flags&branchFlag != 0:
			id = binary.LittleEndian.Uint64(hdr[pageHeader+8 : pageHeader+16])
		default:
			t.Fatalf("damagetest: page %d is neither a branch nor a leaf (flags %#x)", id, flags)
		}
	}
	t.Fatal("damagetest: no leaf within 16 levels")
	return 0
}

func open(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("damagetest: open %s: %v (is it still open in a vmmpm?)", path, err)
	}
	return db
}

// update runs fn on the closed file at path, through kv as the store writes it.
func update(t testing.TB, path string, fn func(kv.Tx) error) {
	t.Helper()
	db := kv.Bolt(open(t, path))
	err := db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}
