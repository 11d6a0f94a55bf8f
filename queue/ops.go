package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// VMName is the VM name open gives a service, so a retried or recovered open finds what it made.
func VMName(serviceID uint64) string { return "svc-" + strconv.FormatUint(serviceID, 10) }

// vmmExecutor runs spec §5's operations against VMmanager 6. Every step first looks at what VMmanager
// already holds, so an attempt repeated after a lost answer or a crash does not do the work twice.
type vmmExecutor struct {
	secrets store.Secrets
	poll    time.Duration
	legacy  bool // each job polls its own task and nothing is cached: what main did (benchmarks compare)

	mu       sync.Mutex
	clients  map[uint64]*moduleClient
	accounts sync.Map // "module/email" → *sync.Mutex: one account creation at a time per client
	rooms    sync.Map // module id → *room: what its cluster had free when last read
}

type moduleClient struct {
	key string // what the client was built from; a change of module settings builds a new one
	c   *vmm.Client
}

// NewVMMExecutor returns the VMmanager executor: one vmm.Client (one token cache) per module, with the
// module's session storage period, and the password from secrets.
func NewVMMExecutor(secrets store.Secrets, pollEvery time.Duration) Executor {
	if pollEvery <= 0 {
		pollEvery = DefaultPollEvery
	}
	return &vmmExecutor{secrets: secrets, poll: pollEvery, clients: map[uint64]*moduleClient{}}
}

func (x *vmmExecutor) client(m *store.Module) (*vmm.Client, error) {
	if m.ID == 0 {
		return nil, permanent(errors.New("the job's module no longer exists"))
	}
	key := clientKey(m)
	// Held while building, so concurrent first operations share one client and so one login.
	x.mu.Lock()
	defer x.mu.Unlock()
	if mc := x.clients[m.ID]; mc != nil && mc.key == key {
		return mc.c, nil
	}
	pw, err := x.secrets.Get(m.ID)
	if err != nil {
		return nil, err
	}
	c, err := vmm.New(vmm.Config{URL: m.URL, Email: m.Username, Password: pw, InsecureTLS: m.InsecureTLS,
		TLSPin: m.TLSPin, CAFile: m.TLSCAFile,
		SessionTTL: time.Duration(m.Params.SessionTTL) * time.Second, PollEvery: x.poll})
	if err != nil {
		return nil, &Error{Err: err, Msg: vmm.Describe(err)}
	}
	x.clients[m.ID] = &moduleClient{key: key, c: c}
	return c, nil
}

// clientKey is what a module's client is built from (the password aside: a refused one drops the client).
func clientKey(m *store.Module) string {
	return fmt.Sprintf("%s|%s|%t|%d|%s|%s", m.URL, m.Username, m.InsecureTLS, m.Params.SessionTTL, m.TLSPin, m.TLSCAFile)
}

// SessionLogins is how many times the engine logged in to a module's VMmanager in the current session
// period: vmm.LoginPeriod of the module's client. The period is the stretch during which the engine
// held a session for the module without a gap; it begins with a login made when no token was within
// the module's session storage period and lasts until the newest token runs out (each login extends it
// by a full period). One login is the healthy figure; more are sessions VMmanager refused early (401).
// With session_ttl 0 no session is kept and the count is over an hour begun by the first login.
//
// The count belongs to one client. A client built afresh (module URL, user, TLS or session_ttl changed,
// or the password refused) drops the old session with the old client, so its period restarts: Since
// says when. While the module's settings no longer match its client (changed, and no operation has run
// since to rebuild it) no session for them exists yet, and the figure is 0 logins with no period.
type SessionLogins struct {
	Count        int
	Since, Until time.Time     // the current period; zero when none runs (Count is then 0)
	TTL          time.Duration // the module's session storage period (0: a login per operation)
}

// NoSessionPeriod is how long the logins are counted over with session_ttl 0 (vmm.NoSessionPeriod).
const NoSessionPeriod = vmm.NoSessionPeriod

// Logins reports the engine's logins to m's VMmanager in the current session period (see
// SessionLogins), read under the executor's lock. ok is false when the engine's executor is not the
// VMmanager one and so counts no logins.
func (e *Engine) Logins(m *store.Module) (_ SessionLogins, ok bool) {
	x, ok := e.exec.(*vmmExecutor)
	if !ok {
		return SessionLogins{}, false
	}
	return x.logins(m, time.Now()), true
}

func (x *vmmExecutor) logins(m *store.Module, now time.Time) SessionLogins {
	out := SessionLogins{TTL: time.Duration(m.Params.SessionTTL) * time.Second}
	x.mu.Lock()
	mc := x.clients[m.ID]
	x.mu.Unlock()
	if mc == nil || mc.key != clientKey(m) {
		return out
	}
	p := mc.c.LoginPeriod(now)
	out.Count, out.Since, out.Until = p.Logins, p.Start, p.End
	return out
}

// forget drops a module's client after VMmanager refused its password, so the next attempt reads the
// password again (the admin may have fixed it).
func (x *vmmExecutor) forget(id uint64) {
	x.mu.Lock()
	delete(x.clients, id)
	x.mu.Unlock()
}

