package queue

import (
	"fmt"
	"slices"
	"strconv"

	"vmmpm/store"
)

// Reconcile's actions are jobs of type store.OpReconcile: queued in the service's lane like any
// operation, so one never races another operation of the same service. Args["action"] names the
// action and Args["vm_id"] the VM it is about (reconcileops.go runs them).
const (
	ArgAction = "action"
	ArgVMID   = "vm_id"
)

// Reconcile actions that are jobs (marking a VM as system is a record, not a job).
const (
	RcImport        = "import"
	RcRemoveDup     = "remove_duplicate"
	RcReopen        = "reopen"
	RcMarkDeleted   = "mark_deleted"
	RcStartVM       = "start_vm"
	RcStopVM        = "stop_vm"
	RcDeleteVM      = "delete_vm"
	RcTakeState     = "take_state"
	RcTakeResources = "take_resources"
	RcTakeOwner     = "take_owner"
)

// RcAction is one reconcile action the engine runs.
type RcAction struct {
	Name string
	Help string
	// NeedsVM: Args["vm_id"] is required (the VM to import, remove, delete or take the state of).
	NeedsVM bool
	// Writes: the action changes VMmanager (the others only read it and change the service record).
	Writes bool
}

// RcActions are the reconcile actions, as `vmmpm reconcile fix --action` lists them.
var RcActions = []RcAction{
	{Name: RcImport, NeedsVM: true, Help: "bind the VM to the new service, taking its sizes, addresses, owner and state"},
	{Name: RcRemoveDup, NeedsVM: true, Writes: true, Help: "delete the VM the service does not record (the recorded one, or else the oldest, stays)"},
	{Name: RcReopen, Writes: true, Help: "create the service's VM again, as open does"},
	{Name: RcMarkDeleted, Help: "the VM is gone: mark the service deleted"},
	{Name: RcStartVM, Writes: true, Help: "start the VM, as the active service expects"},
	{Name: RcStopVM, Writes: true, Help: "stop the VM, as the suspended service expects"},
	{Name: RcDeleteVM, NeedsVM: true, Writes: true, Help: "delete the VM the deleted service left"},
	{Name: RcTakeState, Help: "the service takes the VM's state (running: active, stopped: suspended)"},
	{Name: RcTakeResources, Help: "the service records the VM's CPU, RAM, disk and addresses"},
	{Name: RcTakeOwner, Help: "the service takes the VM's account as its client"},
}

// RcActionOf returns the reconcile action called name.
func RcActionOf(name string) (RcAction, bool) {
	i := slices.IndexFunc(RcActions, func(a RcAction) bool { return a.Name == name })
	if i < 0 {
		return RcAction{}, false
	}
	return RcActions[i], true
}

// BusyServices are the services with an unfinished job (queued, running or waiting to retry).
func (e *Engine) BusyServices() map[uint64]bool {
	if e.ready() != nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[uint64]bool, len(e.svcs))
	for id, jobs := range e.svcs {
		if len(jobs) > 0 {
			out[id] = true
		}
	}
	return out
}

// Reconcile queues reconcile action on service serviceID (vmID: the VM it is about, 0 for none).
func (a Actor) Reconcile(serviceID uint64, action string, vmID uint64) (*store.Job, error) {
	e := a.e
	act, ok := RcActionOf(action)
	switch {
	case !ok || action == RcImport:
		return nil, &store.ValidationError{Field: ArgAction, Rule: fmt.Sprintf("%q is not a reconcile action on a service", action)}
	case act.NeedsVM && vmID == 0:
		return nil, &store.ValidationError{Field: ArgVMID, Rule: action + " needs the VM it is about"}
	}
	args := map[string]string{ArgAction: action}
	if vmID != 0 {
		args[ArgVMID] = strconv.FormatUint(vmID, 10)
	}
	var out *store.Job
	err := e.enqueueTx(func(tx *store.Tx, add func(*jobState)) error {
		s, err := store.Get[store.Service](tx, serviceID)
		if err != nil {
			return unknown("service %d does not exist; see vmmpm service list", serviceID)
		}
		js, err := e.plan(tx, s, store.OpReconcile, args, a.by, e.opt.Now())
		if err != nil {
			return err
		}
		add(js)
		j := cloneJob(&js.job)
		out = &j
		return nil
	})
	return out, err
}

