package kvtest_test

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store/kv"
	"vmmpm/store/kv/kvtest"
)

// TestBolt proves the bbolt implementation against the kv conformance suite (the PostgreSQL one will run it too).
func TestBolt(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return kv.Bolt(db)
	})
}