func (x *vmmExecutor) Execute(ctx context.Context, op *Op) (Result, error) {
	c, err := x.client(&op.Module)
	if err != nil {
		return Result{}, verdict(err)
	}
	res, err := x.run(ctx, c, op)
	if errors.Is(err, vmm.ErrBadCredentials) {
		x.forget(op.Module.ID)
	}
	return res, verdict(err)
}

// verdict turns an error into the engine's *Error: whether to retry, whether it is the module's
// health, and the sentence to show. Only this executor knows vmm's error types; the scheduler does not.
func verdict(err error) error {
	var qe *Error
	var se *store.SecretError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &qe):
		return err
	case errors.As(err, &se):
		return &Error{Err: err, Msg: se.Error(), Retry: errors.Is(err, store.ErrSecretTimeout)}
	}
	module := errors.Is(err, vmm.ErrUnreachable) || errors.Is(err, vmm.ErrTLS) ||
		errors.Is(err, vmm.ErrUnavailable) || errors.Is(err, vmm.ErrUnauthorized) ||
		(vmm.Transient(err) && !errors.Is(err, vmm.ErrBusy)) // a busy VM says nothing of the module
	return &Error{Err: err, Msg: vmm.Describe(err), Retry: vmm.Transient(err), Module: module}
}

func (x *vmmExecutor) run(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	if op.Job.Type == store.OpOpen {
		return x.open(ctx, c, op)
	}
	if op.Job.Type == store.OpReconcile {
		return x.reconcile(ctx, c, op) // reconcileops.go
	}
	id := op.Service.VM.HostID
	if id == 0 {
		return Result{}, permanent(fmt.Errorf("service %d has no VM in VMmanager", op.Service.ID))
	}
	switch op.Job.Type {
	case store.OpSuspend:
		return x.simple(ctx, c, op, vmm.TaskHostStop, stateIs("stopped"), c.StopHost, store.ServiceSuspended)
	case store.OpResume:
		return x.simple(ctx, c, op, vmm.TaskHostStart, stateIs("active"), c.StartHost, store.ServiceActive)
	case store.OpReboot:
		return x.simple(ctx, c, op, vmm.TaskHostStart, nil, c.RestartHost, "")
	case store.OpClose:
		return x.close(ctx, c, op)
	case store.OpReinstall:
		return x.reinstall(ctx, c, op)
	case store.OpSetPassword:
		return x.setPassword(ctx, c, op)
	case store.OpSetParam:
		return x.setParam(ctx, c, op)
	}
	return Result{}, permanent(fmt.Errorf("unknown operation %q", op.Job.Type))
}

// whenFree makes one VMmanager change and, while VMmanager answers that the VM is busy with another
// task (a backup, a change made in the panel), makes it again after a growing pause: from half of
// PollEvery, doubling to 15 PollEvery, for up to 150 PollEvery (5 minutes with the default 2 s).
// Then the busy answer is the attempt's error, which is retried later with the job's backoff.
func whenFree[T any](ctx context.Context, x *vmmExecutor, op *Op, call func() (T, error)) (T, error) {
	pause, deadline := max(x.poll/2, time.Millisecond), time.Now().Add(150*x.poll)
	for logged := false; ; logged = true {
		v, err := call()
		if !errors.Is(err, vmm.ErrBusy) || time.Now().Add(pause).After(deadline) {
			return v, err
		}
		if !logged {
			op.Logf("VM %d is busy with another task in VMmanager; trying again until it is free (%s)", op.Service.VM.HostID, vmm.Describe(err))
		}
		if err := vmm.Sleep(ctx, pause); err != nil {
			return v, err
		}
		pause = min(2*pause, 15*x.poll)
	}
}

func stateIs(s string) func(*vmm.Host) bool { return func(h *vmm.Host) bool { return h.State == s } }

// resumeTask waits for the task a cut-short attempt recorded, if it has the given name. It reports
// whether there was one.
func (x *vmmExecutor) resumeTask(ctx context.Context, c *vmm.Client, op *Op, name string) (bool, error) {
	t := op.Job.VMTask
	if t == nil || t.Name != name {
		return false, nil
	}
	op.Logf("waiting for VMmanager task %s (%s) recorded earlier", t.ConsulID, t.Name)
	return true, x.wait(ctx, c, vmm.TaskRef{ConsulID: t.ConsulID, Name: t.Name})
}

// act records the task a VMmanager call started, then waits for it.
func (x *vmmExecutor) act(ctx context.Context, c *vmm.Client, op *Op, call func() (vmm.TaskRef, error)) error {
	ref, err := whenFree(ctx, x, op, call)
	if err != nil {
		return err
	}
	if err := op.Record(&store.VMTask{ConsulID: ref.ConsulID, Name: ref.Name}, nil, nil); err != nil {
		return err
	}
	return x.wait(ctx, c, ref)
}

// simple runs a one-call operation: resume its task, or skip it when the VM is already there (done),
// or call and wait. status, when set, is the service status afterwards.
func (x *vmmExecutor) simple(ctx context.Context, c *vmm.Client, op *Op, task string, done func(*vmm.Host) bool,
	call func(context.Context, uint64) (vmm.TaskRef, error), status string) (Result, error) {
	id := op.Service.VM.HostID
	resumed, err := x.resumeTask(ctx, c, op, task)
	if err != nil || resumed {
		return statusResult(status), err
	}
	h, err := hostOrGone(ctx, c, op)
	if err != nil {
		return Result{}, err
	}
	if done != nil && done(h) {
		op.Logf("VM %d is already %s", id, h.State)
		return statusResult(status), nil
	}
	err = x.act(ctx, c, op, func() (vmm.TaskRef, error) { return call(ctx, id) })
	return statusResult(status), err
}

