package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm"
)

// The actions' names are queue's, where the jobs run; marking is this package's own.
const (
	ActImport        = queue.RcImport
	ActMarkSystem    = "mark_system"   // ignore the VM from now on (a record, not a job)
	ActUnmarkSystem  = "unmark_system" // report it again
	ActRemoveDup     = queue.RcRemoveDup
	ActReopen        = queue.RcReopen
	ActMarkDeleted   = queue.RcMarkDeleted
	ActStartVM       = queue.RcStartVM
	ActStopVM        = queue.RcStopVM
	ActDeleteVM      = queue.RcDeleteVM
	ActTakeState     = queue.RcTakeState
	ActTakeResources = queue.RcTakeResources
	ActTakeOwner     = queue.RcTakeOwner
)

// ActionNames are every action Act takes, for help texts.
func ActionNames() []string {
	out := []string{ActMarkSystem, ActUnmarkSystem}
	for _, a := range queue.RcActions {
		out = append(out, a.Name)
	}
	return out
}

func refuse(format string, args ...any) error {
	return &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf(format, args...)}
}

// Act does an action (Confirm set) or says what it would do (unset: nothing is written anywhere).
// Each step that changes a service or a VM is a job queued through actor; by is who asks (for marks).
// Before anything is queued the action's premise is read again from VMmanager (read-only), so an
// action on a finding that has gone away is refused rather than queued.
func (s *Scanner) Act(ctx context.Context, a Action, actor queue.Actor, by string) (*Acted, error) {
	m, err := store.Load[store.Module](s.DB, a.Module)
	if err != nil {
		return nil, refuse("module %d does not exist; see vmmpm module list", a.Module)
	}
	out := &Acted{Action: a.Action, Confirmed: a.Confirm, Steps: []Step{}}
	switch a.Action {
	case ActImport:
		return out, s.actImport(ctx, m, a, actor, out)
	case ActMarkSystem, ActUnmarkSystem:
		return out, s.actMark(ctx, m, a, by, out)
	}
	if _, ok := queue.RcActionOf(a.Action); !ok {
		return nil, &store.ValidationError{Field: "action", Rule: fmt.Sprintf("%q is not an action; use one of %s", a.Action, strings.Join(ActionNames(), ", "))}
	}
	return out, s.actService(ctx, m, a, actor, out)
}

func (s *Scanner) client(m *store.Module) (*vmm.Client, error) {
	if s.Client != nil {
		return s.Client(m)
	}
	return ClientFor(s.Secrets)(m)
}

func (s *Scanner) actMark(ctx context.Context, m *store.Module, a Action, by string, out *Acted) error {
	if len(a.VMs) == 0 {
		return &store.ValidationError{Field: "vm", Rule: "give the VMs to " + strings.ReplaceAll(a.Action, "_", " ")}
	}
	mark := a.Action == ActMarkSystem
	names := map[uint64]string{}
	if mark { // a mark names a VM VMmanager has, so a mistyped id is refused rather than kept
		c, err := s.client(m)
		if err != nil {
			return errors.New(moduleError(m, err))
		}
		for chunk := range slices.Chunk(a.VMs, vmm.MaxIDsPerRead) {
			if _, err := c.EachHost(ctx, vmm.HostFilter{IDs: chunk}, func(h vmm.Host) error { names[h.ID] = h.Name; return nil }); err != nil {
				return errors.New(moduleError(m, err))
			}
		}
	}
	for _, id := range a.VMs {
		name, ok := names[id]
		if mark && !ok {
			return refuse("VM %d is not in module %d's VMmanager; nothing was marked", id, m.ID)
		}
		text := fmt.Sprintf("mark VM %d %q of module %d as system: it is never reported again", id, name, m.ID)
		if !mark {
			text = fmt.Sprintf("unmark VM %d of module %d: scans report it again", id, m.ID)
		}
		out.Steps = append(out.Steps, Step{VMID: id, Text: text})
	}
	if !a.Confirm {
		return nil
	}
	for _, id := range a.VMs {
		if err := SetMark(s.DB, m.ID, id, names[id], by, mark, s.now()); err != nil {
			return err
		}
	}
	return nil
}

// findTariff is arg's tariff (its id, or its name in any case).
func (s *Scanner) findTariff(arg string) (*store.Tariff, error) {
	ts, err := store.All[store.Tariff](s.DB)
	if err != nil {
		return nil, err
	}
	id, _ := strconv.ParseUint(arg, 10, 64)
	for _, t := range ts {
		if id != 0 && t.ID == id || strings.EqualFold(t.Name, arg) {
			return t, nil
		}
	}
	return nil, refuse("tariff %q does not exist; see vmmpm tariff list", arg)
}

