package reconcile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vmmpm/queue"
	"vmmpm/store"
)

// vmName is the name open gives service id's VM.
func vmName(id uint64) string { return queue.VMName(id) }

// serviceOfName is the service id a VM name svc-{IID} stands for (0: not such a name).
func serviceOfName(name string) uint64 {
	rest, ok := strings.CutPrefix(name, "svc-")
	if !ok {
		return 0
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || vmName(id) != name {
		return 0
	}
	return id
}

// comparison is one module's records against the VMs read from its cluster.
type comparison struct {
	m      *store.Module
	snap   *snapshot
	group  map[uint64]bool
	marks  map[uint64]Mark
	vms    map[uint64]*VM
	byName map[uint64][]*VM // service id → the VMs named for it
	// elsewhere: recorded VMs the confirmation found on another cluster (VM id → cluster).
	elsewhere map[uint64]uint64
	// unconfirmed: the lookups of missing VMs failed, so no missing_vm is reported.
	unconfirmed bool
	accounts    map[uint64]string

	compared, skipped int
	system            []VM
	notes             []string
}

func newComparison(m *store.Module, snap *snapshot, vms map[uint64]*VM, accounts map[uint64]string) *comparison {
	c := &comparison{m: m, snap: snap, group: snap.group(m), marks: snap.marks[m.ID], vms: map[uint64]*VM{},
		byName: map[uint64][]*VM{}, elsewhere: map[uint64]uint64{}, accounts: accounts}
	for _, v := range vms {
		c.add(v)
	}
	return c
}

func (c *comparison) add(v *VM) {
	c.vms[v.ID] = v
	if id := serviceOfName(v.Name); id != 0 {
		c.byName[id] = append(c.byName[id], v)
	}
}

// mine reports a service of the module being scanned; known, one of any module reaching the same cluster.
func (c *comparison) mine(s *store.Service) bool  { return s.ModuleID == c.m.ID }
func (c *comparison) known(s *store.Service) bool { return c.group[s.ModuleID] }

func (c *comparison) settled(s *store.Service) bool { return c.snap.settled(s) }

// claimed are the VMs a service holds: the one it records and those named for it.
func (c *comparison) claimed(s *store.Service) []*VM {
	var out []*VM
	if v := c.vms[s.VM.HostID]; v != nil && s.VM.HostID != 0 {
		out = append(out, v)
	}
	for _, v := range c.byName[s.ID] {
		if v.ID != s.VM.HostID {
			out = append(out, v)
		}
	}
	return out
}

// missingCandidates are the module's open services with no VM in the cluster list.
func (c *comparison) missingCandidates() []*store.Service {
	var out []*store.Service
	for _, s := range c.snap.services {
		if c.mine(s) && c.settled(s) && s.Status != store.ServiceDeleted && len(c.claimed(s)) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// findings compares; call it after the missing candidates were looked up.
func (c *comparison) findings() []Finding {
	var fs []Finding
	claimedBy := map[uint64]bool{}
	for _, s := range c.snap.services {
		if !c.known(s) {
			continue
		}
		vms := c.claimed(s)
		for _, v := range vms {
			claimedBy[v.ID] = true
		}
		if !c.mine(s) {
			continue
		}
		if !c.settled(s) {
			c.skipped++
			continue
		}
		c.compared++
		fs = append(fs, c.service(s, vms)...)
	}
	for _, id := range sortedIDs(c.vms) {
		v := c.vms[id]
		if claimedBy[id] {
			continue
		}
		if _, marked := c.marks[id]; marked {
			c.system = append(c.system, *v)
			continue
		}
		fs = append(fs, c.unknown(v))
	}
	return fs
}

func sortedIDs(m map[uint64]*VM) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *comparison) key(class string, parts ...any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "m%d/%s", c.m.ID, class)
	for _, p := range parts {
		fmt.Fprintf(&b, "/%v", p)
	}
	return b.String()
}

func (c *comparison) unknown(v *VM) Finding {
	f := Finding{Key: c.key(UnknownVM, "vm", v.ID), Class: UnknownVM, ModuleID: c.m.ID, VMID: v.ID, VM: v,
		Actions: []string{ActImport, ActMarkSystem}}
	owner := v.Account
	if owner == "" {
		owner = "account " + strconv.FormatUint(v.AccountID, 10)
	}
	f.Summary = fmt.Sprintf("VM %d %q (%s, %d CPU, %d MiB RAM, %d MiB disk, owner %s) belongs to no service", v.ID, v.Name, v.State, v.CPU, v.RAMMiB, v.DiskMiB, owner)
	if id := serviceOfName(v.Name); id != 0 {
		f.Summary += fmt.Sprintf(", though it is named like service %d, which no module on this cluster holds", id)
	}
	var match []uint64
	for _, t := range c.snap.tariffs {
		if slices.Contains(t.ModuleIDs, c.m.ID) && t.CPU == v.CPU && t.RAMMiB == v.RAMMiB && t.DiskMiB == v.DiskMiB {
			match = append(match, t.ID)
		}
	}
	if len(match) == 1 {
		f.Tariff = match[0]
	}
	return f
}

// service compares one settled service of the module with the VMs it claims.
func (c *comparison) service(s *store.Service, vms []*VM) []Finding {
	var fs []Finding
	vms = slices.DeleteFunc(slices.Clone(vms), func(v *VM) bool {
		if _, marked := c.marks[v.ID]; marked {
			c.system = append(c.system, *v)
			return true
		}
		return false
	})
	if s.Status == store.ServiceDeleted {
		for _, v := range vms {
			fs = append(fs, Finding{Key: c.key(State, "svc", s.ID, "vm", v.ID, s.Status), Class: State, ModuleID: c.m.ID,
				ServiceID: s.ID, VMID: v.ID, VM: v, Actions: []string{ActDeleteVM, ActTakeState},
				Summary:  fmt.Sprintf("service %d is deleted but its VM %d %q is still there (%s)", s.ID, v.ID, v.Name, v.State),
				Evidence: []Evidence{{Field: "state", VMmpm: s.Status, VMmanager: v.State}}})
		}
		return fs
	}
	if len(vms) == 0 {
		return c.missing(s)
	}
	keep := vms[0] // the recorded VM when listed (claimed puts it first), else the oldest named one
	if keep.ID != s.VM.HostID {
		for _, v := range vms[1:] {
			if v.ID < keep.ID {
				keep = v
			}
		}
	}
	for _, v := range vms {
		if v == keep {
			continue
		}
		fs = append(fs, Finding{Key: c.key(DuplicateVM, "svc", s.ID, "vm", v.ID), Class: DuplicateVM, ModuleID: c.m.ID,
			ServiceID: s.ID, VMID: v.ID, VM: v, KeepVMID: keep.ID, Actions: []string{ActRemoveDup, ActMarkSystem},
			Summary: fmt.Sprintf("service %d has %d VMs: VM %d %q is one too many%s; VM %d stays (%s)", s.ID, len(vms), v.ID, v.Name,
				madeUnder(v, keep), keep.ID, keepReason(keep, s)),
			Evidence: []Evidence{{Field: "vm", VMmpm: zeroText(s.VM.HostID), VMmanager: strconv.FormatUint(v.ID, 10)}}})
	}
	fs = append(fs, c.stateOf(s, keep)...)
	fs = append(fs, c.resources(s, keep)...)
	fs = append(fs, c.owner(s, keep)...)
	return fs
}

// madeUnder says which engine epochs made a duplicate and the VM kept, when both carry vmmpm's mark:
// the older epoch's engine froze past its lease (README, "A host frozen around a VM's creation").
func madeUnder(dup, keep *VM) string {
	if dup.EngineEpoch == 0 || keep.EngineEpoch == 0 {
		return ""
	}
	return fmt.Sprintf(" (made under engine epoch %d, the VM staying under epoch %d)", dup.EngineEpoch, keep.EngineEpoch)
}

func keepReason(keep *VM, s *store.Service) string {
	if keep.ID == s.VM.HostID {
		return "the service records it"
	}
	return "the oldest"
}

func zeroText(id uint64) string {
	if id == 0 {
		return "none"
	}
	return strconv.FormatUint(id, 10)
}

func (c *comparison) missing(s *store.Service) []Finding {
	if c.unconfirmed {
		return nil
	}
	if cl, ok := c.elsewhere[s.VM.HostID]; ok && s.VM.HostID != 0 {
		c.notes = append(c.notes, fmt.Sprintf("VM %d of service %d is on cluster %d, not the module's cluster %d; it was not compared", s.VM.HostID, s.ID, cl, c.m.Cluster.ID))
		return nil
	}
	return []Finding{{Key: c.key(MissingVM, "svc", s.ID), Class: MissingVM, ModuleID: c.m.ID, ServiceID: s.ID,
		Actions: []string{ActReopen, ActMarkDeleted},
		Summary: fmt.Sprintf("service %d is %s but its VM %s is gone from VMmanager (no VM with id %s, none named %s)",
			s.ID, s.Status, zeroText(s.VM.HostID), zeroText(s.VM.HostID), vmName(s.ID)),
		Evidence: []Evidence{{Field: "vm", VMmpm: zeroText(s.VM.HostID), VMmanager: "none"}}}}
}

func (c *comparison) stateOf(s *store.Service, v *VM) []Finding {
	var act string
	switch {
	case s.Status == store.ServiceActive && v.State == "stopped":
		act = ActStartVM
	case s.Status == store.ServiceSuspended && v.State == "active":
		act = ActStopVM
	default:
		return nil
	}
	return []Finding{{Key: c.key(State, "svc", s.ID, "vm", v.ID, s.Status), Class: State, ModuleID: c.m.ID, ServiceID: s.ID,
		VMID: v.ID, VM: v, Actions: []string{act, ActTakeState},
		Summary:  fmt.Sprintf("service %d is %s but its VM %d is %s", s.ID, s.Status, v.ID, v.State),
		Evidence: []Evidence{{Field: "state", VMmpm: s.Status, VMmanager: v.State}}}}
}

// expected are the sizes a service records, or its tariff's where it records none.
func (c *comparison) expected(s *store.Service) (cpu, ram, disk int, ok bool) {
	t := c.snap.tariffs[s.TariffID]
	cpu, ram, disk = s.VM.CPU, s.VM.RAMMiB, s.VM.DiskMiB
	if t != nil {
		cpu, ram, disk = or(cpu, t.CPU), or(ram, t.RAMMiB), or(disk, t.DiskMiB)
	}
	return cpu, ram, disk, cpu > 0 && ram > 0 && disk > 0
}

func or(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

func (c *comparison) resources(s *store.Service, v *VM) []Finding {
	var ev []Evidence
	cpu, ram, disk, ok := c.expected(s)
	num := func(field string, want, got int) {
		if want != got {
			ev = append(ev, Evidence{Field: field, VMmpm: strconv.Itoa(want), VMmanager: strconv.Itoa(got)})
		}
	}
	if ok {
		num("cpu", cpu, v.CPU)
		num("ram_mib", ram, v.RAMMiB)
		num("disk_mib", disk, v.DiskMiB)
	}
	if len(s.VM.IPv4) > 0 || len(s.VM.IPv6) > 0 {
		addrs := func(field string, want, got []string) {
			if !sameSet(want, got) {
				ev = append(ev, Evidence{Field: field, VMmpm: listText(want), VMmanager: listText(got)})
			}
		}
		addrs("ipv4", s.VM.IPv4, v.IPv4)
		addrs("ipv6", s.VM.IPv6, v.IPv6)
	} else if t := c.snap.tariffs[s.TariffID]; t != nil {
		num("ipv4_count", t.IPv4Count, v.MainIPv4)
	}
	if len(ev) == 0 {
		return nil
	}
	fields := make([]string, len(ev))
	for i, e := range ev {
		fields[i] = e.Field
	}
	return []Finding{{Key: c.key(Resources, "svc", s.ID, strings.Join(fields, "+")), Class: Resources, ModuleID: c.m.ID,
		ServiceID: s.ID, VMID: v.ID, VM: v, Actions: []string{ActTakeResources}, Evidence: ev,
		Summary: fmt.Sprintf("service %d records other %s than its VM %d has", s.ID, strings.Join(fields, ", "), v.ID)}}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func listText(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

func (c *comparison) owner(s *store.Service, v *VM) []Finding {
	var ev Evidence
	switch {
	case v.Account != "":
		if strings.EqualFold(v.Account, s.ClientEmail) {
			return nil
		}
		ev = Evidence{Field: "client", VMmpm: s.ClientEmail, VMmanager: v.Account}
	case s.VM.AccountID != 0 && s.VM.AccountID != v.AccountID:
		ev = Evidence{Field: "account_id", VMmpm: strconv.FormatUint(s.VM.AccountID, 10), VMmanager: strconv.FormatUint(v.AccountID, 10)}
	default:
		return nil
	}
	return []Finding{{Key: c.key(Owner, "svc", s.ID), Class: Owner, ModuleID: c.m.ID, ServiceID: s.ID, VMID: v.ID, VM: v,
		Actions: []string{ActTakeOwner}, Evidence: []Evidence{ev},
		Summary: fmt.Sprintf("service %d belongs to %s but its VM %d belongs to %s", s.ID, ev.VMmpm, v.ID, ev.VMmanager)}}
}
