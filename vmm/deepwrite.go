package vmm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteSpec says where the --write probes make their throwaway VM, and how long they wait.
type WriteSpec struct {
	Cluster             uint64        // the module's cluster
	AdditionalInterface bool          // the module gives VMs a second NIC: the VM gets one too
	OS                  uint64        // 0: the first OS the cluster offers (an LXD image on an LXD cluster)
	Poll                time.Duration // task polling; default 3 s
	TaskTimeout         time.Duration // the longest wait for one task; default 20 min
	CleanupTimeout      time.Duration // how long removing the VM is tried after a failed step; default 10 min
}

// The sizes of the throwaway VM, before and after the deferred change.
const (
	writeCPU, writeRAM, writeDisk          = 1, 1024, 10240
	writeCPU2, writeRAM2, writeDisk2       = 2, 1536, 11264
	writeNamePrefix                        = "vmmpm-deep-check-"
	writeCreateIPv4, writeAddIPv4          = 1, 1
	defaultWritePoll, defaultWriteTask     = 3 * time.Second, 20 * time.Minute
	defaultWriteCleanup, maxCleanupPause   = 10 * time.Minute, 30 * time.Second
	writeNotRun                            = "not run: an earlier write step failed"
	writeProbeCreate, writeProbeLeftBehind = "write: create", "write: nothing left behind"
)

// writeSteps are the --write probes in order; each runs what one engine operation sends.
var writeSteps = []string{writeProbeCreate, "write: stop", "write: start", "write: deferred change and restart",
	"write: password", "write: reinstall", "write: reboot", "write: delete"}

// DeepCheckWrite runs DeepCheck's read-only probes and then, for a staging VMmanager, the --write probes:
// it creates a throwaway VM (named vmmpm-deep-check-…) on spec's cluster and runs on it each operation
// the engine uses, through the same client calls: open, suspend (stop), resume (start), a deferred
// resize of CPU, RAM and disk with one more IPv4 address and the restart that applies them, a password
// change, a reinstall, a reboot and close (delete). Every write answer is checked for the fields the
// engine reads (id, task, start_task), every task is followed to its end and looked up by consul id and
// name, and the VM is read back after each step. The VM is removed even when a step fails or ctx is
// cancelled; the last probe says whether anything was left behind. The write probes run only when the
// read-only ones found no mismatch.
func DeepCheckWrite(ctx context.Context, c *Client, spec WriteSpec) (Report, error) {
	d := newDeep(c)
	d.rep.Write = true
	err := d.read(ctx)
	if err == nil {
		if differs := d.rep.Differs(); len(differs) > 0 {
			for _, step := range append(writeSteps, writeProbeLeftBehind) {
				d.inconclusive(step, "", "not run: the read-only probes found a mismatch in "+strings.Join(differs, ", ")+
					", and no VM is made on a VMmanager vmmpm cannot read", "fix the mismatches first")
			}
		} else {
			err = d.write(ctx, spec)
		}
	}
	d.rep.finish()
	return d.rep, err
}

// rerun runs read probes again and puts their new probes where their inconclusive ones were; a probe
// that was not inconclusive keeps its first result.
func (d *deep) rerun(ctx context.Context, steps ...func(context.Context) error) error {
	for _, step := range steps {
		before := d.rep.Probes
		d.rep.Probes = nil
		err := step(ctx)
		fresh := d.rep.Probes
		d.rep.Probes = before
		if err != nil {
			return err
		}
		for _, p := range fresh {
			if i := slices.IndexFunc(d.rep.Probes, func(q Probe) bool { return q.Name == p.Name }); i >= 0 && d.rep.Probes[i].Result == ResultInconclusive {
				p.Seen += " (read again after write: create)"
				d.rep.Probes[i] = p
			}
		}
	}
	return nil
}

