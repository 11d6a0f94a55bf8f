// Package kv is the ordered key/value layer the store, the queue's indexes and the other packages'
// buckets are written against. It is bbolt's model (named buckets of byte keys kept in byte order, a
// sequence per bucket, any number of readers and one writer at a time), so the code written for bbolt
// runs unchanged on either implementation: bbolt itself (Bolt, the default) and PostgreSQL (package
// pgkv, for several hosts on one database).
//
// A read cannot return an error here, as in bbolt. An implementation whose reads can fail (PostgreSQL:
// a lost connection) returns nil from the read and makes the whole transaction fail: View and Update
// return that error and Update commits nothing, so no decision taken on the missing value survives.
package kv

import "errors"

// DB opens transactions.
type DB interface {
	// View runs fn in a read-only transaction that sees one consistent snapshot.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committed only if fn returns nil. Writers run one
	// at a time, whichever process or host they are in.
	Update(fn func(Tx) error) error
	Close() error
}

// Tx is one transaction. Its buckets and cursors are valid only until it ends.
type Tx interface {
	// Bucket is the named bucket, or nil when it does not exist.
	Bucket(name []byte) Bucket
	CreateBucket(name []byte) (Bucket, error)
	CreateBucketIfNotExists(name []byte) (Bucket, error)
	DeleteBucket(name []byte) error
	// ForEach calls fn for every bucket in name order.
	ForEach(fn func(name []byte, b Bucket) error) error
	Writable() bool
}

// Follows is what a write Tx may also be: told that its caller runs another Update as soon as this
// one commits, an implementation whose transactions cost round trips (pgkv) begins that one in the
// round trip that commits this one. A hint only: neither transaction sees or writes anything else.
type Follows interface {
	UpdateFollows()
}

// Generational is what a Tx may also be: Generation is how many write transactions the database had
// committed when this one began (pgkv's kv_meta generation). Writers run one at a time, so a write
// transaction commits as Generation()+1: a log keyed by it is in commit order with no sequence to
// write, and a reader's snapshot holds every entry up to its Generation.
type Generational interface {
	Generation() uint64
}

// Bucket is an ordered collection of key/value pairs. Buckets do not nest.
type Bucket interface {
	// Get is the value at key, or nil.
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	Cursor() Cursor
	// ForEach calls fn for every pair in key order; fn must not change the bucket.
	ForEach(fn func(k, v []byte) error) error
	Sequence() uint64
	SetSequence(v uint64) error
	NextSequence() (uint64, error)
	// KeyN is the number of keys.
	KeyN() int
}

// Cursor walks a bucket in key order. Each move returns the pair it lands on, or nil, nil past an end.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
	// Seek lands on the first key at or after seek.
	Seek(seek []byte) (k, v []byte)
	// Delete removes the pair the cursor is on; the cursor stays where it was.
	Delete() error
}

// Errors the implementations return for misuse, for errors.Is.
var (
	ErrBucketExists   = errors.New("bucket already exists")
	ErrBucketNotFound = errors.New("bucket not found")
	ErrTxNotWritable  = errors.New("transaction not writable")
)