func statusResult(status string) Result {
	if status == "" {
		return Result{}
	}
	return Result{Service: func(s *store.Service) { s.Status = status }}
}

func hostOrGone(ctx context.Context, c *vmm.Client, op *Op) (*vmm.Host, error) {
	h, err := c.Host(ctx, op.Service.VM.HostID)
	if errors.Is(err, vmm.ErrNotFound) {
		return nil, permanent(fmt.Errorf("VM %d of service %d no longer exists in VMmanager", op.Service.VM.HostID, op.Service.ID))
	}
	return h, err
}

func (x *vmmExecutor) close(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	res := Result{Service: func(s *store.Service) {
		s.Status = store.ServiceDeleted
		s.VM.IPv4, s.VM.IPv6 = nil, nil
	}}
	resumed, err := x.resumeTask(ctx, c, op, vmm.TaskHostDelete)
	if err != nil || resumed {
		return res, err
	}
	id := op.Service.VM.HostID
	if _, err := c.Host(ctx, id); errors.Is(err, vmm.ErrNotFound) {
		op.Logf("VM %d is already gone", id)
		return res, nil
	} else if err != nil {
		return Result{}, err
	}
	return res, x.act(ctx, c, op, func() (vmm.TaskRef, error) { return c.DeleteHost(ctx, id) })
}

func (x *vmmExecutor) reinstall(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	res := statusResult(store.ServiceActive)
	resumed, err := x.resumeTask(ctx, c, op, vmm.TaskHostReinstall)
	if err != nil || resumed {
		return res, err
	}
	osID := argUint(op.Job.Args, ArgOSID, op.Tariff.OSID)
	recipe := uint64(0)
	if op.Module.UseRecipes {
		recipe = argUint(op.Job.Args, ArgRecipeID, op.Tariff.RecipeID)
	}
	if _, err := hostOrGone(ctx, c, op); err != nil {
		return Result{}, err
	}
	return res, x.act(ctx, c, op, func() (vmm.TaskRef, error) {
		return c.ReinstallHost(ctx, op.Service.VM.HostID, osID, recipe, newPassword())
	})
}

// setPassword changes the root password. No source names the password task, so a recorded one is
// whatever task this job recorded, followed by consul id.
func (x *vmmExecutor) setPassword(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	if t := op.Job.VMTask; t != nil {
		op.Logf("waiting for VMmanager task %s recorded earlier", t.ConsulID)
		return Result{}, x.wait(ctx, c, vmm.TaskRef{ConsulID: t.ConsulID})
	}
	pw, err := x.secrets.Get(store.JobSecretID(op.Job.ID))
	if errors.Is(err, store.ErrSecretNotFound) {
		return Result{}, permanent(errors.New("the new password is no longer in the secret store; run setpassword again"))
	}
	if err != nil {
		return Result{}, err
	}
	ref, err := whenFree(ctx, x, op, func() (*vmm.TaskRef, error) { return c.SetPassword(ctx, op.Service.VM.HostID, pw) })
	if err != nil || ref == nil {
		return Result{}, err
	}
	if err := op.Record(&store.VMTask{ConsulID: ref.ConsulID, Name: ref.Name}, nil, nil); err != nil {
		return Result{}, err
	}
	return Result{}, x.wait(ctx, c, *ref)
}