// writer is one run of the --write probes.
type writer struct {
	d      *deep
	c      *Client
	spec   WriteSpec
	step   string // the probe the answers now seen belong to
	last   []byte // the last answer to a POST or DELETE
	name   string
	os     uint64
	vm     uint64 // 0 until an answer named the VM's id
	disk   uint64
	gone   bool   // the delete step saw the VM disappear
	detail string // what the step's last read showed, for its Seen
	failed bool
}

func (d *deep) write(ctx context.Context, spec WriteSpec) error {
	if spec.Poll <= 0 {
		spec.Poll = defaultWritePoll
	}
	if spec.TaskTimeout <= 0 {
		spec.TaskTimeout = defaultWriteTask
	}
	if spec.CleanupTimeout <= 0 {
		spec.CleanupTimeout = defaultWriteCleanup
	}
	w := &writer{d: d, c: d.c, spec: spec, name: writeNamePrefix + randomHex(4)}
	ctx = withTap(ctx, func(method, path string, status int, request, answer []byte) {
		if method != http.MethodGet {
			w.last = answer
		}
		d.keep(w.step, method, path, status, answer, requestKey("", d.scrub(request)))
	})
	steps := []func(context.Context) []string{w.create, w.stop, w.start, w.deferred, w.password, w.reinstall, w.reboot, w.delete}
	var cancelled error
	for i, run := range steps {
		w.step = writeSteps[i]
		if w.failed || cancelled != nil {
			reason := writeNotRun
			if cancelled != nil {
				reason = "not run: the check was cancelled"
			}
			d.inconclusive(w.step, writeExpected[w.step], reason, "")
			continue
		}
		problems := run(ctx)
		if ctx.Err() != nil {
			cancelled = ctx.Err()
			d.inconclusive(w.step, writeExpected[w.step], "cut short: the check was cancelled during this step", "")
			continue
		}
		if len(problems) > 0 {
			w.failed = true
			d.mismatch(w.step, writeExpected[w.step], strings.Join(problems, "; "))
			continue
		}
		d.ok(w.step, writeExpected[w.step], w.seen())
		if w.step == writeProbeCreate {
			// The VM and its tasks now exist: the read probes that had nothing to compare run again.
			if err := d.rerun(ctx, d.hosts, d.reconcileLists, d.tasks); err != nil {
				cancelled = err
			}
		}
	}
	w.step = writeProbeLeftBehind
	w.cleanup(ctx)
	return cancelled
}

var writeExpected = map[string]string{
	writeProbeCreate: fmt.Sprintf("POST /vm/v3/host answers id and task; host_create completes and is listed by consul_id and name; "+
		"the VM reads back by id and by name, active, %d CPU, %d MiB RAM, a %d MiB disk, %d main-interface IPv4", writeCPU, writeRAM, writeDisk, writeCreateIPv4),
	"write: stop":  "POST /host/{id}/stop answers task; host_stop completes; the VM reads back stopped",
	"write: start": "POST /host/{id}/start answers task; host_start completes; the VM reads back active",
	"write: deferred change and restart": fmt.Sprintf("/resource and /disk/{id} with defer, and /ip, answer task; the /ip task completes; /restart answers start_task; "+
		"after the restart every task completes and the VM reads back %d CPU, %d MiB RAM, a %d MiB disk, %d main-interface IPv4",
		writeCPU2, writeRAM2, writeDisk2, writeCreateIPv4+writeAddIPv4),
	"write: password":    "POST /host/{id}/password answers; its task, when it names one, completes",
	"write: reinstall":   "POST /host/{id}/reinstall answers task; host_reinstall completes; the VM reads back active",
	"write: reboot":      "POST /host/{id}/restart answers start_task; host_start completes; the VM reads back active",
	"write: delete":      "DELETE /host/{id} answers task; host_delete completes; the VM is no longer listed",
	writeProbeLeftBehind: "the throwaway VM is gone from VMmanager",
}

