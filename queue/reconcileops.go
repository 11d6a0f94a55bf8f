package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"vmmpm/store"
	"vmmpm/vmm"
)

// reconcile runs a store.OpReconcile job. Each action first reads what VMmanager holds now, since the
// scan that proposed it may be minutes old: an action whose finding has gone away does nothing (and
// says so), and one whose premise no longer holds is refused without touching VMmanager.
func (x *vmmExecutor) reconcile(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	action := op.Job.Args[ArgAction]
	vmID, _ := strconv.ParseUint(op.Job.Args[ArgVMID], 10, 64)
	s := &op.Service
	switch action {
	case RcImport:
		return x.rcImport(ctx, c, op, vmID)
	case RcRemoveDup:
		return x.rcRemoveDup(ctx, c, op, vmID)
	case RcReopen:
		return x.rcReopen(ctx, c, op)
	case RcMarkDeleted:
		if err := x.rcGone(ctx, c, op); err != nil {
			return Result{}, err
		}
		op.Logf("VM %d of service %d is gone from VMmanager; the service is now deleted", s.VM.HostID, s.ID)
		return Result{Service: func(s *store.Service) {
			s.Status = store.ServiceDeleted
			s.VM.IPv4, s.VM.IPv6 = nil, nil
		}}, nil
	case RcStartVM, RcStopVM:
		want, task, call, state := store.ServiceActive, vmm.TaskHostStart, c.StartHost, "active"
		if action == RcStopVM {
			want, task, call, state = store.ServiceSuspended, vmm.TaskHostStop, c.StopHost, "stopped"
		}
		if s.Status != want {
			return Result{}, permanent(fmt.Errorf("service %d is %s now, so its VM is left as it is; scan again (vmmpm reconcile)", s.ID, s.Status))
		}
		return x.simple(ctx, c, op, task, stateIs(state), call, "")
	case RcDeleteVM:
		return x.rcDeleteVM(ctx, c, op, vmID)
	case RcTakeState:
		return x.rcTakeState(ctx, c, op, vmID)
	case RcTakeResources:
		h, err := hostOrGone(ctx, c, op)
		if err != nil {
			return Result{}, err
		}
		op.Logf("service %d takes VM %d's sizes: %d CPU, %d MiB RAM, a %d MiB disk, addresses %v", s.ID, h.ID, h.CPU, h.RAMMiB, h.DiskMiB, h.IPv4)
		return Result{Service: func(s *store.Service) { takeSizes(s, h) }}, nil
	case RcTakeOwner:
		h, err := hostOrGone(ctx, c, op)
		if err != nil {
			return Result{}, err
		}
		email, err := c.AccountEmail(ctx, h.Account)
		if err != nil {
			return Result{}, err
		}
		op.Logf("service %d now belongs to %s (VMmanager account %d), as its VM %d does; it was %s", s.ID, email, h.Account, h.ID, s.ClientEmail)
		return Result{Service: func(s *store.Service) { s.ClientEmail, s.VM.AccountID = email, h.Account }}, nil
	}
	return Result{}, permanent(fmt.Errorf("unknown reconcile action %q", action))
}

// takeSizes records what VMmanager holds of the VM in the service.
func takeSizes(s *store.Service, h *vmm.Host) {
	s.VM.HostID, s.VM.AccountID = h.ID, h.Account
	s.VM.IPv4, s.VM.IPv6, s.VM.DiskMiB, s.VM.CPU, s.VM.RAMMiB = h.IPv4, h.IPv6, h.DiskMiB, h.CPU, h.RAMMiB
}

// StatusOfState is the service status a VM's state stands for ("": neither running nor stopped).
func StatusOfState(state string) string {
	switch state {
	case "active":
		return store.ServiceActive
	case "stopped":
		return store.ServiceSuspended
	}
	return ""
}