// setParam sets CPU and RAM (up or down), grows the disk and adds IPv4 addresses, the way ISPsystem's
// module changes a package: every change is posted first (on an active VM the resource and disk
// changes carry defer {action: host_stop}, so VMmanager applies them at the next stop), then an
// active VM is restarted, also after adding addresses as ISPsystem's module does, then all their
// tasks are awaited together. A deferred task may wait for that restart, so none is awaited before
// it; a change that is not deferred (the addresses, anything on a stopped VM) applies at once and
// is awaited before the next, which a VM busy with it would refuse. Each task is recorded as it is
// started; a repeated attempt posts only what it had not, and one that had restarted the VM only
// waits and reads back.
func (x *vmmExecutor) setParam(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	posted := parseTasks(op.Job.Args[ArgParamTasks])
	if t := op.Job.VMTask; t != nil && len(posted) == 0 { // recorded by a vmmpm that did not list them
		posted = []vmm.TaskRef{{ConsulID: t.ConsulID, Name: t.Name}}
	}
	if len(posted) > 0 {
		op.Logf("VMmanager tasks recorded earlier: %s", formatTasks(posted))
	}
	if hasTask(posted, vmm.TaskHostStart) { // the restart that applies the changes was made
		return x.awaitParams(ctx, c, op, posted)
	}
	h, err := hostOrGone(ctx, c, op)
	if err != nil {
		return Result{}, err
	}
	cpu := int(argUint(op.Job.Args, ArgCPU, uint64(h.CPU)))
	ram := int(argUint(op.Job.Args, ArgRAMMiB, uint64(h.RAMMiB)))
	disk := int(argUint(op.Job.Args, ArgDiskMiB, uint64(h.DiskMiB)))
	if disk < h.DiskMiB {
		return Result{}, permanent(shrinkError(h.ID, h.DiskMiB, disk))
	}
	addIPs := 0
	if v, ok := op.Job.Args[ArgIPv4Count]; ok && !hasTask(posted, vmm.TaskIPChange) {
		n, _ := strconv.Atoi(v)
		if addIPs = n - len(h.MainIPv4); addIPs < 0 {
			return Result{}, permanent(fmt.Errorf("VM %d has %d IPv4 addresses and vmmpm only adds addresses (no public source shows removing them); remove %d in VMmanager",
				h.ID, len(h.MainIPv4), -addIPs))
		}
	}
	onStop := h.State == "active"
	var over []vmm.TaskRef // tasks this attempt already saw finish
	// post makes a change and records its task. A change that is not deferred applies now, and the
	// VM is busy until it has: it is awaited before the next change.
	post := func(deferred bool, call func() (vmm.TaskRef, error)) error {
		ref, err := whenFree(ctx, x, op, call)
		if err != nil {
			return err
		}
		posted = append(posted, ref)
		if err := op.Record(&store.VMTask{ConsulID: ref.ConsulID, Name: ref.Name}, map[string]string{ArgParamTasks: formatTasks(posted)}, nil); err != nil {
			return err
		}
		if deferred {
			return nil
		}
		over = append(over, ref)
		return x.wait(ctx, c, ref)
	}
	if (cpu != h.CPU || ram != h.RAMMiB) && !hasTask(posted, vmm.TaskHostParams) {
		if err := post(onStop, func() (vmm.TaskRef, error) { return c.SetResources(ctx, h.ID, cpu, ram, onStop) }); err != nil {
			return Result{}, err
		}
	}
	if disk > h.DiskMiB && !hasTask(posted, vmm.TaskDiskResize) {
		if err := post(onStop, func() (vmm.TaskRef, error) { return c.ResizeDisk(ctx, h.DiskID, disk, onStop) }); err != nil {
			return Result{}, err
		}
	}
	if addIPs > 0 {
		pool, err := c.MainPool(ctx, h.Cluster)
		if err != nil {
			return Result{}, err
		}
		if err := post(false, func() (vmm.TaskRef, error) { return c.AddIPv4(ctx, h.ID, addIPs, pool) }); err != nil {
			return Result{}, err
		}
	}
	if onStop && len(posted) > 0 {
		op.Logf("restarting VM %d so the change takes effect", h.ID)
		if err := post(true, func() (vmm.TaskRef, error) { return c.RestartHost(ctx, h.ID) }); err != nil {
			return Result{}, err
		}
	}
	rest := slices.DeleteFunc(slices.Clone(posted), func(r vmm.TaskRef) bool { return slices.Contains(over, r) })
	return x.awaitParams(ctx, c, op, rest)
}

// awaitParams waits for every task a setparam started, together, then reads the VM back. A task
// VMmanager no longer lists was recorded by an earlier attempt and is over.
func (x *vmmExecutor) awaitParams(ctx context.Context, c *vmm.Client, op *Op, refs []vmm.TaskRef) (Result, error) {
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() { errs[i] = x.wait(ctx, c, ref) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, vmm.ErrNotFound) {
			return Result{}, err
		}
	}
	return x.paramsDone(ctx, c, op)
}

func hasTask(refs []vmm.TaskRef, name string) bool {
	return slices.ContainsFunc(refs, func(r vmm.TaskRef) bool { return r.Name == name })
}

// formatTasks writes tasks as ArgParamTasks holds them; parseTasks reads them back.
func formatTasks(refs []vmm.TaskRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.ConsulID + "/" + r.Name
	}
	return strings.Join(parts, ",")
}

func parseTasks(s string) []vmm.TaskRef {
	var out []vmm.TaskRef
	for _, p := range strings.Split(s, ",") {
		if id, name, _ := strings.Cut(p, "/"); id != "" {
			out = append(out, vmm.TaskRef{ConsulID: id, Name: name})
		}
	}
	return out
}

// paramsDone reads the VM back so the service shows its addresses and disk as VMmanager now has them.
func (x *vmmExecutor) paramsDone(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	h, err := hostOrGone(ctx, c, op)
	if err != nil {
		return Result{}, err
	}
	op.Logf("VM %d now has %d CPU, %d MiB RAM, a %d MiB disk and %d IPv4 addresses", h.ID, h.CPU, h.RAMMiB, h.DiskMiB, len(h.IPv4))
	return Result{Service: func(s *store.Service) {
		s.VM.IPv4, s.VM.IPv6, s.VM.DiskMiB, s.VM.CPU, s.VM.RAMMiB = h.IPv4, h.IPv6, h.DiskMiB, h.CPU, h.RAMMiB
	}}, nil
}

func shrinkError(vm uint64, has, asked int) error {
	return fmt.Errorf("VMmanager only grows disks: VM %d has a %d MiB disk and %d MiB was asked; give %d or more", vm, has, asked, has)
}

