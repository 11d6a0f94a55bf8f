package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"vmmpm/store/kv"
)

// Roles of an API token, each allowing what the one before it does and more.
const (
	RoleReader   = "reader"   // reads services, jobs, tariffs, modules and the figures
	RoleOperator = "operator" // also creates services and runs operations on them
	RoleAdmin    = "admin"    // also changes modules and tariffs
)

// Roles lists every role, weakest first.
var Roles = []string{RoleReader, RoleOperator, RoleAdmin}

// RoleAllows reports whether a token of role have may do what needs role need.
func RoleAllows(have, need string) bool {
	h, n := slices.Index(Roles, have), slices.Index(Roles, need)
	return h >= 0 && n >= 0 && h >= n
}

// Token is an HTTPS API token. Only its hash is kept: the token itself is shown once, when it is made.
type Token struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Hash      string    `json:"hash,omitempty"` // hex SHA-256 of the token
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// Expired reports whether the token no longer opens the API at now.
func (t *Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Validate checks the name (letters, digits, '-', '_', '.', so it reads plainly in logs) and the role.
func (t *Token) Validate() error {
	if err := checkName("name", t.Name); err != nil {
		return err
	}
	for _, r := range t.Name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return invalid("name", "may hold only letters, digits, '-', '_' and '.'")
		}
	}
	if !slices.Contains(Roles, t.Role) {
		return invalid("role", "must be reader, operator or admin")
	}
	if len(t.Hash) != sha256.Size*2 {
		return invalid("hash", "must be a SHA-256 in hex")
	}
	return nil
}

// HashToken is what the database keeps of a token: tokens are 256 random bits, so one SHA-256 is enough.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

var (
	bucketTokens      = []byte("tokens")
	bucketTokenHashes = []byte("token_hashes") // hash → id
)

// writeBucket is bucket name, created when missing (tx must be writable).
func writeBucket(tx *Tx, name []byte) (kv.Bucket, error) {
	return tx.tx.CreateBucketIfNotExists(name)
}

// AddToken stores t under a new id; names are unique (in any case).
func AddToken(tx *Tx, t *Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	existing, err := Tokens(tx)
	if err != nil {
		return err
	}
	for _, o := range existing {
		if equalFoldName(o.Name, t.Name) {
			return invalid("name", "must be unique: token %q exists (vmmpm token rm %s first to replace it)", o.Name, o.Name)
		}
	}
	b, err := writeBucket(tx, bucketTokens)
	if err != nil {
		return err
	}
	h, err := writeBucket(tx, bucketTokenHashes)
	if err != nil {
		return err
	}
	if t.ID, err = b.NextSequence(); err != nil {
		return err
	}
	if err := putJSON(b, Key(t.ID), t); err != nil {
		return err
	}
	return h.Put([]byte(t.Hash), Key(t.ID))
}

// FindToken is the token whose hash is hash, or an error wrapping ErrNotFound.
func FindToken(tx *Tx, hash string) (*Token, error) {
	h := tx.tx.Bucket(bucketTokenHashes)
	if h == nil {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	id := h.Get([]byte(hash))
	if id == nil {
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	return getToken(tx, KeyID(id))
}

func getToken(tx *Tx, id uint64) (*Token, error) {
	b := tx.tx.Bucket(bucketTokens)
	if b == nil {
		return nil, fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	v := b.Get(Key(id))
	if v == nil {
		return nil, fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	t := new(Token)
	if err := json.Unmarshal(v, t); err != nil {
		return nil, unreadable(tx.tx, bucketTokens, Key(id), err)
	}
	return t, nil
}

// Tokens lists every token in id order.
func Tokens(tx *Tx) ([]*Token, error) {
	b := tx.tx.Bucket(bucketTokens)
	if b == nil {
		return nil, nil
	}
	var out []*Token
	err := b.ForEach(func(k, v []byte) error {
		t := new(Token)
		if err := json.Unmarshal(v, t); err != nil {
			return unreadable(tx.tx, bucketTokens, k, err)
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// RemoveToken deletes the token called name (in any case) and returns it.
func RemoveToken(tx *Tx, name string) (*Token, error) {
	ts, err := Tokens(tx)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if !equalFoldName(t.Name, name) {
			continue
		}
		if err := tx.tx.Bucket(bucketTokens).Delete(Key(t.ID)); err != nil {
			return nil, err
		}
		if h := tx.tx.Bucket(bucketTokenHashes); h != nil {
			if err := h.Delete([]byte(t.Hash)); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	return nil, &ValidationError{Field: FieldRecord, Rule: fmt.Sprintf("there is no token %q; see vmmpm token list", name)}
}

// TouchToken records that token id was used at at (nothing when it is gone).
func TouchToken(tx *Tx, id uint64, at time.Time) error {
	t, err := getToken(tx, id)
	if err != nil {
		return nil
	}
	t.LastUsed = at
	b, err := writeBucket(tx, bucketTokens)
	if err != nil {
		return err
	}
	return putJSON(b, Key(id), t)
}

func putJSON(b kv.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func equalFoldName(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
