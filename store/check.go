package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store/kv"
)

// maxFindings bounds what one check lists: one bad page can make bbolt's check report hundreds.
const maxFindings = 20

// structure finds what is wrong with the file's structure: a missing record bucket, a page that cannot
// be read (every key and value is touched, each bucket on its own, so the bucket is named), and what
// bbolt's own consistency check reports. The walk comes first because bbolt checks on a goroutine of
// its own, where a fault on a wild page address could not be recovered.
func (db *DB) structure(tx *bolt.Tx) []*Damage {
	var out []*Damage
	for _, name := range recordBuckets {
		if tx.Bucket(name) == nil {
			out = append(out, &Damage{Path: db.path, Bucket: string(name), Cause: "the bucket is missing"})
		}
	}
	readable := true
	err := db.contain("", func() error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := db.contain(string(name), func() error { touch(b); return nil }); err != nil {
				out, readable = append(out, err.(*Damage)), false
			}
			return nil
		})
	})
	if err != nil {
		return append(out, err.(*Damage))
	}
	if !readable {
		return out
	}
	for err := range tx.Check() { // drained whole: the checker's goroutine waits on every send
		if len(out) < maxFindings {
			out = append(out, db.found(&Damage{Path: db.path, Cause: "bbolt's consistency check says " + err.Error()}))
		}
	}
	return out
}

// touch reads the first and last byte of every key and value under b, so a page that cannot be read
// faults here, under contain.
func touch(b *bolt.Bucket) byte {
	var sum byte
	_ = b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				sum ^= touch(nb)
			}
			return nil
		}
		sum ^= k[0] ^ k[len(k)-1]
		if len(v) > 0 {
			sum ^= v[0] ^ v[len(v)-1]
		}
		return nil
	})
	return sum
}

// missingBuckets refuses, at open, a file without one of the record buckets (a cheap look: every
// command would trip over it).
func (db *DB) missingBuckets() error {
	return db.kv.View(func(tx kv.Tx) error {
		for _, name := range recordBuckets {
			if tx.Bucket(name) == nil {
				return &Damage{Path: db.path, Bucket: string(name), Cause: "the bucket is missing"}
			}
		}
		return nil
	})
}

// verify walks the whole file and runs bbolt's check, once per handle, before the first write (Update)
// or when a command asks (Verified): a few tens of milliseconds for 100,000 jobs (BenchmarkOpenChecks),
// which a first frame that only reads does not pay. Damage it finds stops writes; reads meanwhile are
// contained by View's own recovery.
func (db *DB) verify() {
	db.verifyOnce.Do(func() {
		defer close(db.verified)
		var found []*Damage
		err := db.contain("", func() error {
			return db.bolt.View(func(tx *bolt.Tx) error { found = db.structure(tx); return nil })
		})
		if d, ok := err.(*Damage); ok {
			found = append(found, d)
		}
		if len(found) == 0 {
			return
		}
		d := *found[0]
		if len(found) > 1 {
			d.Cause += fmt.Sprintf(" (and %d more findings)", len(found)-1)
		}
		db.damage.Store(&d)
	})
	<-db.verified
}

// Verified checks the whole file (once per handle) and returns the damage found, or nil: commands
// call it before they act, so each says the one sentence on a damaged file.
func (db *DB) Verified() error {
	if db.verified != nil {
		db.verify()
	}
	if d := db.damage.Load(); d != nil {
		return d
	}
	return nil
}

// CheckReport is what CheckFile found: structural damage and records that do not decode or are not
// valid, at most 20 of them, and the records kept in quarantine.
type CheckReport struct {
	Path        string        `json:"path"`
	Damage      []*Damage     `json:"damage"`
	Quarantined []Quarantined `json:"quarantined"`
}

// Clean reports whether nothing is wrong and nothing is in quarantine.
func (r *CheckReport) Clean() bool { return len(r.Damage) == 0 && len(r.Quarantined) == 0 }

// recordKinds make an empty record of each record bucket, for the check to decode into.
var recordKinds = []func() Record{
	func() Record { return &DataCenter{} }, func() Record { return &Department{} },
	func() Record { return &Module{} }, func() Record { return &Tariff{} }, func() Record { return &Service{} },
	func() Record { return &Job{} }, func() Record { return &Task{} },
}

// CheckFile checks the database at path: opened read-only on its own, so the lock must be free (a
// running vmmpm serve holds it: ErrInUse). Beyond the structure, every record must decode and be valid;
// extra adds the checks of other packages' buckets (queue's index), run in the same transaction.
func CheckFile(path string, extra ...func(*Tx) []*Damage) (*CheckReport, error) {
	b, err := openBolt(path, Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return nil, err
	}
	db := &DB{kv: kv.Bolt(b), bolt: b, path: path, readOnly: true}
	defer db.Close()
	rep := &CheckReport{Path: path, Damage: []*Damage{}, Quarantined: []Quarantined{}}
	err = db.contain("", func() error {
		return b.View(func(tx *bolt.Tx) error {
			if rep.Damage = append(rep.Damage, db.structure(tx)...); len(rep.Damage) > 0 {
				return nil // records are read only from a sound tree
			}
			stx := db.tx(kv.BoltTx(tx))
			rep.Damage = append(rep.Damage, checkRecords(stx)...)
			for _, fn := range extra {
				rep.Damage = append(rep.Damage, fn(stx)...)
			}
			if len(rep.Damage) > maxFindings {
				rep.Damage = rep.Damage[:maxFindings]
			}
			rep.Quarantined, err = QuarantinedRecords(stx)
			return err
		})
	})
	if d, ok := err.(*Damage); ok {
		rep.Damage, err = append(rep.Damage, d), nil
	}
	return rep, err
}

// checkRecords decodes and validates every record of every kind.
func checkRecords(tx *Tx) []*Damage {
	var out []*Damage
	for _, kind := range recordKinds {
		name := kind().Bucket()
		b := tx.tx.Bucket(name)
		if b == nil {
			continue // reported by structure
		}
		_ = b.ForEach(func(k, v []byte) error {
			r := kind()
			if err := json.Unmarshal(v, r); err != nil {
				out = append(out, unreadable(tx.tx, name, k, err).(*Damage))
			} else if err := r.Validate(); err != nil {
				out = append(out, &Damage{Path: tx.tx.db.path, Bucket: string(name), Key: keyText(k), Record: true,
					Cause: "its record is not valid (" + err.Error() + ")"})
			}
			if len(out) >= maxFindings {
				return errEnough
			}
			return nil
		})
	}
	return out
}

var errEnough = fmt.Errorf("enough findings")