// checkDiskShrink refuses, at enqueue, a setparam that asks for a smaller disk than the service's VM
// is known to have (last read back, or the tariff's size it was created with).
func checkDiskShrink(tx *store.Tx, s *store.Service, op string, args map[string]string) error {
	if op != store.OpSetParam || args[ArgDiskMiB] == "" || s.VM.HostID == 0 {
		return nil
	}
	has := s.VM.DiskMiB
	if has == 0 {
		if t, err := store.Get[store.Tariff](tx, s.TariffID); err == nil {
			has = t.DiskMiB
		}
	}
	asked, _ := strconv.Atoi(args[ArgDiskMiB])
	if asked < has {
		return &store.ValidationError{Field: ArgDiskMiB, Rule: fmt.Sprintf(
			"%d MiB is smaller than the %d MiB disk of service %d's VM; VMmanager only grows disks, so give %d or more", asked, has, s.ID, has)}
	}
	return nil
}

func argUint(args map[string]string, key string, def uint64) uint64 {
	if n, err := strconv.ParseUint(args[key], 10, 64); err == nil && n > 0 {
		return n
	}
	return def
}

// ---- open ----

// open creates the service's VM, or adopts the one an earlier attempt made (spec §5, §6).
func (x *vmmExecutor) open(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	// A recorded task VMmanager no longer lists says nothing about the VM: look it up by name instead.
	if _, err := x.resumeTask(ctx, c, op, vmm.TaskHostCreate); errors.Is(err, vmm.ErrNotFound) {
		op.Logf("VMmanager no longer lists the recorded task; looking for the VM instead")
	} else if err != nil {
		return Result{}, err
	}
	name := VMName(op.Service.ID)
	h, err := x.keepVM(ctx, c, op, name) // reconcileops.go: the recorded VM, else the oldest; others are duplicates
	if err != nil {
		return Result{}, err
	}
	var recipe *vmm.TaskRef
	if h == nil {
		if recipe, err = x.create(ctx, c, op, name); err != nil {
			return Result{}, err
		}
	} else if err := x.adopt(ctx, c, op, h); err != nil {
		return Result{}, x.adoptedGone(op, h, err)
	}
	if err := x.waitRecipe(ctx, c, op, recipe); err != nil {
		return Result{}, err
	}
	res, err := x.readBack(ctx, c, op)
	if h != nil {
		err = x.adoptedGone(op, h, err)
	}
	return res, err
}

// vanished is a VM open made or adopted that VMmanager no longer lists, by name.
type vanished string

func (v vanished) Error() string {
	return fmt.Sprintf("VM %s vanished from VMmanager right after it was created", string(v))
}

// adoptedGone turns an adopted VM's vanishing (err) into another attempt with none recorded, so it
// makes a new VM: on a shared database the host that made the VM may have woken after its lease
// lapsed and removed it as a copy (stale.go) just as this engine adopted it.
func (x *vmmExecutor) adoptedGone(op *Op, h *vmm.Host, err error) error {
	var gone vanished
	if !errors.As(err, &gone) && !errors.Is(err, vmm.ErrNotFound) {
		return err
	}
	if rerr := op.Record(nil, nil, func(s *store.Service) {
		if s.VM.HostID == h.ID {
			s.VM.HostID = 0
		}
	}); rerr != nil {
		return rerr
	}
	op.Service.VM.HostID = 0
	return &Error{Err: err, Retry: true, Msg: fmt.Sprintf("VM %s (id %d), adopted from an earlier attempt, vanished from VMmanager "+
		"(a host that made it after its lease lapsed removes such a copy); the next attempt makes a new one", h.Name, h.ID)}
}

func (x *vmmExecutor) create(ctx context.Context, c *vmm.Client, op *Op, name string) (*vmm.TaskRef, error) {
	acc, err := x.account(ctx, c, op)
	if err != nil {
		return nil, err
	}
	t, m := &op.Tariff, &op.Module
	if t.ID == 0 {
		return nil, permanent(fmt.Errorf("tariff %d of service %d no longer exists", op.Service.TariffID, op.Service.ID))
	}
	spec := vmm.HostSpec{Name: name, Cluster: m.Cluster.ID, OS: t.OSID, Account: acc, Password: newPassword(),
		CPU: t.CPU, RAMMiB: t.RAMMiB, DiskMiB: t.DiskMiB, IPv4Count: t.IPv4Count,
		AdditionalInterface: m.AdditionalInterface, Domain: op.Service.Domain}
	if m.UseRecipes {
		spec.RecipeID = t.RecipeID
	}
	n := needOf(op)
	if err := x.checkRoom(ctx, c, op, n, false); err != nil {
		return nil, err
	}
	if err := op.e.mayCreate(op.Job.ModuleID); err != nil {
		return nil, err
	}
	cr, err := x.createHost(ctx, c, op, spec)
	if err != nil && !vmm.Transient(err) {
		// Refused: when VMmanager's figures now show no room, that was why, and the open waits.
		if werr := x.checkRoom(ctx, c, op, n, true); werr != nil {
			return nil, werr
		}
	}
	if err != nil && !vmm.Transient(err) && c.ForgetAccount(op.Service.ClientEmail) {
		// The account came from the cache and may be gone (deleted in the panel): look it up afresh.
		if again, aerr := x.account(ctx, c, op); aerr == nil && again != acc {
			spec.Account, acc = again, again
			if err := op.e.mayCreate(op.Job.ModuleID); err != nil {
				return nil, err
			}
			cr, err = x.createHost(ctx, c, op, spec)
		}
	}
	if err != nil {
		return nil, err
	}
	op.e.fault(FaultAfterCreate, op.Job.ID)
	if err := x.dropIfStale(ctx, c, op, name, cr.HostID); err != nil {
		return nil, err
	}
	x.took(op.Module.ID, n)
	var args map[string]string
	if cr.RecipeTask != nil {
		args = map[string]string{ArgRecipeTask: cr.RecipeTask.ConsulID + "/" + cr.RecipeTask.Name}
	}
	err = op.Record(&store.VMTask{ConsulID: cr.Task.ConsulID, Name: cr.Task.Name}, args, func(s *store.Service) {
		s.VM.HostID, s.VM.AccountID = cr.HostID, acc
	})
	if err != nil {
		return nil, err
	}
	op.e.fault(FaultAfterRecord, op.Job.ID)
	op.Service.VM.HostID, op.Service.VM.AccountID = cr.HostID, acc
	op.Logf("VM %s (id %d) requested", name, cr.HostID)
	return cr.RecipeTask, x.wait(ctx, c, cr.Task)
}

