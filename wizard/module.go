package wizard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// CheckModule logs in to the module's VMmanager with password as step 3 did, requires @admin, and
// confirms the module's cluster is still listed. The check describes the outcome either way; the
// error is a *CheckError when the login failed, or a plain sentence when the cluster is gone.
func CheckModule(ctx context.Context, m *store.Module, password string) (*store.Check, error) {
	chk := &store.Check{At: time.Now().UTC()}
	in := Integration{URL: m.URL, Username: m.Username, InsecureTLS: m.InsecureTLS, TLSPin: m.TLSPin, CAFile: m.TLSCAFile}
	res, err := CheckIntegration(ctx, in, password)
	var ce *CheckError
	if errors.As(err, &ce) {
		ce.Module = m.ID
	}
	if err != nil {
		chk.Message = err.Error()
		return chk, err
	}
	for _, c := range res.Clusters {
		if c.ID == m.Cluster.ID {
			chk.OK = true
			chk.Message = fmt.Sprintf("logged in to %s as administrator %s; cluster %q (%s) is there",
				res.URL, m.Username, c.Name, strings.ToUpper(c.Virtualization))
			return chk, nil
		}
	}
	chk.Message = fmt.Sprintf("logged in to %s, but VMmanager no longer lists cluster %q (id %d): add a module for an existing cluster",
		res.URL, m.Cluster.Name, m.Cluster.ID)
	return chk, errors.New(chk.Message)
}

// RecordCheck stores chk as module id's last check, on the record as it is now.
func RecordCheck(db *store.DB, id uint64, chk *store.Check) error {
	return db.Update(func(tx *store.Tx) error {
		m, err := store.Get[store.Module](tx, id)
		if err != nil {
			return err
		}
		m.LastCheck = chk
		return tx.Put(m)
	})
}

// CheckStored is `module check` and the TUI's t: check module id with its stored password and record
// the result. The error is the check's failure, or else the failure to record it; a missing module
// wraps store.ErrNotFound. The database stays usable during the login (no transaction is held).
func CheckStored(ctx context.Context, db *store.DB, secrets store.Secrets, id uint64) (*store.Check, error) {
	m, err := store.Load[store.Module](db, id)
	if err != nil {
		return nil, err
	}
	password, err := secrets.Get(id)
	if err != nil {
		return nil, err
	}
	chk, checkErr := CheckModule(ctx, m, password)
	if err := RecordCheck(db, id, chk); err != nil && checkErr == nil {
		return chk, err
	}
	return chk, checkErr
}

// RemoveModule deletes module id and its password, both or neither: the keyring call runs inside the
// transaction, so a keyring failure keeps the module. It refuses while the module has jobs that may
// still run or while live services are bound to it (store.ModuleRemovable). The jobs are read from the file, which every enqueue writes in the same transaction that
// reads the module, so the answer holds whether or not an engine runs in this process. Tariffs that
// still list the module come back as warnings (module selection skips a missing module).
func RemoveModule(db *store.DB, secrets store.Secrets, id uint64) (warnings []string, err error) {
	err = db.Update(func(tx *store.Tx) error {
		if _, err := store.Get[store.Module](tx, id); err != nil {
			return err
		}
		busy, err := queue.UnfinishedJobs(tx, id)
		if err != nil {
			return err
		}
		if len(busy) > 0 {
			return invalid(store.FieldRecord, "module %d still has %d unfinished operation(s), the first is job %d; wait for them or cancel them first",
				id, len(busy), busy[0])
		}
		if err := store.ModuleRemovable(tx, id); err != nil {
			return err
		}
		if warnings, err = tariffsListing(tx, id); err != nil {
			return err
		}
		if err := tx.Delete(&store.Module{ID: id}); err != nil {
			return err
		}
		if err := secrets.Delete(id); err != nil && !errors.Is(err, store.ErrSecretNotFound) {
			return fmt.Errorf("module %d was not removed: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// tariffsListing warns about each tariff whose module list names module id.
func tariffsListing(tx *store.Tx, id uint64) ([]string, error) {
	var out []string
	err := store.Each(tx, func(t *store.Tariff) bool {
		for _, m := range t.ModuleIDs {
			if m == id {
				out = append(out, fmt.Sprintf("tariff %q (id %d) still lists module %d; it is skipped when choosing a module", t.Name, t.ID, id))
			}
		}
		return true
	})
	return out, err
}