func (s *Scanner) actImport(ctx context.Context, m *store.Module, a Action, actor queue.Actor, out *Acted) error {
	if !a.All && len(a.VMs) == 0 {
		return &store.ValidationError{Field: "vm", Rule: "give the VMs to import, or all of them"}
	}
	var tariff *store.Tariff
	if a.Tariff != "" {
		t, err := s.findTariff(a.Tariff)
		if err != nil {
			return err
		}
		if !slices.Contains(t.ModuleIDs, m.ID) {
			return refuse("tariff %q is not served by module %d (%s); give a tariff whose modules include it", t.Name, m.ID, m.Name)
		}
		tariff = t
	}
	rep, err := s.Scan(ctx, Query{Module: m.ID}, nil)
	if err != nil {
		return err
	}
	if mr := rep.Modules[0]; mr.Error != "" {
		return errors.New(mr.Error)
	}
	cands := map[uint64]*Finding{}
	for i := range rep.Findings {
		if f := &rep.Findings[i]; f.Class == UnknownVM {
			cands[f.VMID] = f
		}
	}
	want := a.VMs
	if a.All {
		want = sortedKeys(cands)
	}
	byTariff := map[uint64][]queue.ImportVM{}
	names := map[uint64]string{}
	for _, id := range want {
		f := cands[id]
		if f == nil {
			out.Skipped = append(out.Skipped, Step{VMID: id, Text: fmt.Sprintf("VM %d is not an import candidate of module %d (a service holds it, it is marked as system, or it is not in the cluster)", id, m.ID)})
			continue
		}
		v := f.VM
		t := tariff
		if t == nil && f.Tariff != 0 {
			t, _ = store.Load[store.Tariff](s.DB, f.Tariff)
		}
		status := queue.StatusOfState(v.State)
		switch {
		case t == nil:
			out.Skipped = append(out.Skipped, Step{VMID: id, Text: fmt.Sprintf("VM %d (%d CPU, %d MiB RAM, %d MiB disk) matches no single tariff of module %d by its sizes; give the tariff", id, v.CPU, v.RAMMiB, v.DiskMiB, m.ID)})
			continue
		case status == "":
			out.Skipped = append(out.Skipped, Step{VMID: id, Text: fmt.Sprintf("VM %d is %s; import it once it runs or is stopped", id, v.State)})
			continue
		case !strings.Contains(v.Account, "@"):
			out.Skipped = append(out.Skipped, Step{VMID: id, Text: fmt.Sprintf("VM %d's owner (account %d) has no email VMmanager lists, so no client can be named", id, v.AccountID)})
			continue
		}
		names[t.ID] = t.Name
		byTariff[t.ID] = append(byTariff[t.ID], queue.ImportVM{VMID: id, AccountID: v.AccountID, Client: v.Account, Status: status})
		out.Steps = append(out.Steps, Step{VMID: id, Text: fmt.Sprintf("import VM %d %q as a service of tariff %q for %s (%s)", id, v.Name, t.Name, v.Account, status)})
	}
	if !a.Confirm {
		return nil
	}
	out.Steps = out.Steps[:0]
	for _, tid := range slices.Sorted(mapsKeys(byTariff)) {
		done, err := actor.Import(m.ID, tid, byTariff[tid])
		if err != nil {
			return err
		}
		for _, d := range done {
			out.Steps = append(out.Steps, Step{ServiceID: d.Service.ID, VMID: d.Service.VM.HostID, JobID: d.JobID,
				Text: fmt.Sprintf("service %d (tariff %q, %s) imports VM %d: job %d", d.Service.ID, names[tid], d.Service.ClientEmail, d.Service.VM.HostID, d.JobID)})
		}
	}
	return nil
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	return slices.Sorted(mapsKeys(m))
}