// need is what one new VM takes from its cluster: CPU, RAM and disk, and addresses on the main
// interface and on the additional one.
type need struct{ cpu, ramMiB, diskMiB, main, extra int }

func needOf(op *Op) need {
	n := need{cpu: op.Tariff.CPU, ramMiB: op.Tariff.RAMMiB, diskMiB: op.Tariff.DiskMiB, main: op.Tariff.IPv4Count}
	if op.Module.AdditionalInterface {
		n.extra = 1
	}
	return n
}

// room is what a module's cluster had free when last read, less what the engine has taken since.
type room struct {
	mu      sync.Mutex
	reading chan struct{} // one reading at a time; the others wait for it and use it
	r       vmm.ClusterRoom
	at      time.Time
	taken   need
}

// roomFresh is how long a reading of a cluster's free room is trusted before the next open reads it
// again: 10 PollEvery (20 s with the default 2 s), so checking costs two requests per module per
// 20 s however many opens run.
func (x *vmmExecutor) roomFresh() time.Duration { return 10 * x.poll }

func (x *vmmExecutor) roomOf(module uint64) *room {
	r, _ := x.rooms.LoadOrStore(module, &room{reading: make(chan struct{}, 1)})
	return r.(*room)
}

// took counts a VM just created against the last reading, until the next one.
func (x *vmmExecutor) took(module uint64, n need) {
	r := x.roomOf(module)
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &r.taken
	t.cpu, t.ramMiB, t.diskMiB, t.main, t.extra = t.cpu+n.cpu, t.ramMiB+n.ramMiB, t.diskMiB+n.diskMiB, t.main+n.main, t.extra+n.extra
}

