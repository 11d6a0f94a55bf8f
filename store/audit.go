package store

import (
	"encoding/json"
	"time"

	"vmmpm/store/kv"
)

// Outcomes of an audited change.
const (
	AuditOK      = "ok"      // done
	AuditRefused = "refused" // refused by a rule (bad input, a record that does not exist)
	AuditFailed  = "failed"  // tried and failed (VMmanager, the keyring, the disk)
)

// MaxAudit is how many audit entries are kept; older ones are dropped as new ones come.
const MaxAudit = 100_000

// AuditEntry is one change someone made: who, what, to what, and how it ended.
type AuditEntry struct {
	ID uint64    `json:"id"`
	At time.Time `json:"at"`
	// Actor is who acted as a log line names it: "token billing-prod", "uid 1000 (alice)".
	Actor string `json:"actor"`
	// Via is how the call came: "token" (the HTTPS API), "socket" (vmmpm serve), "process", "tui".
	Via     string `json:"via"`
	Action  string `json:"action"`           // "service.create", "tariff.save", "token.add", …
	Target  string `json:"target,omitempty"` // "service 12", "tariff 3", "token billing-prod"
	Outcome string `json:"outcome"`          // AuditOK, AuditRefused or AuditFailed
	Error   string `json:"error,omitempty"`  // the sentence of a refusal or failure
}

var bucketAudit = []byte("audit")

// AppendAudit stores entries under new ids and drops the oldest beyond MaxAudit.
func AppendAudit(tx *Tx, entries ...*AuditEntry) error {
	b, err := writeBucket(tx, bucketAudit)
	if err != nil {
		return err
	}
	var last uint64
	for _, e := range entries {
		if e.ID, err = b.NextSequence(); err != nil {
			return err
		}
		if err := putJSON(b, Key(e.ID), e); err != nil {
			return err
		}
		last = e.ID
	}
	if last <= MaxAudit {
		return nil
	}
	// ids are contiguous (only the oldest are ever removed), so the first key says how many are kept
	return deleteFirst(b, func(k []byte) bool { return KeyID(k)+MaxAudit <= last })
}

// deleteFirst removes the keys from b's first while old says so (collected first: a bbolt cursor may skip
// a key after a delete).
func deleteFirst(b kv.Bucket, old func(k []byte) bool) error {
	var drop [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && old(k); k, _ = c.Next() {
		drop = append(drop, append([]byte(nil), k...))
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// ReadAudit returns the newest limit entries (0: all) that match keep, oldest first.
func ReadAudit(tx *Tx, keep func(*AuditEntry) bool, limit int) ([]AuditEntry, error) {
	b := tx.tx.Bucket(bucketAudit)
	if b == nil {
		return []AuditEntry{}, nil
	}
	var out []AuditEntry
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		var e AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, unreadable(tx.tx, bucketAudit, k, err)
		}
		if keep == nil || keep(&e) {
			out = append(out, e)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}