func mapsKeys[V any](m map[uint64]V) func(func(uint64) bool) {
	return func(yield func(uint64) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// actService checks a service action's premise against VMmanager and the record, then queues it.
func (s *Scanner) actService(ctx context.Context, m *store.Module, a Action, actor queue.Actor, out *Acted) error {
	if a.Service == 0 {
		return &store.ValidationError{Field: "service", Rule: a.Action + " acts on a service; give its id"}
	}
	svc, err := store.Load[store.Service](s.DB, a.Service)
	if err != nil {
		return refuse("service %d does not exist; see vmmpm service list", a.Service)
	}
	if svc.ModuleID != m.ID {
		return refuse("service %d is on module %d, not module %d", svc.ID, svc.ModuleID, m.ID)
	}
	if len(a.VMs) > 1 {
		return &store.ValidationError{Field: "vm", Rule: a.Action + " acts on one VM at a time"}
	}
	var vmID uint64
	if len(a.VMs) == 1 {
		vmID = a.VMs[0]
	}
	c, err := s.client(m)
	if err != nil {
		return errors.New(moduleError(m, err))
	}
	all, keep, err := claimed(ctx, c, m, svc)
	if err != nil {
		return errors.New(moduleError(m, err))
	}
	text, vmID, err := premise(a.Action, svc, all, keep, vmID)
	if err != nil {
		return err
	}
	out.Steps = append(out.Steps, Step{ServiceID: svc.ID, VMID: vmID, Text: text})
	if !a.Confirm {
		return nil
	}
	j, err := actor.Reconcile(svc.ID, a.Action, vmID)
	if err != nil {
		return err
	}
	out.Steps[0].JobID = j.ID
	out.Steps[0].Text += fmt.Sprintf(": job %d", j.ID)
	return nil
}

// claimed reads the VMs service svc holds now (read-only): the one it records and those named for it,
// on the module's cluster; keep is the one that stays.
func claimed(ctx context.Context, c *vmm.Client, m *store.Module, svc *store.Service) ([]*VM, *VM, error) {
	var all []*VM
	var keep *VM
	add := func(h vmm.Host) error {
		if h.Cluster != 0 && h.Cluster != m.Cluster.ID {
			return nil
		}
		for _, v := range all {
			if v.ID == h.ID {
				return nil
			}
		}
		v := vmOf(h, nil)
		all = append(all, v)
		if h.ID == svc.VM.HostID {
			keep = v
		}
		return nil
	}
	f := vmm.HostFilter{Names: []string{vmName(svc.ID)}}
	if svc.VM.HostID != 0 {
		if _, err := c.EachHost(ctx, vmm.HostFilter{IDs: []uint64{svc.VM.HostID}}, add); err != nil {
			return nil, nil, err
		}
	}
	if _, err := c.EachHost(ctx, f, add); err != nil {
		return nil, nil, err
	}
	if keep == nil {
		for _, v := range all {
			if keep == nil || v.ID < keep.ID {
				keep = v
			}
		}
	}
	return all, keep, nil
}

// premise says what a service action will do, or why it does not apply now.
func premise(action string, svc *store.Service, all []*VM, keep *VM, vmID uint64) (string, uint64, error) {
	stale := func(why string) error {
		return refuse("%s does not apply to service %d now: %s; scan again (vmmpm reconcile --module %d)", action, svc.ID, why, svc.ModuleID)
	}
	find := func(id uint64) *VM {
		for _, v := range all {
			if v.ID == id {
				return v
			}
		}
		return nil
	}
	switch action {
	case ActRemoveDup:
		if vmID == 0 {
			return "", 0, &store.ValidationError{Field: "vm", Rule: "remove_duplicate needs the VM to delete"}
		}
		d := find(vmID)
		switch {
		case d == nil:
			return "", 0, stale(fmt.Sprintf("VM %d is not one of its VMs", vmID))
		case len(all) < 2 || d == keep:
			return "", 0, stale(fmt.Sprintf("VM %d is the VM that stays (the recorded one, or the oldest)", vmID))
		}
		return fmt.Sprintf("service %d keeps VM %d (%s) and VM %d %q is deleted", svc.ID, keep.ID, keepWhy(keep, svc), d.ID, d.Name), vmID, nil
	case ActReopen, ActMarkDeleted:
		if svc.Status == store.ServiceDeleted {
			return "", 0, stale("the service is deleted")
		}
		if len(all) > 0 {
			return "", 0, stale(fmt.Sprintf("its VM %d %q is there", all[0].ID, all[0].Name))
		}
		if action == ActReopen {
			return fmt.Sprintf("service %d gets a new VM %s, as open makes one", svc.ID, vmName(svc.ID)), 0, nil
		}
		return fmt.Sprintf("service %d is marked deleted (its VM %s is gone)", svc.ID, zeroText(svc.VM.HostID)), 0, nil
	case ActStartVM, ActStopVM:
		want, state := store.ServiceActive, "stopped"
		if action == ActStopVM {
			want, state = store.ServiceSuspended, "active"
		}
		switch {
		case svc.Status != want:
			return "", 0, stale("the service is " + svc.Status)
		case keep == nil:
			return "", 0, stale("it has no VM")
		case keep.State != state:
			return "", 0, stale(fmt.Sprintf("its VM %d is %s", keep.ID, keep.State))
		}
		verb := map[string]string{ActStartVM: "started", ActStopVM: "stopped"}[action]
		return fmt.Sprintf("VM %d of service %d (%s) is %s", keep.ID, svc.ID, svc.Status, verb), keep.ID, nil
	case ActDeleteVM:
		if svc.Status != store.ServiceDeleted {
			return "", 0, stale("the service is " + svc.Status + ", not deleted")
		}
		d := keep
		if vmID != 0 {
			d = find(vmID)
		}
		if d == nil {
			return "", 0, stale("it has no VM left")
		}
		return fmt.Sprintf("VM %d %q of deleted service %d is deleted", d.ID, d.Name, svc.ID), d.ID, nil
	case ActTakeState, ActTakeResources, ActTakeOwner:
		v := keep
		if vmID != 0 {
			v = find(vmID)
		}
		if v == nil {
			return "", 0, stale("it has no VM")
		}
		what := map[string]string{ActTakeState: "the state (" + v.State + ")", ActTakeResources: "the sizes and addresses",
			ActTakeOwner: "the owner"}[action]
		return fmt.Sprintf("service %d takes %s of VM %d", svc.ID, what, v.ID), v.ID, nil
	}
	return "", 0, stale("it is not an action on a service")
}

func keepWhy(keep *VM, svc *store.Service) string {
	if keep.ID == svc.VM.HostID {
		return "the service records it"
	}
	return "the oldest"
}
