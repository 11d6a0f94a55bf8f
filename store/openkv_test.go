package store_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// openRawKV is a bbolt file opened by hand and wrapped as a plain kv.DB, which OpenKV cannot tell
// from any other implementation.
func openRawKV(t *testing.T, path string) kv.DB {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return kv.Bolt(b)
}

// TestOpenKV: a database on a kv.DB is created, written and read as a file is, keeps its records
// across a reopen, and refuses what only a file can do with one sentence naming it.
func TestOpenKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := store.OpenKV(openRawKV(t, path), "pg://vmmpm", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dc := &store.DataCenter{Name: "Frankfurt"}
	if err := db.Save(dc); err != nil {
		t.Fatal(err)
	}
	if db.Path() != "pg://vmmpm" || db.BoltFile() != nil || db.ReadOnly() {
		t.Errorf("Path %q, BoltFile %v, ReadOnly %v", db.Path(), db.BoltFile(), db.ReadOnly())
	}
	if err := db.Verified(); err != nil {
		t.Errorf("Verified on a kv database: %v", err)
	}
	_, err = db.Backup(filepath.Join(t.TempDir(), "copy.db"), false)
	if err == nil || !strings.Contains(err.Error(), "database pg://vmmpm is not a bbolt file") || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Backup of a kv database: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Close closed the kv.DB: the file's lock is free for the next open.
	db, err = store.OpenKV(openRawKV(t, path), "pg://vmmpm", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := store.Load[store.DataCenter](db, dc.ID)
	if err != nil || got.Name != "Frankfurt" {
		t.Fatalf("the data center after a reopen: %+v, %v", got, err)
	}
	var ve *store.ValidationError
	if err := db.Save(&store.DataCenter{}); !errors.As(err, &ve) {
		t.Errorf("a data center without a name on a kv database: %v", err)
	}
}

// TestOpenKVRefusesForeign: a kv database holding another program's buckets is refused untouched,
// and the kv.DB is closed with the refusal.
func TestOpenKVRefusesForeign(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	k := openRawKV(t, path)
	if err := k.Update(func(tx kv.Tx) error { _, err := tx.CreateBucket([]byte("etcd")); return err }); err != nil {
		t.Fatal(err)
	}
	_, err := store.OpenKV(k, "pg://other", store.Options{})
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), `database pg://other`) || !strings.Contains(err.Error(), `"etcd"`) {
		t.Fatalf("a foreign kv database: %v", err)
	}
	k = openRawKV(t, path) // the refusal closed it, or this would time out on the lock
	defer k.Close()
	_ = k.View(func(tx kv.Tx) error {
		if tx.Bucket([]byte("meta")) != nil {
			t.Error("the refused database was written to")
		}
		return nil
	})
}
