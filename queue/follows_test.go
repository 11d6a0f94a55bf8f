package queue

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store"
	"vmmpm/store/kv"
)

// followsKV is bbolt whose write transactions count the hint that another Update follows
// (kv.Follows), which bbolt itself has no use for.
type followsKV struct {
	kv.DB
	said atomic.Int64
}

type followsTx struct {
	kv.Tx
	said *atomic.Int64
}

func (t followsTx) UpdateFollows() { t.said.Add(1) }

func (f *followsKV) Update(fn func(kv.Tx) error) error {
	return f.DB.Update(func(t kv.Tx) error { return fn(followsTx{t, &f.said}) })
}

// TestCommitterSaysWhatFollows: a transaction written while more changes are pending says another
// follows (on PostgreSQL the commit then begins it); the last one, with nothing pending, does not.
func TestCommitterSaysWhatFollows(t *testing.T) {
	b, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f := &followsKV{DB: kv.Bolt(b)}
	db, err := store.OpenKV(f, "follows", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	noop := func(*store.Tx) error { return nil }
	second := &change{apply: noop, done: make(chan error, 1)}
	var c *committer
	updates := 0
	update := func(db *store.DB, fn func(*store.Tx) error) error {
		updates++
		if updates == 1 { // another change arrives while the first transaction is written
			c.submit(second)
		}
		return db.Update(fn)
	}
	c = newCommitter(db, update, func(*change, error) {}, func(*StorageFault, int) {})
	t.Cleanup(c.close)
	if err := c.commit(&change{apply: noop}); err != nil {
		t.Fatal(err)
	}
	// Waited for itself, not by a flush: a flush's change pending while the second is written would
	// make it say another follows (it would be right).
	if err := <-second.done; err != nil {
		t.Fatal(err)
	}
	if updates != 2 || f.said.Load() != 1 {
		t.Fatalf("%d transactions, %d said another follows; want 2, the first of them", updates, f.said.Load())
	}
}
