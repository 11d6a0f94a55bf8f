package pgkv_test

import (
	"context"
	"errors"
	"testing"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
	"vmmpm/store/kv/pgkv"
)

// TestWriterCacheSeesOtherWriters: a writer answers Gets and bucket lookups from what it read and
// wrote before only while nobody else wrote in between. Another handle's write (another host), a
// dropped bucket, and a rolled-back transaction each must show in the next Update.
func TestWriterCacheSeesOtherWriters(t *testing.T) {
	url := pgtest.URL(t)
	open := func() *pgkv.DB {
		db, err := pgkv.Open(context.Background(), url, pgkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	a, b := open(), open()
	put := func(db *pgkv.DB, v string) {
		t.Helper()
		if err := db.Update(func(tx kv.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("k"), []byte(v))
		}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(db *pgkv.DB) (v string, exists bool) {
		t.Helper()
		if err := db.Update(func(tx kv.Tx) error {
			bk := tx.Bucket([]byte("b"))
			if exists = bk != nil; exists {
				v = string(bk.Get([]byte("k")))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v, exists
	}
	put(a, "1")
	if v, _ := get(a); v != "1" {
		t.Fatalf("a reads %q after writing 1", v)
	}
	put(b, "2") // another host writes between two of a's transactions
	if v, _ := get(a); v != "2" {
		t.Errorf("a reads %q after b wrote 2: its cache outlived another writer", v)
	}
	put(a, "3")
	if err := b.Update(func(tx kv.Tx) error { return tx.DeleteBucket([]byte("b")) }); err != nil {
		t.Fatal(err)
	}
	if _, exists := get(a); exists {
		t.Error("a still sees the bucket b dropped")
	}
	put(a, "4")
	boom := errors.New("rolled back")
	if err := a.Update(func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("b")).Put([]byte("k"), []byte("never")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if v, _ := get(a); v != "4" {
		t.Errorf("a reads %q after a rolled-back write over 4", v)
	}
	if v, _ := get(b); v != "4" {
		t.Errorf("b reads %q, want 4", v)
	}
}