func (w *writer) seen() string {
	s := w.name
	if w.vm != 0 {
		s = fmt.Sprintf("VM %d (%s)", w.vm, w.name)
	}
	if w.detail != "" {
		s += ": " + w.detail
	}
	w.detail = ""
	return s
}

// password is a fresh root password for the throwaway VM; it never leaves this run.
func (w *writer) newPassword() string {
	p := "Vd-" + randomHex(12)
	w.d.secrets = append(w.d.secrets, p)
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pickOS finds the OS for the throwaway VM from the OS list the read probes kept.
func (w *writer) pickOS() (uint64, string) {
	if w.spec.OS != 0 {
		return w.spec.OS, ""
	}
	lxd := false
	found := false
	for _, cl := range w.d.cls {
		if scalar(cl["id"]) == fmt.Sprint(w.spec.Cluster) {
			found, lxd = true, cl["virtualization_type"] == "lxd"
		}
	}
	if !found {
		return 0, fmt.Sprintf("VMmanager lists no cluster %d, the module's cluster", w.spec.Cluster)
	}
	for _, it := range w.d.oses {
		raw, _ := json.Marshal(it)
		var o wireOS
		if json.Unmarshal(raw, &o) != nil || o.IsLXDImage != lxd {
			continue
		}
		os := o.os()
		if len(os.Clusters) == 0 || slices.Contains(os.Clusters, w.spec.Cluster) {
			return os.ID, ""
		}
	}
	return 0, fmt.Sprintf("VMmanager lists no OS for cluster %d; download one in VMmanager", w.spec.Cluster)
}

func (w *writer) create(ctx context.Context) []string {
	os, problem := w.pickOS()
	if problem != "" {
		return []string{problem}
	}
	w.os = os
	cr, err := w.c.CreateHost(ctx, HostSpec{Name: w.name, Cluster: w.spec.Cluster, OS: os, Password: w.newPassword(),
		CPU: writeCPU, RAMMiB: writeRAM, DiskMiB: writeDisk, IPv4Count: writeCreateIPv4, AdditionalInterface: w.spec.AdditionalInterface,
		Comment: writeComment})
	var ans obj
	_ = json.Unmarshal(w.last, &ans)
	if isID.ok(ans["id"]) {
		w.vm, _ = strconv.ParseUint(scalar(ans["id"]), 10, 64)
	}
	problems := answerFields("POST /vm/v3/host", ans, need("id", isID), need("task", isConsulID))
	if err != nil {
		return append(problems, w.failure("creating the VM", err))
	}
	if len(problems) > 0 {
		return problems
	}
	if p := w.follow(ctx, cr.Task); len(p) > 0 {
		return p
	}
	h, problems := w.readBack(ctx)
	if h == nil {
		return problems
	}
	want := writeCreateIPv4
	if w.spec.AdditionalInterface {
		want++
	}
	w.disk = h.DiskID
	problems = append(problems, w.sizes(h, "active", writeCPU, writeRAM, writeDisk)...)
	problems = append(problems, w.addresses(h, writeCreateIPv4, want)...)
	byName, err := w.c.FindHostByName(ctx, w.name)
	switch {
	case err != nil:
		problems = append(problems, w.failure("looking the VM up by name", err))
	case byName == nil || byName.ID != w.vm:
		problems = append(problems, fmt.Sprintf("where=(name EQ '%s') does not find VM %d", w.name, w.vm))
	}
	return problems
}

// readBack reads the VM through the raw list (for its shape) and the client (as the engine reads it).
func (w *writer) readBack(ctx context.Context) (*Host, []string) {
	items, problem, err := w.d.fetch(ctx, w.step, "/vm/v3/host"+where(eq("id", fmt.Sprint(w.vm))))
	switch {
	case err != nil:
		return nil, []string{w.failure("reading the VM back", err)}
	case problem != "":
		return nil, []string{problem}
	case len(items) == 0:
		return nil, []string{fmt.Sprintf("where=(id EQ '%d') does not find VM %d", w.vm, w.vm)}
	}
	problems, _, _ := hostProblems(items)
	if len(problems) > 0 {
		return nil, problems
	}
	h, err := w.c.Host(ctx, w.vm)
	if err != nil {
		return nil, []string{w.failure("reading the VM back", err)}
	}
	_, _, kinds := hostProblems(items)
	w.detail = fmt.Sprintf("%s, %d CPU, %d MiB RAM, a %d MiB disk, %d IPv4 of which %d on the main interface (ip4[].interface as %s); %s",
		h.State, h.CPU, h.RAMMiB, h.DiskMiB, len(h.IPv4), len(h.MainIPv4), orNone(kinds), commentSeen(h.Comment))
	return h, nil
}

// writeComment is the throwaway VM's comment: whether VMmanager keeps a create's comment decides
// whether the engine-epoch mark of a shared database's VMs (queue.EpochMark) reaches reconcile.
const writeComment = "vmmpm deep check"

// commentSeen says whether the comment came back. Its loss fails nothing: only reconcile's duplicate
// findings read the mark.
func commentSeen(got string) string {
	if got == writeComment {
		return "the comment sent on create is kept"
	}
	return fmt.Sprintf("the comment sent on create is not kept (read %q), so reconcile cannot name the engine epoch that made a duplicate VM", got)
}

func (w *writer) sizes(h *Host, state string, cpu, ram, disk int) []string {
	var p []string
	if h.State != state {
		p = append(p, fmt.Sprintf("VM %d reads back state %q, where %q was due", w.vm, h.State, state))
	}
	if h.CPU != cpu || h.RAMMiB != ram || h.DiskMiB != disk {
		p = append(p, fmt.Sprintf("VM %d reads back cpu_number %d, ram_mib %d and disk.disk_mib %d, where %d, %d and %d were asked",
			w.vm, h.CPU, h.RAMMiB, h.DiskMiB, cpu, ram, disk))
	}
	return p
}

// addresses checks how the client counts the VM's addresses: main is what ipv4_number asked.
func (w *writer) addresses(h *Host, main, all int) []string {
	if len(h.MainIPv4) == main && len(h.IPv4) == all {
		return nil
	}
	return []string{fmt.Sprintf("VM %d reads back %d IPv4 address(es), %d of them on the main interface by ip4[].interface, "+
		"where %d (%d on the main interface) were asked", w.vm, len(h.IPv4), len(h.MainIPv4), all, main)}
}

// follow waits for a task, then looks it up by consul id and checks its fields and name.
func (w *writer) follow(ctx context.Context, ref TaskRef) []string {
	tctx, cancel := context.WithTimeout(ctx, w.spec.TaskTimeout)
	err := w.c.WaitTask(tctx, ref, w.spec.Poll)
	cancel()
	what := "task " + ref.ConsulID
	if ref.Name != "" {
		what += " (" + ref.Name + ")"
	}
	var waited []string
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return []string{fmt.Sprintf("%s was still running after %s", what, w.spec.TaskTimeout)}
	case errors.Is(err, ErrNotFound): // the lookup below says which field it lacks
		waited = []string{w.failure("waiting for "+what, err)}
	case err != nil:
		return []string{w.failure("waiting for "+what, err)}
	}
	items, problem, err := w.d.fetch(ctx, w.step, "/vm/v3/task"+where(eq("consul_id", ref.ConsulID)))
	switch {
	case err != nil:
		return append(waited, w.failure("looking up "+what, err))
	case problem != "":
		return append(waited, problem)
	}
	var problems, names []string
	for _, it := range items {
		problems = append(problems, taskProblems("task "+scalar(it["id"]), it)...)
		if scalar(it["consul_id"]) == ref.ConsulID {
			names = append(names, fmt.Sprint(it["name"]))
		}
	}
	switch {
	case len(problems) > 0:
	case len(names) == 0:
		problems = append(problems, fmt.Sprintf("where=(consul_id EQ '%s') lists no task with that consul_id", ref.ConsulID))
	case ref.Name != "" && !slices.Contains(names, ref.Name):
		problems = append(problems, fmt.Sprintf("the task under consul_id %s is named %s, where the sources show %s",
			ref.ConsulID, strings.Join(names, ", "), ref.Name))
	}
	return append(waited, problems...)
}