func (x *vmmExecutor) rcImport(ctx context.Context, c *vmm.Client, op *Op, vmID uint64) (Result, error) {
	h, err := c.Host(ctx, vmID)
	if errors.Is(err, vmm.ErrNotFound) {
		return Result{}, permanent(fmt.Errorf("VM %d is no longer in VMmanager, so service %d has no VM; mark it deleted (vmmpm reconcile fix --action mark_deleted)", vmID, op.Service.ID))
	}
	if err != nil {
		return Result{}, err
	}
	if h.Cluster != 0 && h.Cluster != op.Module.Cluster.ID {
		return Result{}, permanent(fmt.Errorf("VM %d is on cluster %d, not module %d's cluster %d; it was not imported", h.ID, h.Cluster, op.Module.ID, op.Module.Cluster.ID))
	}
	status := StatusOfState(h.State)
	if status == "" {
		err := fmt.Errorf("VM %d is %s; waiting until it runs or is stopped", h.ID, h.State)
		return Result{}, &Error{Err: err, Msg: err.Error(), Retry: true}
	}
	email := op.Service.ClientEmail
	if e, err := c.AccountEmail(ctx, h.Account); err == nil && e != "" {
		email = e
	}
	op.Logf("imported VM %d %q (%s, %d CPU, %d MiB RAM, a %d MiB disk, addresses %v) for %s", h.ID, h.Name, h.State, h.CPU, h.RAMMiB, h.DiskMiB, h.IPv4, email)
	module := op.Module.ID
	return Result{Service: func(s *store.Service) {
		takeSizes(s, h)
		s.Status, s.ClientEmail, s.ModuleID = status, email, module
	}}, nil
}

// claimedVMs are the VMs service s holds now: the one it records (when VMmanager has it) and those named
// for it; keep is the one that stays (the recorded one, else the oldest).
func claimedVMs(ctx context.Context, c *vmm.Client, s *store.Service) (all []vmm.Host, keep *vmm.Host, err error) {
	named, err := c.HostsNamed(ctx, VMName(s.ID))
	if err != nil {
		return nil, nil, err
	}
	if s.VM.HostID != 0 {
		h, err := c.Host(ctx, s.VM.HostID)
		switch {
		case err == nil:
			all = append(all, *h)
			keep = &all[0]
		case !errors.Is(err, vmm.ErrNotFound):
			return nil, nil, err
		}
	}
	for _, h := range named {
		if h.ID != s.VM.HostID {
			all = append(all, h)
		}
	}
	if keep == nil && len(all) > 0 {
		keep = &all[0] // HostsNamed is lowest id first
	}
	return all, keep, nil
}

func (x *vmmExecutor) rcRemoveDup(ctx context.Context, c *vmm.Client, op *Op, vmID uint64) (Result, error) {
	s := &op.Service
	if resumed, err := x.resumeTask(ctx, c, op, vmm.TaskHostDelete); err != nil || resumed {
		return Result{}, err
	}
	if vmID == s.VM.HostID {
		return Result{}, permanent(fmt.Errorf("VM %d is the one service %d records, so it stays; nothing was deleted", vmID, s.ID))
	}
	all, keep, err := claimedVMs(ctx, c, s)
	if err != nil {
		return Result{}, err
	}
	var dup *vmm.Host
	for i := range all {
		if all[i].ID == vmID {
			dup = &all[i]
		}
	}
	switch {
	case dup == nil:
		op.Logf("VM %d is no longer a VM of service %d (gone, or renamed); nothing to delete", vmID, s.ID)
		return Result{}, nil
	case dup.ID == keep.ID:
		return Result{}, permanent(fmt.Errorf("VM %d is the only or oldest VM of service %d, so it stays; nothing was deleted", vmID, s.ID))
	}
	why := "the service records it"
	if keep.ID != s.VM.HostID {
		why = "the oldest"
	}
	op.Logf("service %d has %d VMs: keeping VM %d (%s), deleting VM %d %q", s.ID, len(all), keep.ID, why, dup.ID, dup.Name)
	if err := x.act(ctx, c, op, func() (vmm.TaskRef, error) { return c.DeleteHost(ctx, dup.ID) }); err != nil {
		return Result{}, err
	}
	k := *keep
	if s.VM.HostID == 0 {
		return Result{Service: func(s *store.Service) { takeSizes(s, &k) }}, nil
	}
	return Result{}, nil
}

// rcGone refuses unless the service's VM is gone: no VM with its id, none named for it.
func (x *vmmExecutor) rcGone(ctx context.Context, c *vmm.Client, op *Op) error {
	all, _, err := claimedVMs(ctx, c, &op.Service)
	if err != nil {
		return err
	}
	if len(all) > 0 {
		return permanent(fmt.Errorf("service %d still has VM %d %q in VMmanager, so its VM is not gone; scan again (vmmpm reconcile)", op.Service.ID, all[0].ID, all[0].Name))
	}
	return nil
}

func (x *vmmExecutor) rcReopen(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	if op.Job.VMTask == nil { // a first attempt: the VM must be gone; a resumed one goes on with its open
		if err := x.rcGone(ctx, c, op); err != nil {
			return Result{}, err
		}
		op.Logf("VM %d of service %d is gone from VMmanager; creating it again", op.Service.VM.HostID, op.Service.ID)
		if err := op.Record(nil, nil, func(s *store.Service) { s.VM = store.VM{} }); err != nil {
			return Result{}, err
		}
		op.Service.VM = store.VM{}
	}
	return x.open(ctx, c, op)
}

