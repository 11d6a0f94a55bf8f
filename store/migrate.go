package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the version this build writes.
const SchemaVersion = 1

var keySchema = []byte("schema_version")

// migrations[i] takes a file from schema version i to i+1. Version 0 is an empty or pre-versioned file.
var migrations = []func(*bolt.Tx) error{
	0: createBuckets,
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketDataCenters, bucketDepartments, bucketModules,
		bucketTariffs, bucketServices, bucketJobs, bucketTasks} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

func schemaVersion(tx *bolt.Tx) uint64 {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0
	}
	v := b.Get(keySchema)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// migrate brings the file to SchemaVersion in one transaction, or refuses a newer file.
func (db *DB) migrate(readOnly bool) error {
	var have uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error { have = schemaVersion(tx); return nil })
	if have > SchemaVersion {
		return fmt.Errorf("database %s has schema version %d, newer than this vmmpm understands (%d); upgrade vmmpm", db.path, have, SchemaVersion)
	}
	if have == SchemaVersion {
		return nil
	}
	if readOnly {
		return fmt.Errorf("database %s has schema version %d and needs migrating to %d; open it once without read-only", db.path, have, SchemaVersion)
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for v := have; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrating database %s from schema %d: %w", db.path, v, err)
			}
		}
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, Key(SchemaVersion))
	})
}