// failure is a client error as one phrase; it never holds a password (the client's errors do not).
func (w *writer) failure(doing string, err error) string {
	return doing + " failed: " + strings.TrimSuffix(err.Error(), ".")
}

// whenFree makes a call, and again with a growing pause while VMmanager says the VM is busy with
// another task (ErrBusy), as the engine does, for up to TaskTimeout.
func whenFree[T any](ctx context.Context, w *writer, call func() (T, error)) (T, error) {
	deadline := time.Now().Add(w.spec.TaskTimeout)
	for attempt := 1; ; attempt++ {
		v, err := call()
		if !errors.Is(err, ErrBusy) || !time.Now().Before(deadline) {
			return v, err
		}
		if serr := Sleep(ctx, min(w.spec.Poll*time.Duration(attempt), maxCleanupPause)); serr != nil {
			return v, err
		}
	}
}

// answerFields checks a write answer for the fields the engine reads.
func answerFields(what string, ans obj, fields ...fieldCheck) []string {
	if ans == nil {
		return []string{what + " answered no JSON object"}
	}
	var keys []string
	for k := range ans {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p := checkFields(what+"'s answer", ans, fields...)
	for i := range p {
		p[i] += " (it has " + strings.Join(keys, ", ") + ")"
	}
	return p
}

var isConsulID = kindCheck{"a task's consul id (a number or a non-empty string)", func(v any) bool {
	s, isStr := v.(string)
	return isNumber.ok(v) || (isStr && s != "")
}}

// simple runs one call that answers {task}, follows the task and checks the state read back.
func (w *writer) simple(ctx context.Context, what string, call func() (TaskRef, error), state string) []string {
	ref, err := whenFree(ctx, w, call)
	var ans obj
	_ = json.Unmarshal(w.last, &ans)
	problems := answerFields(what, ans, need("task", isConsulID))
	if err != nil {
		return append(problems, w.failure(what, err))
	}
	if len(problems) > 0 {
		return problems
	}
	if p := w.follow(ctx, ref); len(p) > 0 {
		return p
	}
	if state == "" {
		return nil
	}
	h, p := w.readBack(ctx)
	if h == nil {
		return p
	}
	if h.State != state {
		return []string{fmt.Sprintf("VM %d reads back state %q, where %q was due", w.vm, h.State, state)}
	}
	return nil
}

func (w *writer) stop(ctx context.Context) []string {
	return w.simple(ctx, fmt.Sprintf("POST /vm/v3/host/%d/stop", w.vm), func() (TaskRef, error) { return w.c.StopHost(ctx, w.vm) }, "stopped")
}

func (w *writer) start(ctx context.Context) []string {
	return w.simple(ctx, fmt.Sprintf("POST /vm/v3/host/%d/start", w.vm), func() (TaskRef, error) { return w.c.StartHost(ctx, w.vm) }, "active")
}

// deferred posts a resource and a disk change with defer and one more address, as the engine does for a
// package change on an active VM, then restarts the VM, and only then waits for all their tasks.
func (w *writer) deferred(ctx context.Context) []string {
	var refs []TaskRef
	post := func(what string, call func() (TaskRef, error)) []string {
		ref, err := whenFree(ctx, w, call)
		var ans obj
		_ = json.Unmarshal(w.last, &ans)
		p := answerFields(what, ans, need("task", isConsulID))
		if err != nil {
			return append(p, w.failure(what, err))
		}
		refs = append(refs, ref)
		return p
	}
	if p := post(fmt.Sprintf("POST /vm/v3/host/%d/resource", w.vm), func() (TaskRef, error) {
		return w.c.SetResources(ctx, w.vm, writeCPU2, writeRAM2, true)
	}); len(p) > 0 {
		return p
	}
	if p := post(fmt.Sprintf("POST /vm/v3/disk/%d", w.disk), func() (TaskRef, error) {
		return w.c.ResizeDisk(ctx, w.disk, writeDisk2, true)
	}); len(p) > 0 {
		return p
	}
	pool, err := w.c.MainPool(ctx, w.spec.Cluster)
	if err != nil {
		return []string{w.failure("finding the main interface's pool", err)}
	}
	if p := post(fmt.Sprintf("POST /vm/v3/host/%d/ip", w.vm), func() (TaskRef, error) {
		return w.c.AddIPv4(ctx, w.vm, writeAddIPv4, pool)
	}); len(p) > 0 {
		return p
	}
	// An address change is not deferred: as the engine does, it is awaited before the restart.
	ip := refs[len(refs)-1]
	refs = refs[:len(refs)-1]
	if p := w.follow(ctx, ip); len(p) > 0 {
		return p
	}
	restart, p := w.restart(ctx)
	if len(p) > 0 {
		return p
	}
	if p := w.follow(ctx, restart); len(p) > 0 {
		return p
	}
	for _, ref := range refs {
		if p := w.follow(ctx, ref); len(p) > 0 {
			return append(p, "it was posted before the restart, which should have released it")
		}
	}
	h, p := w.readBack(ctx)
	if h == nil {
		return p
	}
	all := writeCreateIPv4 + writeAddIPv4
	if w.spec.AdditionalInterface {
		all++
	}
	return append(w.sizes(h, "active", writeCPU2, writeRAM2, writeDisk2), w.addresses(h, writeCreateIPv4+writeAddIPv4, all)...)
}

// restart posts a restart and checks its answer names the start task the engine waits for.
func (w *writer) restart(ctx context.Context) (TaskRef, []string) {
	what := fmt.Sprintf("POST /vm/v3/host/%d/restart", w.vm)
	ref, err := whenFree(ctx, w, func() (TaskRef, error) { return w.c.RestartHost(ctx, w.vm) })
	var ans obj
	_ = json.Unmarshal(w.last, &ans)
	p := answerFields(what, ans, need("start_task", isConsulID))
	if err != nil {
		return ref, append(p, w.failure(what, err))
	}
	return ref, p
}

func (w *writer) password(ctx context.Context) []string {
	what := fmt.Sprintf("POST /vm/v3/host/%d/password", w.vm)
	pw := w.newPassword()
	ref, err := whenFree(ctx, w, func() (*TaskRef, error) { return w.c.SetPassword(ctx, w.vm, pw) })
	if err != nil {
		return []string{w.failure(what, err)}
	}
	var ans obj
	if json.Unmarshal(w.last, &ans) != nil || ans == nil {
		return []string{what + " answered no JSON object"}
	}
	if t, has := ans["task"]; has && t != nil && !isConsulID.ok(t) {
		return []string{fmt.Sprintf("%s's answer has task as %s, where vmmpm reads %s", what, kindOf(ans, "task"), isConsulID.want)}
	}
	if ref == nil {
		return nil // VMmanager changes the password without a task: vmmpm does not wait then
	}
	return w.follow(ctx, *ref)
}

func (w *writer) reinstall(ctx context.Context) []string {
	return w.simple(ctx, fmt.Sprintf("POST /vm/v3/host/%d/reinstall", w.vm), func() (TaskRef, error) {
		return w.c.ReinstallHost(ctx, w.vm, w.os, 0, w.newPassword())
	}, "active")
}

func (w *writer) reboot(ctx context.Context) []string {
	ref, p := w.restart(ctx)
	if len(p) > 0 {
		return p
	}
	if p := w.follow(ctx, ref); len(p) > 0 {
		return p
	}
	h, p := w.readBack(ctx)
	if h == nil {
		return p
	}
	if h.State != "active" {
		return []string{fmt.Sprintf("VM %d reads back state %q after the reboot, where \"active\" was due", w.vm, h.State)}
	}
	return nil
}

func (w *writer) delete(ctx context.Context) []string {
	problems := w.simple(ctx, fmt.Sprintf("DELETE /vm/v3/host/%d", w.vm), func() (TaskRef, error) { return w.c.DeleteHost(ctx, w.vm) }, "")
	if len(problems) > 0 {
		return problems
	}
	gone, err := w.waitGone(ctx, w.spec.TaskTimeout)
	switch {
	case err != nil:
		return []string{w.failure("reading the deleted VM", err)}
	case !gone:
		return []string{fmt.Sprintf("VM %d was still listed %s after host_delete completed", w.vm, w.spec.TaskTimeout)}
	}
	w.gone = true
	return nil
}

// waitGone polls until the VM is no longer listed, or limit passes.
func (w *writer) waitGone(ctx context.Context, limit time.Duration) (bool, error) {
	deadline := time.Now().Add(limit)
	for {
		_, err := w.c.Host(ctx, w.vm)
		switch {
		case errors.Is(err, ErrNotFound):
			return true, nil
		case err != nil:
			return false, err
		case !time.Now().Before(deadline):
			return false, nil
		}
		if err := Sleep(ctx, w.spec.Poll); err != nil {
			return false, err
		}
	}
}

// Sleep waits d, or until ctx ends (its error then): the pause between polls of VMmanager, here and
// in the engine.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cleanup removes the VM when the delete step did not, even after ctx was cancelled, trying again (a VM
// busy with a task may refuse at first) until CleanupTimeout.
func (w *writer) cleanup(ctx context.Context) {
	d := w.d
	expected := writeExpected[writeProbeLeftBehind]
	if w.gone {
		d.ok(writeProbeLeftBehind, expected, fmt.Sprintf("VM %d (%s) was removed by the delete step", w.vm, w.name))
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.spec.CleanupTimeout)
	defer cancel()
	if w.vm == 0 {
		h, err := w.c.FindHostByName(cctx, w.name)
		switch {
		case err != nil:
			d.mismatch(writeProbeLeftBehind, expected, fmt.Sprintf("%s; look for a VM named %s in VMmanager and remove it",
				w.failure("looking for the VM by name", err), w.name))
			return
		case h == nil:
			d.ok(writeProbeLeftBehind, expected, "no VM named "+w.name+" was made")
			return
		case h.ID == 0:
			d.mismatch(writeProbeLeftBehind, expected, fmt.Sprintf("VMmanager lists a VM named %s without an id vmmpm can read; remove it in VMmanager", w.name))
			return
		}
		w.vm = h.ID
	}
	var last error
	for attempt := 1; ; attempt++ {
		ref, err := w.c.DeleteHost(cctx, w.vm)
		if err == nil {
			tctx, tcancel := context.WithTimeout(cctx, w.spec.TaskTimeout)
			_ = w.c.WaitTask(tctx, ref, w.spec.Poll)
			tcancel()
		}
		gone, gerr := w.waitGone(cctx, w.spec.Poll)
		if gone {
			d.ok(writeProbeLeftBehind, expected, fmt.Sprintf("VM %d (%s) was removed after the failed step", w.vm, w.name))
			return
		}
		last = err
		if last == nil {
			last = gerr
		}
		if Sleep(cctx, min(w.spec.Poll*time.Duration(attempt), maxCleanupPause)) != nil {
			break
		}
	}
	why := "it was still listed"
	if last != nil {
		why = strings.TrimSuffix(last.Error(), ".")
	}
	d.mismatch(writeProbeLeftBehind, expected, fmt.Sprintf("VM %d (%s) could not be removed in %s (%s); remove it in VMmanager",
		w.vm, w.name, w.spec.CleanupTimeout, why))
}
