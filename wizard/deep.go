package wizard

import (
	"context"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// DeepTimeout bounds a whole read-only deep check (a dozen read-only calls).
var DeepTimeout = 2 * time.Minute

// DeepWriteTimeout bounds a deep check with write: a VM created, changed, restarted three times,
// reinstalled and deleted on a real VMmanager. Removing the VM after a failure has its own time on top.
var DeepWriteTimeout = time.Hour

// DeepWriteSpec is how the --write probes run for a module; tests shorten its waits.
var DeepWriteSpec = func(m *store.Module) vmm.WriteSpec {
	return vmm.WriteSpec{Cluster: m.Cluster.ID, AdditionalInterface: m.AdditionalInterface}
}

// DeepCheckStored runs the deep check against module id's VMmanager with its stored password and keeps
// the outcome with the module: read-only (vmm.DeepCheck), or with write also the --write probes on a
// throwaway VM on the module's cluster (vmm.DeepCheckWrite). The error is for a check that could not run
// (login refused, VMmanager unreachable, cancelled); differences are in the report.
func DeepCheckStored(ctx context.Context, db *store.DB, secrets store.Secrets, id uint64, write bool) (*vmm.Report, error) {
	m, err := store.Load[store.Module](db, id)
	if err != nil {
		return nil, err
	}
	c, err := storedClient(secrets, m)
	if err != nil {
		return nil, err
	}
	var rep vmm.Report
	if write {
		ctx, cancel := context.WithTimeout(ctx, DeepWriteTimeout)
		defer cancel()
		rep, err = vmm.DeepCheckWrite(ctx, c, DeepWriteSpec(m))
	} else {
		ctx, cancel := context.WithTimeout(ctx, DeepTimeout)
		defer cancel()
		rep, err = vmm.DeepCheck(ctx, c)
	}
	if err != nil {
		return &rep, &CheckError{Cause: Classify(err), Err: err, Module: id}
	}
	deep := &store.DeepCheck{At: time.Now().UTC(), OK: rep.OK, Probes: len(rep.Probes), Differs: rep.Differs(),
		Inconclusive: rep.Inconclusive(), Write: rep.Write}
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
