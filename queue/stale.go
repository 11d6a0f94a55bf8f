package queue

import (
	"context"
	"fmt"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// staleCallWait bounds a create call and a stale VM's removal once they no longer follow the
// attempt's context: the engine may be stopping (its lease lost), and their answers still matter.
const staleCallWait = time.Minute

// createHost makes the create call (MayCreate was asked just before). The call is seen through to
// its answer even when the engine stops meanwhile: a VM made and not known would be left behind,
// while a known one can be recorded, or removed by dropIfStale.
func (x *vmmExecutor) createHost(ctx context.Context, c *vmm.Client, op *Op, spec vmm.HostSpec) (vmm.Created, error) {
	op.e.fault(FaultBeforeCreate, op.Job.ID)
	if ep := op.e.epoch(op.Job.ModuleID); ep > 0 {
		spec.Comment = EpochMark(op.Service.ID, ep)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), staleCallWait)
	defer cancel()
	return c.CreateHost(cctx, spec)
}

// dropIfStale asks MayCreate again right after VMmanager made VM id. An engine that froze past its
// lease around the call made the VM under a stale epoch: another engine may have resumed the job
// meanwhile and made its own. The VM is removed unless the database already records it as the
// service's (the new holder found it by name and adopted it: removing it would destroy the live
// one). Either way the attempt ends with an error and records nothing: the engine stops on the lost
// lease, and the holder's resume finishes the open.
func (x *vmmExecutor) dropIfStale(ctx context.Context, c *vmm.Client, op *Op, name string, id uint64) error {
	lost := op.e.mayCreate(op.Job.ModuleID)
	if lost == nil {
		return nil
	}
	stale := &Error{Err: lost, Msg: fmt.Sprintf("VM %s (id %d) was made after this engine's lease lapsed; it stops, and the engine now holding the lease finishes the open", name, id), Retry: true}
	log := op.e.opt.Logger.With("job", op.Job.ID, "service", op.Service.ID, "vm", id)
	const what = "VM created under a stale engine lease"
	// The new holder may adopt the VM between this read and the delete (one request apart): its
	// open then finds the VM gone and makes a new one (adoptedGone), unless it finished entirely in
	// that window, which vmmpm reconcile reports (missing_vm); a removal that fails leaves a
	// duplicate it reports (duplicate_vm).
	recorded, err := op.e.recordedVM(op.Service.ID)
	switch {
	case err != nil:
		log.Warn(what+": left in VMmanager, since the database cannot be read to tell whether another engine adopted it; vmmpm reconcile reports it if it is a duplicate", "error", err.Error())
	case recorded == id:
		log.Warn(what + ": kept, since the database records it as the service's VM (the engine now holding the lease adopted it)")
	default:
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), staleCallWait)
		defer cancel()
		if _, err := c.DeleteHost(dctx, id); err != nil {
			log.Warn(what+": removing it failed; vmmpm reconcile reports it (duplicate_vm) and its remove_duplicate action deletes it", "recorded_vm", recorded, "error", vmm.Describe(err))
			return stale
		}
		log.Warn(what+": removed, since the database does not record it as the service's VM (another engine took the lease and runs the open)", "recorded_vm", recorded)
	}
	return stale
}

// recordedVM is the VM the database records for service id now (0: none).
func (e *Engine) recordedVM(id uint64) (uint64, error) {
	var vm uint64
	err := e.db.View(func(tx *store.Tx) error {
		s, err := store.Get[store.Service](tx, id)
		if err == nil {
			vm = s.VM.HostID
		}
		return err
	})
	return vm, err
}
