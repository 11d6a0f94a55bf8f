package wizard

import (
	"errors"

	"vmmpm/store"
)

// Which write of an atomic save failed.
const (
	PartDatabase = "database"
	PartKeyring  = "keyring"
)

// SaveError says which of the two writes failed. Whichever it was, nothing of the module was kept.
type SaveError struct {
	Part string // PartDatabase or PartKeyring
	Err  error
	// Cleanup is set when the password, stored before the database commit failed, could not be removed.
	Cleanup error
}

func (e *SaveError) Error() string {
	msg := "nothing was saved because the " + e.Part + " failed: " + e.Err.Error()
	if e.Cleanup != nil {
		msg += "; removing the password from the keyring again also failed (" + e.Cleanup.Error() + ")"
	}
	return msg
}

func (e *SaveError) Unwrap() error { return e.Err }

// Save writes the module to the database and its password to secrets, both or neither. The keyring call
// runs inside the database transaction after the id is assigned: if it fails the transaction is rolled
// back; if the commit then fails the password is deleted again. The draft is re-validated against the
// database inside the same transaction, so a name taken meanwhile is still refused.
func Save(db *store.DB, secrets store.Secrets, d *Draft, password string) (*store.Module, error) {
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	m := d.Module()
	stored := false
	err := db.Update(func(tx *store.Tx) error {
		cat, err := CatalogTx(tx)
		if err != nil {
			return &SaveError{Part: PartDatabase, Err: err}
		}
		if err := cat.Validate(d); err != nil {
			return err
		}
		if err := tx.Put(m); err != nil {
			return &SaveError{Part: PartDatabase, Err: err}
		}
		if err := secrets.Set(m.ID, password); err != nil {
			forgetLate(secrets, m.ID, err)
			return &SaveError{Part: PartKeyring, Err: err}
		}
		stored = true
		return nil
	})
	switch {
	case err == nil:
		return m, nil
	case stored:
		return nil, &SaveError{Part: PartDatabase, Err: err, Cleanup: secrets.Delete(m.ID)}
	}
	var se *SaveError
	var ve *store.ValidationError
	if errors.As(err, &se) || errors.As(err, &ve) {
		return nil, err
	}
	return nil, &SaveError{Part: PartDatabase, Err: err}
}

// forgetLate removes a password whose Set timed out: the keyring call may still complete after we gave up.
func forgetLate(secrets store.Secrets, id uint64, err error) {
	if errors.Is(err, store.ErrSecretTimeout) {
		_ = secrets.Delete(id)
	}
}