func (x *vmmExecutor) rcDeleteVM(ctx context.Context, c *vmm.Client, op *Op, vmID uint64) (Result, error) {
	s := &op.Service
	if resumed, err := x.resumeTask(ctx, c, op, vmm.TaskHostDelete); err != nil || resumed {
		return Result{}, err
	}
	if s.Status != store.ServiceDeleted {
		return Result{}, permanent(fmt.Errorf("service %d is %s now, not deleted, so its VM %d stays; scan again (vmmpm reconcile)", s.ID, s.Status, vmID))
	}
	h, err := c.Host(ctx, vmID)
	if errors.Is(err, vmm.ErrNotFound) {
		op.Logf("VM %d is already gone", vmID)
		return Result{}, nil
	}
	if err != nil {
		return Result{}, err
	}
	if h.ID != s.VM.HostID && h.Name != VMName(s.ID) {
		return Result{}, permanent(fmt.Errorf("VM %d %q is neither recorded by service %d nor named for it; nothing was deleted", h.ID, h.Name, s.ID))
	}
	op.Logf("service %d is deleted: deleting its VM %d %q", s.ID, h.ID, h.Name)
	return Result{}, x.act(ctx, c, op, func() (vmm.TaskRef, error) { return c.DeleteHost(ctx, h.ID) })
}

func (x *vmmExecutor) rcTakeState(ctx context.Context, c *vmm.Client, op *Op, vmID uint64) (Result, error) {
	s := &op.Service
	if vmID == 0 {
		vmID = s.VM.HostID
	}
	h, err := c.Host(ctx, vmID)
	if errors.Is(err, vmm.ErrNotFound) {
		return Result{}, permanent(fmt.Errorf("VM %d of service %d is gone, so there is no state to take; scan again (vmmpm reconcile)", vmID, s.ID))
	}
	if err != nil {
		return Result{}, err
	}
	status := StatusOfState(h.State)
	if status == "" {
		return Result{}, permanent(fmt.Errorf("VM %d is %s, neither running nor stopped; nothing taken", h.ID, h.State))
	}
	op.Logf("service %d was %s; it takes VM %d's state (%s) and is now %s", s.ID, s.Status, h.ID, h.State, status)
	wasDeleted := s.Status == store.ServiceDeleted
	return Result{Service: func(s *store.Service) {
		s.Status = status
		if wasDeleted {
			takeSizes(s, h)
		}
	}}, nil
}

// FindingDuplicateVM is reconcile's class of a service with more than one VM (reconcile.DuplicateVM).
const FindingDuplicateVM = "duplicate_vm"

// keepVM is the VM called name that open takes for its service: the one the service records, else the
// oldest (lowest id); nil when there is none. More than one is never silently left: the job's log names
// the VM kept and the others, and a ReconcileFound event raises them as duplicate findings (the next
// reconcile scan reports them, and remove_duplicate deletes them).
func (x *vmmExecutor) keepVM(ctx context.Context, c *vmm.Client, op *Op, name string) (*vmm.Host, error) {
	all, err := c.HostsNamed(ctx, name)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	keep, why := &all[0], "the oldest"
	for i := range all {
		if all[i].ID == op.Service.VM.HostID {
			keep, why = &all[i], "the one the service records"
		}
	}
	if len(all) > 1 {
		var others []string
		for _, h := range all {
			if h.ID != keep.ID {
				others = append(others, strconv.FormatUint(h.ID, 10))
			}
		}
		op.Logf("found %d VMs named %s: keeping VM %d (%s); VM %s is a duplicate nothing uses: vmmpm reconcile reports it (duplicate_vm) and its remove_duplicate action deletes it",
			len(all), name, keep.ID, why, strings.Join(others, ", "))
		op.e.Notify(op.Module.ID, map[string]int{FindingDuplicateVM: len(others)})
	}
	return keep, nil
}

// keptVM reads back the VM open recorded for its service (by id), or, with none recorded, the one
// keepVM takes.
func (x *vmmExecutor) keptVM(ctx context.Context, c *vmm.Client, op *Op) (*vmm.Host, error) {
	id := op.Service.VM.HostID
	if id == 0 {
		return x.keepVM(ctx, c, op, VMName(op.Service.ID))
	}
	h, err := c.Host(ctx, id)
	if errors.Is(err, vmm.ErrNotFound) {
		return nil, nil
	}
	return h, err
}
