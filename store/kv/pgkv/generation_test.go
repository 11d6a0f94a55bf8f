package pgkv_test

import (
	"context"
	"testing"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
	"vmmpm/store/kv/pgkv"
)

// generationOf is the Generation a transaction of db began at (kv.Generational).
func generationOf(t *testing.T, tx kv.Tx) uint64 {
	t.Helper()
	g, ok := tx.(kv.Generational)
	if !ok {
		t.Fatal("a pgkv transaction is no kv.Generational")
	}
	return g.Generation()
}

// TestWriteCommitsAsTheNextGeneration: whichever handle (host) writes, a write transaction commits
// as the generation after the one it began at (one begun in the round trip of the commit before it
// too, chain.go), and a View that begins after it sees that one: the
// job feed keys its rows by it, with no sequence of its own.
func TestWriteCommitsAsTheNextGeneration(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	for i, db := range []*pgkv.DB{a, b, b, a, a} {
		var began uint64
		if err := db.Update(func(tx kv.Tx) error {
			began = generationOf(t, tx)
			if i == 3 {
				tx.(kv.Follows).UpdateFollows() // write 4 begins in the round trip that commits this one
			}
			bk, err := tx.CreateBucketIfNotExists([]byte("g"))
			if err != nil {
				return err
			}
			return bk.Put([]byte{byte(i)}, []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
		var stored int64
		if err := a.Pool().QueryRow(context.Background(), `SELECT gen FROM kv_meta WHERE id = 1`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if uint64(stored) != began+1 {
			t.Errorf("write %d began at generation %d and committed as %d, want %d", i, began, stored, began+1)
		}
		for _, r := range []*pgkv.DB{a, b} {
			if err := r.View(func(tx kv.Tx) error {
				if g := generationOf(t, tx); g != began+1 {
					t.Errorf("a View after write %d sees generation %d, want %d", i, g, began+1)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