// ImportVM is one VM to import: the service it becomes starts with the owner and state the scan read,
// and its job reads the VM again and records what VMmanager then holds.
type ImportVM struct {
	VMID      uint64
	AccountID uint64
	Client    string // the owner account's email
	Status    string // store.ServiceActive or store.ServiceSuspended
}

// Imported is one service Import made and the job that binds it.
type Imported struct {
	Service store.Service
	JobID   uint64
}

// Import makes a service of tariff on module for each VM and queues its import job, all in one
// transaction: none is made when one is refused (a VM some service of the module already records, a
// VM given twice, a tariff not served by the module).
func (a Actor) Import(moduleID, tariffID uint64, vms []ImportVM) ([]Imported, error) {
	e := a.e
	if len(vms) == 0 || len(vms) > MaxCreate {
		return nil, &store.ValidationError{Field: "vms", Rule: fmt.Sprintf("give between 1 and %d VMs to import", MaxCreate)}
	}
	var out []Imported
	err := e.enqueueTx(func(tx *store.Tx, add func(*jobState)) error {
		m, err := store.Get[store.Module](tx, moduleID)
		if err != nil {
			return unknown("module %d does not exist; see vmmpm module list", moduleID)
		}
		t, err := store.Get[store.Tariff](tx, tariffID)
		if err != nil {
			return unknown("tariff %d does not exist; see vmmpm tariff list", tariffID)
		}
		if !slices.Contains(t.ModuleIDs, m.ID) {
			return &store.ValidationError{Field: "tariff", Rule: fmt.Sprintf(
				"tariff %q is not served by module %d (%s); give a tariff whose modules include it", t.Name, m.ID, m.Name)}
		}
		bound := map[uint64]uint64{}
		if err := store.Each(tx, func(s *store.Service) bool {
			if s.ModuleID == m.ID && s.VM.HostID != 0 {
				bound[s.VM.HostID] = s.ID
			}
			return true
		}); err != nil {
			return err
		}
		now := e.opt.Now()
		for _, v := range vms {
			if svc, ok := bound[v.VMID]; ok {
				return &store.ValidationError{Field: ArgVMID, Rule: fmt.Sprintf(
					"VM %d is already service %d's; nothing was imported", v.VMID, svc)}
			}
			if v.Status != store.ServiceActive && v.Status != store.ServiceSuspended {
				return &store.ValidationError{Field: ArgVMID, Rule: fmt.Sprintf(
					"VM %d is neither running nor stopped; import it once VMmanager has finished with it", v.VMID)}
			}
			s := &store.Service{TariffID: t.ID, ModuleID: m.ID, ClientEmail: v.Client, Status: v.Status,
				VM: store.VM{HostID: v.VMID, AccountID: v.AccountID}, CreatedAt: now, UpdatedAt: now}
			if err := tx.Put(s); err != nil {
				return fmt.Errorf("VM %d cannot become a service: %w", v.VMID, err)
			}
			bound[v.VMID] = s.ID
			js, err := e.plan(tx, s, store.OpReconcile, map[string]string{ArgAction: RcImport, ArgVMID: strconv.FormatUint(v.VMID, 10)}, a.by, now)
			if err != nil {
				return err
			}
			add(js)
			out = append(out, Imported{Service: *s, JobID: js.job.ID})
		}
		return nil
	})
	return out, err
}

// Notify publishes a reconcile scan's news to the engine's subscribers (the TUI, the server's event
// stream and what it feeds).
func (e *Engine) Notify(module uint64, findings map[string]int) {
	e.ev.publish(Event{Kind: ReconcileFound, ModuleID: module, Findings: findings})
}
