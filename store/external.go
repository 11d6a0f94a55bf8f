package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxExternalID bounds a service's external id (a billing system's own id for it).
const MaxExternalID = 128

var bucketExternalIDs = []byte("service_external_ids") // external id → service id

// CheckExternalID refuses an external id billing cannot mean: blank, too long, or with control characters.
func CheckExternalID(ext string) error {
	switch {
	case strings.TrimSpace(ext) == "":
		return invalid("external_id", "must not be blank (leave it out for none)")
	case utf8.RuneCountInString(ext) > MaxExternalID:
		return invalid("external_id", "must be at most %d characters", MaxExternalID)
	case strings.IndexFunc(ext, unicode.IsControl) >= 0:
		return invalid("external_id", "must not hold control characters")
	}
	return nil
}

// ServiceByExternalID is the id of the service billing calls ext, or 0.
func ServiceByExternalID(tx *Tx, ext string) uint64 {
	if b := tx.tx.Bucket(bucketExternalIDs); b != nil {
		if v := b.Get([]byte(ext)); len(v) == 8 {
			return KeyID(v)
		}
	}
	return 0
}

// SetExternalID gives service id the external id ext, which no other service may have, and returns
// the service as it now is.
func SetExternalID(tx *Tx, id uint64, ext string) (*Service, error) {
	if err := CheckExternalID(ext); err != nil {
		return nil, err
	}
	if other := ServiceByExternalID(tx, ext); other != 0 && other != id {
		return nil, &ValidationError{Field: "external_id", Rule: fmt.Sprintf("%q is already service %d's; look it up with GET /api/v1/services?external_id=%s instead of ordering it again", ext, other, ext)}
	}
	s, err := Get[Service](tx, id)
	if err != nil {
		return nil, err
	}
	s.ExternalID = ext
	if err := tx.Put(s); err != nil {
		return nil, err
	}
	b, err := writeBucket(tx, bucketExternalIDs)
	if err != nil {
		return nil, err
	}
	return s, b.Put([]byte(ext), Key(id))
}
