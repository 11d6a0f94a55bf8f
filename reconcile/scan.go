package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm"
)

// Scanner reads modules' VMmanager clusters and compares them with the database.
type Scanner struct {
	DB      *store.DB
	Secrets store.Secrets
	// Busy are the services with an operation queued, retrying or running (the engine's view); a scan
	// leaves them out, since what VMmanager shows of them is about to change.
	Busy func() map[uint64]bool
	// Client builds a module's VMmanager client (default: from its settings and the keyring).
	Client func(m *store.Module) (*vmm.Client, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ErrNoModule is matched by the refusal of a module id that does not exist.
var ErrNoModule = errors.New("no such module")

type noModule struct{ v store.ValidationError }

func (e *noModule) Error() string        { return e.v.Error() }
func (e *noModule) Is(target error) bool { return target == ErrNoModule }
func (e *noModule) As(target any) bool {
	if p, ok := target.(**store.ValidationError); ok {
		*p = &e.v
		return true
	}
	return false
}

// ClientFor is the default Scanner.Client: the module's settings and its password from secrets.
func ClientFor(secrets store.Secrets) func(m *store.Module) (*vmm.Client, error) {
	return func(m *store.Module) (*vmm.Client, error) {
		pw, err := secrets.Get(m.ID)
		if err != nil {
			return nil, err
		}
		return vmm.New(vmm.Config{URL: m.URL, Email: m.Username, Password: pw, InsecureTLS: m.InsecureTLS,
			TLSPin: m.TLSPin, CAFile: m.TLSCAFile,
			SessionTTL: time.Duration(m.Params.SessionTTL) * time.Second})
	}
}

// snapshot is what the database held when the scan began: read before VMmanager, so a VM created
// after it belongs to a service the snapshot shows as not open yet (left out), never as a VM nobody knows.
type snapshot struct {
	modules  []*store.Module
	services []*store.Service
	tariffs  map[uint64]*store.Tariff
	marks    map[uint64]map[uint64]Mark
	busy     map[uint64]bool
	looks    []queue.Look // the services flagged for a reconcile look
}

func (s *Scanner) snapshot(q Query) (*snapshot, error) {
	snap := &snapshot{tariffs: map[uint64]*store.Tariff{}, marks: map[uint64]map[uint64]Mark{}}
	err := s.DB.View(func(tx *store.Tx) error {
		if err := store.Each(tx, func(m *store.Module) bool { snap.modules = append(snap.modules, m); return true }); err != nil {
			return err
		}
		if err := store.Each(tx, func(t *store.Tariff) bool { snap.tariffs[t.ID] = t; return true }); err != nil {
			return err
		}
		if err := store.Each(tx, func(v *store.Service) bool { snap.services = append(snap.services, v); return true }); err != nil {
			return err
		}
		for _, m := range snap.modules {
			ms, err := marksOf(tx, m.ID)
			if err != nil {
				return err
			}
			snap.marks[m.ID] = ms
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if snap.looks, err = queue.Looks(s.DB); err != nil {
		return nil, err
	}
	if q.Module != 0 && snap.module(q.Module) == nil {
		return nil, &noModule{store.ValidationError{Field: store.FieldRecord,
			Rule: fmt.Sprintf("module %d does not exist; see vmmpm module list", q.Module)}}
	}
	if s.Busy != nil {
		snap.busy = s.Busy()
	}
	return snap, nil
}

func (snap *snapshot) module(id uint64) *store.Module {
	for _, m := range snap.modules {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// progress turns steps into Progress values with an estimate. Reports come at most every
// progressEvery, and at each change of step: a 10,000-VM read is not 10,000 reports.
type progress struct {
	mu       sync.Mutex
	fn       func(Progress)
	start    time.Time
	done     int
	total    int
	last     time.Time
	lastStep string
}

const progressEvery = 50 * time.Millisecond

func (p *progress) add(total int) {
	p.mu.Lock()
	p.total += total
	p.mu.Unlock()
}

func (p *progress) step(m *store.Module, what string, n int) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	p.done += n
	p.total = max(p.total, p.done)
	now := time.Now()
	if what == p.lastStep && now.Sub(p.last) < progressEvery {
		p.mu.Unlock()
		return
	}
	p.last, p.lastStep = now, what
	el := now.Sub(p.start).Seconds()
	pr := Progress{ModuleID: m.ID, Module: m.Name, Step: what, Done: p.done, Total: p.total, Elapsed: el, Left: -1}
	if p.done > 0 && el > 0.05 {
		pr.Left = el * float64(p.total-p.done) / float64(p.done)
	}
	p.mu.Unlock()
	p.fn(pr)
}

// Scan reads each module's cluster (or q.Module's) and compares it with the records. It writes nothing
// to VMmanager. A module that cannot be read is reported in its ModuleReport; the error is only for a
// scan that could not start (an unknown module, an unreadable database) or was cancelled.
func (s *Scanner) Scan(ctx context.Context, q Query, onProgress func(Progress)) (*Report, error) {
	snap, err := s.snapshot(q)
	if err != nil {
		return nil, err
	}
	pr := &progress{fn: onProgress, start: time.Now()}
	var mods []*store.Module
	for _, m := range snap.modules {
		if q.Module == 0 || m.ID == q.Module {
			mods = append(mods, m)
			pr.add(stepsPerModule)
		}
	}
	rep := &Report{Findings: []Finding{}}
	for _, m := range mods {
		mr, fs := s.scanModule(ctx, m, snap, pr)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rep.Modules = append(rep.Modules, mr)
		rep.Findings = append(rep.Findings, fs...)
	}
	rep.Flagged = snap.flags(q, rep.Modules, rep.Findings)
	return rep, nil
}

// stepsPerModule: log in and read host counts, read accounts, compare, confirm; the VMs read add one each.
const stepsPerModule = 4

// group are the modules that reach the same cluster of the same VMmanager as m: their services'
// VMs are known VMs in m's scan too.
func (snap *snapshot) group(m *store.Module) map[uint64]bool {
	g := map[uint64]bool{m.ID: true}
	for _, o := range snap.modules {
		if o.Cluster.ID == m.Cluster.ID && strings.EqualFold(strings.TrimRight(o.URL, "/"), strings.TrimRight(m.URL, "/")) {
			g[o.ID] = true
		}
	}
	return g
}

func (s *Scanner) scanModule(ctx context.Context, m *store.Module, snap *snapshot, pr *progress) (ModuleReport, []Finding) {
	start := time.Now()
	mr := ModuleReport{ModuleID: m.ID, Name: m.Name, Cluster: m.Cluster.ID, At: s.now(), Counts: map[string]int{}}
	mr.Compared.HostCount = -1
	finish := func(fs []Finding) (ModuleReport, []Finding) {
		for _, c := range Classes {
			mr.Counts[c] = 0
		}
		for i := range fs {
			mr.Counts[fs[i].Class]++
		}
		mr.Took = time.Since(start).Seconds()
		pr.step(m, "done", 0)
		return mr, fs
	}
	clientFor := s.Client
	if clientFor == nil {
		clientFor = ClientFor(s.Secrets)
	}
	c, err := clientFor(m)
	if err != nil {
		mr.Error = moduleError(m, err)
		return finish(nil)
	}
	r := &reader{c: c, m: m, mr: &mr, pr: pr, services: snap.services, batch: vmm.MaxIDsPerRead}
	vms, err := r.read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			mr.Error = moduleError(m, err)
		}
		return finish(nil)
	}
	cmp := newComparison(m, snap, vms, r.accounts)
	missing := cmp.missingCandidates()
	if err := r.confirm(ctx, missing, cmp); err != nil {
		if ctx.Err() == nil {
			mr.Unreadable = append(mr.Unreadable, fmt.Sprintf("the VMs of %d services that the cluster list lacks could not be looked up (%s), so no missing_vm finding is reported", len(missing), describe(err)))
		}
		cmp.unconfirmed = true
	}
	pr.step(m, "comparing", 1)
	fs := cmp.findings()
	mr.Compared.Services, mr.Compared.Skipped, mr.Compared.System = cmp.compared, cmp.skipped, len(cmp.system)
	mr.System = cmp.system
	mr.Notes = append(mr.Notes, cmp.notes...)
	return finish(fs)
}

func moduleError(m *store.Module, err error) string {
	return fmt.Sprintf("module %d (%s) could not be read: %s", m.ID, m.Name, describe(err))
}

// describe is an error as a clause: vmm's sentence without its final full stop.
func describe(err error) string {
	var se *store.SecretError
	msg := err.Error()
	if !errors.As(err, &se) {
		msg = vmm.Describe(err)
	}
	return strings.TrimSuffix(msg, ".")
}

// reader makes a module scan's VMmanager reads and counts them.
type reader struct {
	c        *vmm.Client
	m        *store.Module
	mr       *ModuleReport
	pr       *progress
	accounts map[uint64]string
	services []*store.Service // the snapshot's, whose recorded VM ids bound the windowed read
	// partial: the cluster list was shorter than host_count even in pieces.
	partial bool
	// batch is how many ids one read names: vmm.MaxIDsPerRead, or fewer when an answer was cut
	// shorter than that (so no read of ids can itself be cut).
	batch int
}

// read returns the cluster's VMs by id. The cluster list comes in one piece when VMmanager's answer
// holds as many VMs as its host_count says. Otherwise (a list cut short, as a VMmanager paging by
// default would, or an answer too large) the cluster is read again in windows of consecutive ids, each
// an OR of id EQ terms AND-ed with the cluster, until every VM host_count counts is found or the ids
// run out (emptyWindows windows in a row past the highest id seen).
func (r *reader) read(ctx context.Context) (map[uint64]*VM, error) {
	m, mr := r.m, r.mr
	counts, err := r.c.ClusterHostCounts(ctx)
	mr.Compared.Requests++
	if err != nil {
		return nil, err
	}
	if n, ok := counts[m.Cluster.ID]; ok {
		mr.Compared.HostCount = n
		r.pr.add(n)
	} else {
		mr.Notes = append(mr.Notes, fmt.Sprintf("VMmanager does not say how many VMs cluster %d holds (no host_count), so the list read could not be checked for completeness", m.Cluster.ID))
	}
	r.pr.step(m, "reading accounts", 1)
	accts, err := r.c.Accounts(ctx)
	mr.Compared.Requests++
	if err != nil {
		return nil, err
	}
	r.accounts = make(map[uint64]string, len(accts))
	for _, a := range accts {
		r.accounts[a.ID] = a.Email
	}
	r.pr.step(m, "reading VMs", 1)
	vms := map[uint64]*VM{}
	foreign, highest := 0, uint64(0)
	add := func(h vmm.Host) error {
		highest = max(highest, h.ID)
		if h.Cluster != 0 && h.Cluster != m.Cluster.ID {
			foreign++ // the filter was not applied: not this cluster's VM
			return nil
		}
		if _, dup := vms[h.ID]; !dup {
			vms[h.ID] = vmOf(h, nil)
			r.pr.step(m, "reading VMs", 1)
		}
		return nil
	}
	first, err := r.c.EachHost(ctx, vmm.HostFilter{Cluster: m.Cluster.ID}, add)
	mr.Compared.Requests++
	mr.Compared.Pieces++
	if err != nil && (ctx.Err() != nil || !errors.Is(err, vmm.ErrBadAnswer)) {
		return nil, err
	}
	if err == nil && first > 0 && first < r.batch {
		// An answer cut at first items says answers hold at most that many: a window must not be larger.
		r.batch = first
	}
	if err != nil || mr.Compared.HostCount >= 0 && len(vms) < mr.Compared.HostCount {
		why := fmt.Sprintf("the cluster list held %d of the %d VMs VMmanager counts", len(vms), mr.Compared.HostCount)
		if err != nil {
			why = "the cluster list could not be read in one piece (" + describe(err) + ")"
		}
		mr.Notes = append(mr.Notes, why+fmt.Sprintf("; it was read again in windows of %d ids", r.batch))
		if err := r.windows(ctx, vms, add, &highest); err != nil {
			return nil, err
		}
		if mr.Compared.HostCount < 0 || len(vms) < mr.Compared.HostCount {
			r.partial = true
			mr.Unreadable = append(mr.Unreadable, fmt.Sprintf(
				"VMmanager listed %d of the %d VMs it counts on cluster %d, even id by id up to id %d (its lists may be paged); VMs it did not list are not reported as unknown, and services are looked up by name and id before any is called missing",
				len(vms), mr.Compared.HostCount, m.Cluster.ID, highest))
		}
	}
	if foreign > 0 {
		mr.Notes = append(mr.Notes, fmt.Sprintf("VMmanager answered %d VMs of other clusters to a filter on cluster %d; they were left out", foreign, m.Cluster.ID))
	}
	if err := r.ownerEmails(ctx, vms); err != nil {
		return nil, err
	}
	mr.Compared.VMs = len(vms)
	return vms, nil
}

// emptyWindows is how many empty id windows in a row past the highest id seen end the windowed read.
const emptyWindows = 20

func (r *reader) windows(ctx context.Context, vms map[uint64]*VM, add func(vmm.Host) error, highest *uint64) error {
	for _, s := range r.services {
		*highest = max(*highest, s.VM.HostID)
	}
	empty := 0
	w := uint64(r.batch)
	for first := uint64(1); r.mr.Compared.HostCount < 0 || len(vms) < r.mr.Compared.HostCount; first += w {
		if first > *highest && empty >= emptyWindows {
			break
		}
		ids := make([]uint64, w)
		for i := range ids {
			ids[i] = first + uint64(i)
		}
		n, err := r.c.EachHost(ctx, vmm.HostFilter{Cluster: r.m.Cluster.ID, IDs: ids}, add)
		r.mr.Compared.Requests++
		r.mr.Compared.Pieces++
		if err != nil {
			return err
		}
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
	}
	return nil
}

// ownerEmails names each VM's owner: from the account list, and for owners it lacked (a cut list),
// from reads of those accounts by id in batches.
func (r *reader) ownerEmails(ctx context.Context, vms map[uint64]*VM) error {
	var lacking []uint64
	for _, v := range vms {
		if _, ok := r.accounts[v.AccountID]; !ok && v.AccountID != 0 && !slices.Contains(lacking, v.AccountID) {
			lacking = append(lacking, v.AccountID)
		}
	}
	slices.Sort(lacking)
	for chunk := range slices.Chunk(lacking, r.batch) {
		got, err := r.c.AccountsByID(ctx, chunk)
		r.mr.Compared.Requests++
		if err != nil {
			return err
		}
		for _, a := range got {
			r.accounts[a.ID] = a.Email
		}
	}
	for _, v := range vms {
		v.Account = r.accounts[v.AccountID]
	}
	return nil
}

// confirm looks up, by id and by name in batches, the VMs of services the cluster list lacks: one
// the list missed is added to the comparison; one found on another cluster is noted.
func (r *reader) confirm(ctx context.Context, missing []*store.Service, cmp *comparison) error {
	defer r.pr.step(r.m, "confirming", 1)
	var ids []uint64
	var names []string
	for _, s := range missing {
		if s.VM.HostID != 0 {
			ids = append(ids, s.VM.HostID)
		}
		names = append(names, vmName(s.ID))
	}
	found := func(h vmm.Host) error {
		if h.Cluster != 0 && h.Cluster != r.m.Cluster.ID {
			cmp.elsewhere[h.ID] = h.Cluster
			return nil
		}
		if _, ok := cmp.vms[h.ID]; !ok {
			cmp.add(vmOf(h, r.accounts))
		}
		return nil
	}
	for chunk := range slices.Chunk(ids, r.batch) {
		_, err := r.c.EachHost(ctx, vmm.HostFilter{IDs: chunk}, found)
		r.mr.Compared.Requests++
		if err != nil {
			return err
		}
	}
	if !r.partial { // a whole list holds every VM of the cluster by name already
		return nil
	}
	for chunk := range slices.Chunk(names, r.batch) {
		_, err := r.c.EachHost(ctx, vmm.HostFilter{Cluster: r.m.Cluster.ID, Names: chunk}, found)
		r.mr.Compared.Requests++
		if err != nil {
			return err
		}
	}
	return nil
}

func vmOf(h vmm.Host, accounts map[uint64]string) *VM {
	v := &VM{ID: h.ID, Name: h.Name, State: h.State, CPU: h.CPU, RAMMiB: h.RAMMiB, DiskMiB: h.DiskMiB,
		IPv4: h.IPv4, MainIPv4: len(h.MainIPv4), IPv6: h.IPv6, AccountID: h.Account, Account: accounts[h.Account],
		Cluster: h.Cluster}
	if _, ep, ok := queue.ParseEpochMark(h.Comment); ok {
		v.EngineEpoch = ep
	}
	return v
}

// ScanAndRecord is Scan that keeps each module's outcome as its last scan (what status and the Modules
// screen show) and returns, per module, what is new since the scan before. scheduled marks serve's
// scans, which also open one department task per module and class with new findings.
func (s *Scanner) ScanAndRecord(ctx context.Context, q Query, onProgress func(Progress), scheduled bool) (*Report, map[uint64]*Recorded, error) {
	rep, err := s.Scan(ctx, q, onProgress)
	if err != nil {
		return nil, nil, err
	}
	byModule := map[uint64][]Finding{}
	for _, f := range rep.Findings {
		byModule[f.ModuleID] = append(byModule[f.ModuleID], f)
	}
	out := map[uint64]*Recorded{}
	for i := range rep.Modules {
		mr := &rep.Modules[i]
		m, err := store.Load[store.Module](s.DB, mr.ModuleID)
		if err != nil {
			continue // removed meanwhile: nothing to keep
		}
		rec, err := record(s.DB, m, mr, byModule[m.ID], scheduled, scheduled && mr.Error == "")
		if err != nil {
			return rep, out, err
		}
		out[m.ID] = rec
	}
	return rep, out, s.clearLooked(rep)
}
