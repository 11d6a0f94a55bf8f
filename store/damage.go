package store

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// Damage is damage found in the database file, named: the file and, where known, the bucket and key.
// It matches ErrDamaged. A Record damage is one record that does not decode: the file's structure is
// sound, so writing elsewhere stays safe and the record can be quarantined (quarantine.go). Any other
// damage (a page that cannot be read, a missing bucket, what bbolt's check reports) makes the handle
// refuse every later write: writing into a broken tree spreads the damage.
type Damage struct {
	Path   string `json:"path"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
	Cause  string `json:"cause"`
	Record bool   `json:"record,omitempty"`
}

func (d *Damage) Error() string {
	return fmt.Sprintf("database %s is damaged%s: %s; run vmmpm check to see all of it, and restore it from a backup (vmmpm backup)",
		d.Path, d.Where(), d.Cause)
}

// Where is ` in bucket "jobs", key 3`, or less when the place is not known.
func (d *Damage) Where() string {
	switch {
	case d.Bucket != "" && d.Key != "":
		return fmt.Sprintf(" in bucket %q, key %s", d.Bucket, d.Key)
	case d.Bucket != "":
		return fmt.Sprintf(" in bucket %q", d.Bucket)
	}
	return ""
}

func (d *Damage) Is(target error) bool { return target == ErrDamaged }

// keyText shows a record key as its id, any other key quoted.
func keyText(k []byte) string {
	if len(k) == 8 {
		return strconv.FormatUint(KeyID(k), 10)
	}
	return strconv.Quote(string(k))
}

// Unreadable is the damage of a record under k in bucket that does not decode, for the packages that
// keep buckets of their own.
func Unreadable(tx *Tx, bucket, k []byte, err error) error {
	return unreadable(tx.tx, bucket, k, err)
}

// unreadable is the damage of a record under k in bucket that does not decode.
func unreadable(tx boundTx, bucket, k []byte, err error) error {
	return &Damage{Path: tx.db.path, Bucket: string(bucket), Key: keyText(k), Record: true,
		Cause: "its record cannot be decoded (" + err.Error() + ")"}
}

// Damaged is the damage this handle has found that stops it writing, or nil.
func (db *DB) Damaged() *Damage { return db.damage.Load() }

// refusal is the error of a write refused because of found damage, or nil.
func (db *DB) refusal() error {
	d := db.damage.Load()
	if d == nil {
		return nil
	}
	r := *d
	r.Cause += ", so nothing more is written to it"
	return &r
}

// found records d as damage that stops writes (the first one found is kept) and returns it.
func (db *DB) found(d *Damage) *Damage {
	db.damage.CompareAndSwap(nil, d)
	return d
}

// contain runs fn (a transaction), turning a fault or panic raised inside bbolt (a damaged page) or
// a missing bucket (Tx.bucket) into a Damage that also stops later writes. A panic of our own code is no damage of
// the file: it goes on up, with its stack, to the entry point's crash report.
func (db *DB) contain(bucket string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if m, ok := p.(missingBucket); ok {
			err = db.found(&Damage{Path: db.path, Bucket: string(m), Cause: "the bucket is missing"})
			return
		}
		stack := debug.Stack()
		if !wildRead(p) && !panickedInBolt(stack) {
			panic(fmt.Sprintf("%v\n\n%s", p, stack))
		}
		err = db.found(&Damage{Path: db.path, Bucket: bucket, Cause: panicCause(p).Error()})
	}()
	return fn()
}

// wildRead reports whether p is a memory fault far from nil: a read through a damaged page's offsets,
// whoever read the bytes (a decoder over a value bbolt handed out, say). A nil dereference is left to
// panickedInBolt: in our own code it is a bug.
func wildRead(p any) bool {
	a, ok := p.(interface{ Addr() uintptr })
	return ok && a.Addr() >= 4096
}

// panickedInBolt reports whether the first frame below the panic that is not the runtime's is bbolt's.
func panickedInBolt(stack []byte) bool {
	past := false
	for l := range strings.SplitSeq(string(stack), "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "goroutine "):
		case strings.HasPrefix(l, "panic("):
			past = true
		case past && !strings.HasPrefix(l, "runtime."):
			return strings.HasPrefix(l, "go.etcd.io/bbolt")
		}
	}
	return false
}