// readRoom reads the module's cluster afresh when the last reading is older than maxAge (0: always).
func (x *vmmExecutor) readRoom(ctx context.Context, c *vmm.Client, m *store.Module, maxAge time.Duration) (vmm.ClusterRoom, need, error) {
	r := x.roomOf(m.ID)
	asked := time.Now()
	// usable: a reading of this cluster young enough, or made since this call began (while it waited
	// for another caller's reading: opens starting together read once).
	usable := func() bool {
		return !r.at.IsZero() && r.r.ID == m.Cluster.ID && (r.at.After(asked) || (maxAge > 0 && time.Since(r.at) < maxAge))
	}
	r.mu.Lock()
	if usable() {
		defer r.mu.Unlock()
		return r.r, r.taken, nil
	}
	r.mu.Unlock()
	select {
	case r.reading <- struct{}{}:
		defer func() { <-r.reading }()
	case <-ctx.Done():
		return vmm.ClusterRoom{}, need{}, ctx.Err()
	}
	r.mu.Lock()
	if usable() {
		defer r.mu.Unlock()
		return r.r, r.taken, nil
	}
	r.mu.Unlock()
	got, err := c.Room(ctx, m.Cluster.ID)
	if err != nil {
		return vmm.ClusterRoom{}, need{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.r, r.at, r.taken = got, time.Now(), need{}
	return got, need{}, nil
}

// checkRoom returns the wait for an open when VMmanager's figures show no room for its VM: from the
// last reading (fresh false; a shortage is read again before it counts) or from a new one. Figures
// VMmanager does not give, or cannot be read, never hold an open: VMmanager's own answer decides.
func (x *vmmExecutor) checkRoom(ctx context.Context, c *vmm.Client, op *Op, n need, fresh bool) error {
	if x.legacy {
		return nil
	}
	m := op.Module
	maxAge := x.roomFresh()
	if fresh {
		maxAge = 0
	}
	r, taken, err := x.readRoom(ctx, c, &m, maxAge)
	if err != nil {
		return nil
	}
	cause, advice := shortage(r, taken, n, m.Name)
	if cause != "" && !fresh {
		if r, _, err = x.readRoom(ctx, c, &m, 0); err != nil {
			return nil
		}
		cause, advice = shortage(r, need{}, n, m.Name)
	}
	if cause == "" {
		return nil
	}
	ready := func(ctx context.Context) bool {
		r, _, err := x.readRoom(ctx, c, &m, 0)
		cause, _ := shortage(r, need{}, n, m.Name)
		return err == nil && cause == ""
	}
	return &Error{Err: errors.New(cause), Msg: sentence("waiting: " + cause), Wait: &Wait{Cause: cause, Advice: advice, Ready: ready}}
}

// shortage names what a cluster lacks for a VM of n, given what was taken since the reading: the
// cause (the same words each time) and one sentence with the figures and what to do; "" when it fits.
func shortage(r vmm.ClusterRoom, taken, n need, module string) (cause, advice string) {
	after := fmt.Sprintf("; the opens waiting on module %s go on by themselves when there is room", module)
	for _, a := range []struct {
		what       string
		extra      bool
		took, want int
	}{{"main", false, taken.main, n.main}, {"additional", true, taken.extra, n.extra}} {
		if a.want == 0 {
			continue
		}
		var ids []string
		free, known := 0, true
		for _, p := range r.Pools {
			if (p.Interface >= 1) != a.extra || (a.extra && len(ids) > 0) {
				continue // a second interface draws from the first pool on an additional interface
			}
			ids = append(ids, fmt.Sprintf("%d (%s)", p.ID, p.Name))
			if p.IPv4 == nil {
				known = false
			} else {
				free += p.IPv4.Free()
			}
		}
		if len(ids) == 0 || !known || free-a.took >= a.want {
			continue
		}
		pools := "pool " + ids[0]
		if len(ids) > 1 {
			pools = "pools " + strings.Join(ids, ", ")
		}
		cause = "no free IPv4 in " + pools
		if a.extra {
			cause += " on the additional interface"
		}
		return cause, fmt.Sprintf("VMmanager's %s has %d free IPv4 addresses and a new VM needs %d: add addresses in VMmanager, or attach another pool to cluster %d's %s interface%s",
			pools, max(free-a.took, 0), a.want, r.ID, a.what, after)
	}
	if r.Oversold {
		return "", ""
	}
	for _, a := range []struct {
		what, unit string
		room       *vmm.Room
		took, want int
	}{{"CPU", "CPUs", r.CPU, taken.cpu, n.cpu}, {"RAM", "MiB", r.RAMMiB, taken.ramMiB, n.ramMiB}, {"disk", "MiB of disk", r.StorageMiB, taken.diskMiB, n.diskMiB}} {
		if a.room == nil || a.room.Free()-a.took >= a.want {
			continue
		}
		cluster := fmt.Sprintf("cluster %d (%s)", r.ID, r.Name)
		return "not enough free " + a.what + " on " + cluster, fmt.Sprintf("VMmanager's %s has %d of %d %s free and a new VM needs %d: add a node or free resources in VMmanager%s",
			cluster, max(a.room.Free()-a.took, 0), a.room.Total, a.unit, a.want, after)
	}
	return "", ""
}

// adopt takes over a VM an earlier attempt created (its answer or its record was lost) and waits
// until VMmanager has finished creating it.
func (x *vmmExecutor) adopt(ctx context.Context, c *vmm.Client, op *Op, h *vmm.Host) error {
	if h.State == "failed" {
		return permanent(fmt.Errorf("VM %s (id %d) exists in VMmanager but its creation failed; delete it there, then retry the job", h.Name, h.ID))
	}
	if op.Service.VM.HostID != h.ID {
		op.Logf("found VM %s (id %d) from an earlier attempt; adopting it", h.Name, h.ID)
		if err := op.Record(nil, nil, func(s *store.Service) { s.VM.HostID, s.VM.AccountID = h.ID, h.Account }); err != nil {
			return err
		}
		op.Service.VM.HostID = h.ID
	}
	for h.State == "creating" {
		if err := vmm.Sleep(ctx, x.poll); err != nil {
			return err
		}
		var err error
		if h, err = c.Host(ctx, h.ID); err != nil {
			return err
		}
	}
	if h.State == "failed" {
		return permanent(fmt.Errorf("VMmanager failed to create VM %s (id %d)", h.Name, h.ID))
	}
	return nil
}

// waitRecipe waits for the recipe when the module counts a service active only after it (recipe_wait
// "recipe"). The task comes from this attempt or from the one recorded before a restart.
func (x *vmmExecutor) waitRecipe(ctx context.Context, c *vmm.Client, op *Op, ref *vmm.TaskRef) error {
	m := &op.Module
	if !m.UseRecipes || m.RecipeWait != store.RecipeWaitRecipe || op.Tariff.RecipeID == 0 {
		return nil
	}
	if ref == nil {
		if s := op.Job.Args[ArgRecipeTask]; s != "" {
			id, name, _ := strings.Cut(s, "/")
			ref = &vmm.TaskRef{ConsulID: id, Name: name}
		}
	}
	if ref == nil {
		op.Logf("the recipe task of the adopted VM is unknown; not waiting for it")
		return nil
	}
	if err := op.Record(&store.VMTask{ConsulID: ref.ConsulID, Name: ref.Name}, nil, nil); err != nil {
		return err
	}
	return x.wait(ctx, c, *ref)
}

func (x *vmmExecutor) readBack(ctx context.Context, c *vmm.Client, op *Op) (Result, error) {
	h, err := x.keptVM(ctx, c, op) // the VM this open recorded, not whichever carries the name
	if err != nil {
		return Result{}, err
	}
	if h == nil {
		return Result{}, permanent(vanished(VMName(op.Service.ID)))
	}
	if want := op.Tariff.IPv4Count; op.Tariff.ID != 0 && len(h.MainIPv4) != want {
		// ipv4_number 0 (and counts generally) are not backed by a source: say so rather than hide it.
		op.Logf("warning: the tariff asks for %d IPv4 addresses but VMmanager gave VM %s %d; the service records what VMmanager gave",
			want, h.Name, len(h.MainIPv4))
	}
	module := op.Module.ID
	return Result{Service: func(s *store.Service) {
		s.VM = store.VM{HostID: h.ID, AccountID: h.Account, IPv4: h.IPv4, IPv6: h.IPv6, DiskMiB: h.DiskMiB, CPU: h.CPU, RAMMiB: h.RAMMiB}
		s.Status, s.ModuleID = store.ServiceActive, module
	}}, nil
}

// account finds or creates the client's VMmanager account (@user). Creations for one client are
// serialised, and a creation that lost a race is answered with the account the winner made. An
// account found or made within the module's session period is not looked up again.
func (x *vmmExecutor) account(ctx context.Context, c *vmm.Client, op *Op) (uint64, error) {
	email := op.Service.ClientEmail
	lk, _ := x.accounts.LoadOrStore(fmt.Sprintf("%d/%s", op.Module.ID, strings.ToLower(email)), &sync.Mutex{})
	mu := lk.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	find := c.Account // within the session period, from the client's cache
	if x.legacy {
		find = c.FindAccount
	}
	a, err := find(ctx, email)
	if err != nil {
		return 0, err
	}
	if a != nil {
		return a.ID, nil
	}
	id, err := c.CreateAccount(ctx, email, newPassword())
	if err == nil {
		op.Logf("created VMmanager account %s", email)
		return id, nil
	}
	if a, ferr := c.FindAccount(ctx, email); ferr == nil && a != nil {
		return a.ID, nil
	}
	return 0, err
}

// newPassword is a random root/account password. It is handed to VMmanager and not kept: the client
// sets their own with setpassword.
func newPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// wait waits for a VMmanager task through the module client's watcher, which polls every task the
// engine awaits on that VMmanager with one query per interval (vmm.Client.Await).
func (x *vmmExecutor) wait(ctx context.Context, c *vmm.Client, ref vmm.TaskRef) error {
	if x.legacy {
		return x.waitAlone(ctx, c, ref)
	}
	return c.Await(ctx, ref)
}

// waitAlone is how a job waited before the watcher, kept for the benchmark's before figure: it polls
// its own task, every tenth of PollEvery during the first PollEvery, then every PollEvery. A task not
// listed yet during the fast phase gets the slow phase's grace too.
func (x *vmmExecutor) waitAlone(ctx context.Context, c *vmm.Client, ref vmm.TaskRef) error {
	fast, cancel := context.WithTimeout(ctx, x.poll)
	err := c.WaitTask(fast, ref, max(x.poll/10, time.Millisecond))
	cancel()
	if err == nil || ctx.Err() != nil || (!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, vmm.ErrNotFound)) {
		return err
	}
	return c.WaitTask(ctx, ref, x.poll)
}

// capacity is the module's free room: the last reading when younger than maxAge, else a new one.
func (x *vmmExecutor) capacity(ctx context.Context, m *store.Module, maxAge time.Duration) (*Capacity, error) {
	c, err := x.client(m)
	if err != nil {
		return nil, err
	}
	if _, _, err := x.readRoom(ctx, c, m, maxAge); err != nil {
		return nil, err
	}
	return x.lastCapacity(m), nil
}

// lastCapacity is the module's last reading, less what the engine has created since (nil: none yet).
func (x *vmmExecutor) lastCapacity(m *store.Module) *Capacity {
	v, ok := x.rooms.Load(m.ID)
	if !ok {
		return nil
	}
	r := v.(*room)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at.IsZero() || r.r.ID != m.Cluster.ID {
		return nil
	}
	room := func(v *vmm.Room, took int) *Room {
		if v == nil {
			return nil
		}
		return &Room{Total: v.Total, Used: min(v.Used+took, v.Total)}
	}
	out := &Capacity{At: r.at, Cluster: ClusterRoom{ID: r.r.ID, Name: r.r.Name, Oversold: r.r.Oversold,
		CPU: room(r.r.CPU, r.taken.cpu), RAMMiB: room(r.r.RAMMiB, r.taken.ramMiB), DiskMiB: room(r.r.StorageMiB, r.taken.diskMiB)}}
	mainTook, extraTook := r.taken.main, r.taken.extra
	for _, p := range r.r.Pools {
		pr := PoolRoom{ID: p.ID, Name: p.Name, Interface: p.Interface}
		if p.IPv4 != nil { // what was taken since the reading is charged to the first pools with room
			took := &mainTook
			if p.Interface >= 1 {
				took = &extraTook
			}
			n := min(*took, p.IPv4.Free())
			*took -= n
			pr.IPv4 = &Room{Total: p.IPv4.Total, Used: p.IPv4.Used + n}
		}
		out.Pools = append(out.Pools, pr)
	}
	return out
}
