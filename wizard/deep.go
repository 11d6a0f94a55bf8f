package wizard

import (
	"context"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// DeepTimeout bounds a whole deep check (a dozen read-only calls).
var DeepTimeout = 2 * time.Minute

// DeepCheckStored runs the read-only deep check (vmm.DeepCheck) against module id's VMmanager with
// its stored password and keeps the outcome with the module. The error is for a check that could not
// run (login refused, VMmanager unreachable); differences are in the report.
func DeepCheckStored(ctx context.Context, db *store.DB, secrets store.Secrets, id uint64) (*vmm.Report, error) {
	m, err := store.Load[store.Module](db, id)
	if err != nil {
		return nil, err
	}
	c, err := storedClient(secrets, m)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DeepTimeout)
	defer cancel()
	rep, err := vmm.DeepCheck(ctx, c)
	if err != nil {
		return &rep, &CheckError{Cause: Classify(err), Err: err}
	}
	deep := &store.DeepCheck{At: time.Now().UTC(), OK: rep.OK, Probes: len(rep.Probes), Differs: rep.Differs()}
	err = db.Update(func(tx *store.Tx) error {
		m, err := store.Get[store.Module](tx, id)
		if err != nil {
			return err
		}
		m.LastDeep = deep
		return tx.Put(m)
	})
	return &rep, err
}
