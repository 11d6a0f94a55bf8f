package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// bucketSecretChecks maps webhook id → the check of its secret (SecretCheck), kept apart from the
// record so that no listing, JSON output or socket answer carries it.
var bucketSecretChecks = []byte("webhook_secret_checks")

// SecretCheck is what the database keeps to tell whether a host's copy of a webhook's secret is the
// one billing checks signatures with: an HMAC-SHA256, keyed by the secret, of a fixed text. Like a
// token's hash it holds nothing that signs: a generated secret is 256 random bits.
func SecretCheck(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("vmmpm webhook secret check"))
	return hex.EncodeToString(m.Sum(nil))
}

// SetWebhookSecretCheck records the check of webhook id's secret.
func SetWebhookSecretCheck(tx *Tx, id uint64, check string) error {
	b, err := writeBucket(tx, bucketSecretChecks)
	if err != nil {
		return err
	}
	return b.Put(Key(id), []byte(check))
}

// WebhookSecretCheck is the check of webhook id's secret; "" for a webhook added before vmmpm kept
// them (any secret then passes).
func WebhookSecretCheck(tx *Tx, id uint64) string {
	if b := tx.tx.Bucket(bucketSecretChecks); b != nil {
		return string(b.Get(Key(id)))
	}
	return ""
}

// SecretMatches says whether secret is webhook id's as its check records it (true without a check).
func SecretMatches(tx *Tx, id uint64, secret string) bool {
	check := WebhookSecretCheck(tx, id)
	return check == "" || hmac.Equal([]byte(check), []byte(SecretCheck(secret)))
}

func deleteSecretCheck(tx *Tx, id uint64) error {
	if b := tx.tx.Bucket(bucketSecretChecks); b != nil {
		return b.Delete(Key(id))
	}
	return nil
}

// SecretMatches is SecretMatches read from db (true when it cannot be read: the check only keeps a
// wrong secret out, and a damaged database is reported elsewhere).
func (db *DB) SecretMatches(id uint64, secret string) bool {
	ok := true
	_ = db.View(func(tx *Tx) error { ok = SecretMatches(tx, id, secret); return nil })
	return ok
}
