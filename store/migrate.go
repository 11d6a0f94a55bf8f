package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"

	"vmmpm/store/kv"
)

// SchemaVersion is the version this build writes.
const SchemaVersion = 1

var keySchema = []byte("schema_version")

// migrations[i] takes a file from schema version i to i+1; len(migrations) == SchemaVersion.
// Version 0 is an empty file or one written before the schema was versioned.
// To change the schema: append a step, bump SchemaVersion, and add a test that builds the old file by hand.
var migrations = []func(kv.Tx) error{
	0: createBuckets,
}

// recordBuckets are the buckets of schema version 1.
var recordBuckets = [][]byte{bucketMeta, bucketDataCenters, bucketDepartments, bucketModules,
	bucketTariffs, bucketServices, bucketJobs, bucketTasks}

func createBuckets(tx kv.Tx) error {
	for _, name := range recordBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// fileState is what migrate needs to know about a file before deciding to touch it.
type fileState struct {
	version   uint64
	badMeta   string // why the meta bucket is unreadable, if it is
	foreign   []string
	needBytes int64 // bytes the meta page says the file holds (0: no bbolt file)
}

func inspect(tx kv.Tx) fileState {
	var st fileState
	if bt, ok := kv.RawBolt(tx); ok {
		st.needBytes = bt.Size()
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		st.foreign = foreignBuckets(tx)
		return st
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		st.badMeta = "its meta bucket has no readable schema version"
		return st
	}
	st.version = binary.BigEndian.Uint64(v)
	return st
}

// foreignBuckets lists top-level buckets a pre-versioned vmmpm file cannot have: such a file belongs to
// another program, and adding our buckets to it would damage it.
func foreignBuckets(tx kv.Tx) []string {
	known := map[string]bool{}
	for _, b := range recordBuckets {
		known[string(b)] = true
	}
	var out []string
	_ = tx.ForEach(func(name []byte, _ kv.Bucket) error {
		if !known[string(name)] {
			out = append(out, fmt.Sprintf("%q", name))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// migrate brings the file to SchemaVersion in one transaction, or refuses it without writing.
func (db *DB) migrate(readOnly bool) error {
	var st fileState
	if err := db.kv.View(func(tx kv.Tx) error { st = inspect(tx); return nil }); err != nil {
		return damaged(db.path, err)
	}
	if err := db.refuse(st); err != nil {
		return err
	}
	if st.version == SchemaVersion {
		return nil
	}
	if readOnly {
		return fmt.Errorf("database %s has schema version %d and needs migrating to %d; open it once without read-only", db.path, st.version, SchemaVersion)
	}
	return db.kv.Update(func(tx kv.Tx) error {
		for v := st.version; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrating database %s from schema %d failed (%v) and nothing was changed; report this with the file kept aside", db.path, v, err)
			}
		}
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, Key(SchemaVersion))
	})
}

// refuse says why a file must not be opened, before anything is written to it.
func (db *DB) refuse(st fileState) error {
	if fi, err := os.Stat(db.path); db.bolt != nil && err == nil && fi.Size() < st.needBytes {
		return damaged(db.path, fmt.Errorf("file is %d bytes, its header says %d: truncated", fi.Size(), st.needBytes))
	}
	if st.badMeta != "" {
		return damaged(db.path, fmt.Errorf("%s", st.badMeta))
	}
	if len(st.foreign) > 0 {
		what := "it is a bbolt file"
		if db.bolt == nil {
			what = "it is a key/value database"
		}
		return damaged(db.path, fmt.Errorf("%s with other buckets: %s", what, strings.Join(st.foreign, ", ")))
	}
	if st.version > SchemaVersion {
		return &classedError{class: ErrNewerSchema, msg: fmt.Sprintf("database %s has schema version %d, newer than this vmmpm understands (%d); upgrade vmmpm to open it", db.path, st.version, SchemaVersion)}
	}
	return nil
}
