package backendtest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/store"
)

// testInfo: who answers, and the same answer every time.
func testInfo(t *testing.T, env *Env) {
	b := env.Backend()
	before := time.Now()
	info, err := b.Info(ctx(t))
	must(t, err)
	wantInfo(t, env, info)
	if info.Started.IsZero() || info.Started.After(before) {
		t.Errorf("Info.Started is %v, want a time before the call (%v)", info.Started, before)
	}
	again, err := b.Info(ctx(t))
	must(t, err)
	if !again.Started.Equal(info.Started) || again.PID != info.PID || again.Mode != info.Mode {
		t.Errorf("a second Info differs: %+v, then %+v", info, again)
	}
}

// wantInfo checks what Info and Status say about who answers.
func wantInfo(t *testing.T, env *Env, info backend.Info) {
	t.Helper()
	mode := backend.ModeDirect
	switch {
	case env.Caps().Attached:
		mode = backend.ModeAttached
	case env.Engine != nil:
		mode = backend.ModeEngine
	}
	if info.Mode != mode {
		t.Errorf("Info.Mode is %q, want %q", info.Mode, mode)
	}
	if info.Version != env.Version {
		t.Errorf("Info.Version is %q, want %q", info.Version, env.Version)
	}
	if info.PID <= 0 {
		t.Errorf("Info.PID is %d", info.PID)
	}
	if info.DB != env.DB.Path() {
		t.Errorf("Info.DB is %q, want %q", info.DB, env.DB.Path())
	}
	if info.Secrets != env.Secrets.Describe() {
		t.Errorf("Info.Secrets is %q, want %q", info.Secrets, env.Secrets.Describe())
	}
	if attached := info.Socket != ""; attached != env.Caps().Attached {
		t.Errorf("Info.Socket is %q; the driver declares Attached %v", info.Socket, env.Caps().Attached)
	}
}

// testStatus: Info, the job counts by state and by module, each module's health.
func testStatus(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	b := w.b
	queued, cancelled := env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0), env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0)
	if _, err := b.Enqueue(ctx(t), queued.ID, store.OpOpen, nil); err != nil {
		t.Fatal(err)
	}
	j, err := b.Enqueue(ctx(t), cancelled.ID, store.OpOpen, nil)
	must(t, err)
	must(t, b.Cancel(ctx(t), j.ID))
	// An open no module can take is stored failed and counted under module 0.
	elsewhere := &store.DataCenter{Name: "DC Two"}
	_, err = b.Save(ctx(t), elsewhere)
	must(t, err)
	stray := w.addTariff(t, "stray", elsewhere.ID, w.module.ID)
	failed, err := b.Enqueue(ctx(t), env.AddService(stray.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
	must(t, err)
	if failed.State != store.JobFailed {
		t.Fatalf("an open no module serves is %s, want failed", failed.State)
	}

	st, err := b.Status(ctx(t))
	must(t, err)
	wantInfo(t, env, st.Info)
	if st.Server != env.Caps().Attached {
		t.Errorf("Status.Server is %v; the driver declares Attached %v", st.Server, env.Caps().Attached)
	}
	for state, n := range map[string]int{store.JobQueued: 1, store.JobCancelled: 1, store.JobFailed: 1, store.JobDone: 0, store.JobRunning: 0} {
		if st.Jobs[state] != n {
			t.Errorf("Status.Jobs[%s] is %d, want %d (all: %v)", state, st.Jobs[state], n, st.Jobs)
		}
	}
	c := st.Counts[w.module.ID]
	if c.Queued != 1 || c.Cancelled != 1 || c.Failed != 0 || c.LanesTotal != queueCount {
		t.Errorf("Status.Counts[%d] is %+v, want 1 queued, 1 cancelled, %d lanes", w.module.ID, c, queueCount)
	}
	if c0 := st.Counts[0]; c0.Failed != 1 {
		t.Errorf("Status.Counts[0] is %+v, want the failed open no module took", c0)
	}
	if len(st.Modules) != 1 {
		t.Fatalf("Status.Modules is %+v, want the one module", st.Modules)
	}
	m := st.Modules[0]
	if m.ID != w.module.ID || m.Name != "KVM one" || !m.Enabled || !m.Healthy || m.Health != "" {
		t.Errorf("Status.Modules[0] is %+v, want module %d, enabled and healthy", m, w.module.ID)
	}
	if m.LastCheck == nil || !m.LastCheck.OK {
		t.Errorf("Status.Modules[0].LastCheck is %+v, want the wizard's check", m.LastCheck)
	}
	if m.Logins != nil {
		t.Errorf("Status.Modules[0].Logins is %+v with no engine running, want none", m.Logins)
	}
	if st.Engine.Paused || len(st.Engine.Waiting) > 0 {
		t.Errorf("Status.Engine is %+v, want the zero state", st.Engine)
	}
}

// testRecords: Get and List by kind; unknown ids and kinds.
func testRecords(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	dc := load[store.DataCenter](t, b, w.dc)
	if dc.ID != w.dc || dc.Name != "DC One" {
		t.Errorf("Get data center %d: %+v", w.dc, dc)
	}
	m := load[store.Module](t, b, w.module.ID)
	if m.Name != "KVM one" || m.URL != w.module.URL || m.Cluster.ID != 1 || m.Cluster.Name != "kvm-main" {
		t.Errorf("Get module %d: %+v", w.module.ID, m)
	}
	tr := load[store.Tariff](t, b, w.tariff.ID)
	if !slices.Equal(tr.ModuleIDs, []uint64{w.module.ID}) || tr.OSID != 1 {
		t.Errorf("Get tariff %d: %+v", w.tariff.ID, tr)
	}
	if mods := all[store.Module](t, b); len(mods) != 1 || mods[0].ID != w.module.ID {
		t.Errorf("List modules: %+v", mods)
	}
	if jobs := all[store.Job](t, b); len(jobs) != 0 {
		t.Errorf("List jobs of a new database: %+v", jobs)
	}

	for _, kind := range []string{backend.KindOf[store.DataCenter](), backend.KindOf[store.Department](),
		backend.KindOf[store.Module](), backend.KindOf[store.Tariff](), backend.KindOf[store.Service](),
		backend.KindOf[store.Job](), backend.KindOf[store.Task]()} {
		err := b.Get(ctx(t), kind, 999, backend.NewRecord(kind))
		wantIs(t, "Get "+kind+" 999", err, store.ErrNotFound)
	}
	var out []*store.Module
	wantRule(t, "List of an unknown kind", b.List(ctx(t), "passwords", &out), store.FieldRecord, "not a kind of record")
	wantRule(t, "Get of an unknown kind", b.Get(ctx(t), "passwords", 1, &store.Module{}), store.FieldRecord, "not a kind of record")
	_, err := b.Delete(ctx(t), "passwords", 1)
	wantRule(t, "Delete of an unknown kind", err, store.FieldRecord, "not a kind of record")
	_, err = b.Delete(ctx(t), backend.KindOf[store.Service](), 1)
	wantRule(t, "Delete of a service", err, store.FieldRecord, "not a kind of record")

	// Modules are saved by SaveModule, with their password: Save refuses them.
	m.Name = "renamed"
	if _, err := b.Save(ctx(t), m); err == nil {
		t.Error("Save of a module was accepted")
	}
	if got := load[store.Module](t, b, m.ID); got.Name != "KVM one" {
		t.Errorf("a refused Save renamed the module to %q", got.Name)
	}
}

// testDataCenters: unique names, edits of what exists, the external id rule, deletes refused while
// used.
func testDataCenters(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	save := func(d *store.DataCenter) error { t.Helper(); _, err := b.Save(ctx(t), d); return err }

	partner := &store.DataCenter{Name: "  Partner  "}
	must(t, save(partner))
	if partner.ID == 0 || partner.ID == w.dc {
		t.Fatalf("a new data center got id %d", partner.ID)
	}
	if got := load[store.DataCenter](t, b, partner.ID); got.Name != "Partner" {
		t.Errorf("the saved name is %q, want it trimmed to %q", got.Name, "Partner")
	}
	wantRule(t, "a name another data center has", save(&store.DataCenter{Name: "dc one"}), "name", "must be unique")
	wantRule(t, "an empty name", save(&store.DataCenter{Name: " "}), "name", "must not be empty")
	wantRule(t, "a blank external id", save(&store.DataCenter{Name: "X", ExternalID: "  "}), "external_id", "must not be blank")
	wantIs(t, "an edit of data center 99", save(&store.DataCenter{ID: 99, Name: "X"}), store.ErrNotFound)
	wantRule(t, "an external id on a data center a module uses",
		save(&store.DataCenter{ID: w.dc, Name: "DC One", ExternalID: "ext-1"}), "external_id", "while 1 module(s)")
	must(t, save(&store.DataCenter{ID: partner.ID, Name: "Partner", ExternalID: "ext-2"}))
	if got := load[store.DataCenter](t, b, partner.ID); got.ExternalID != "ext-2" {
		t.Errorf("the edit was not kept: %+v", got)
	}
	if dcs := all[store.DataCenter](t, b); len(dcs) != 2 || dcs[0].ID != w.dc || dcs[1].ID != partner.ID {
		t.Errorf("List data centers: %+v", dcs)
	}

	_, err := b.Delete(ctx(t), backend.KindOf[store.DataCenter](), w.dc)
	wantRule(t, "deleting the module's data center", err, store.FieldRecord, "is used by 1 module(s)")
	_, err = b.Delete(ctx(t), backend.KindOf[store.DataCenter](), 99)
	wantIs(t, "deleting data center 99", err, store.ErrNotFound)
	w.addTariff(t, "partner plan", partner.ID, w.module.ID)
	_, err = b.Delete(ctx(t), backend.KindOf[store.DataCenter](), partner.ID)
	wantRule(t, "deleting a tariff's data center", err, store.FieldRecord, "is used by 1 tariff(s)")

	spare := &store.DataCenter{Name: "Spare"}
	must(t, save(spare))
	if _, err := b.Delete(ctx(t), backend.KindOf[store.DataCenter](), spare.ID); err != nil {
		t.Fatal(err)
	}
	err = b.Get(ctx(t), backend.KindOf[store.DataCenter](), spare.ID, &store.DataCenter{})
	wantIs(t, "reading a deleted data center", err, store.ErrNotFound)
}

// testDepartments: unique names; a department a module sends its tasks to stays.
func testDepartments(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	ops := &store.Department{Name: "Ops"}
	_, err := b.Save(ctx(t), ops)
	must(t, err)
	_, err = b.Save(ctx(t), &store.Department{Name: " SUPPORT "})
	wantRule(t, "a name another department has", err, "name", "must be unique")
	_, err = b.Save(ctx(t), &store.Department{Name: strings.Repeat("x", store.MaxNameLen+1)})
	wantRule(t, "a long name", err, "name", "at most")
	_, err = b.Save(ctx(t), &store.Department{ID: 99, Name: "X"})
	wantIs(t, "an edit of department 99", err, store.ErrNotFound)
	_, err = b.Save(ctx(t), &store.Department{ID: ops.ID, Name: "Operations"})
	must(t, err)
	if got := load[store.Department](t, b, ops.ID); got.Name != "Operations" {
		t.Errorf("the rename was not kept: %+v", got)
	}
	_, err = b.Delete(ctx(t), backend.KindOf[store.Department](), w.dept)
	wantRule(t, "deleting the module's department", err, store.FieldRecord, "receives the tasks of 1 module(s)")
	_, err = b.Delete(ctx(t), backend.KindOf[store.Department](), ops.ID)
	must(t, err)
	if depts := all[store.Department](t, b); len(depts) != 1 || depts[0].ID != w.dept {
		t.Errorf("after the delete the departments are %+v", depts)
	}
}

// testTariffs: the tariff's own rules, its OS and recipe checked against its modules' VMmanager,
// references, the warning for a module elsewhere, and no delete while live services use it.
func testTariffs(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	save := func(tr *store.Tariff) ([]string, error) { t.Helper(); return b.Save(ctx(t), tr) }
	refuse := func(what string, change func(*store.Tariff), field, says string) {
		t.Helper()
		tr := tariff("another", w.dc, w.module.ID)
		change(tr)
		_, err := save(tr)
		wantRule(t, what, err, field, says)
		if tr.ID != 0 {
			t.Errorf("%s: the refused tariff got id %d", what, tr.ID)
		}
	}
	refuse("a name another tariff has", func(tr *store.Tariff) { tr.Name = " SMALL" }, "name", "must be unique")
	refuse("no CPU", func(tr *store.Tariff) { tr.CPU = 0 }, "cpu", "between 1 and 256")
	refuse("no module", func(tr *store.Tariff) { tr.ModuleIDs = nil }, "modules", "at least one")
	refuse("an OS VMmanager does not have", func(tr *store.Tariff) { tr.OSID = 99 }, "os_id", "99 is not one")
	refuse("an LXD image on a KVM cluster", func(tr *store.Tariff) { tr.OSID = 3 }, "os_id", "3 is not one")
	refuse("a recipe VMmanager does not have", func(tr *store.Tariff) { tr.RecipeID = 9 }, "recipe_id", "9 is not one")
	refuse("a module that does not exist", func(tr *store.Tariff) { tr.ModuleIDs = []uint64{w.module.ID, 99} }, "modules", "99 is not one")
	refuse("a data center that does not exist", func(tr *store.Tariff) { tr.DataCenterID = 99 }, "datacenter", "99 is not one")
	_, err := save(&store.Tariff{ID: 99, Name: "x", DataCenterID: w.dc, ModuleIDs: []uint64{w.module.ID}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1})
	wantIs(t, "an edit of tariff 99", err, store.ErrNotFound)

	recipe := tariff("with recipe", w.dc, w.module.ID)
	recipe.OSID, recipe.RecipeID = 4, 2
	warnings, err := save(recipe)
	must(t, err)
	if len(warnings) != 0 {
		t.Errorf("a tariff on its module's data center warns %q", warnings)
	}
	elsewhere := &store.DataCenter{Name: "DC Two"}
	_, err = b.Save(ctx(t), elsewhere)
	must(t, err)
	recipe.DataCenterID = elsewhere.ID
	warnings, err = save(recipe)
	must(t, err)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "on another data center") {
		t.Errorf("a tariff whose module is on another data center warns %q", warnings)
	}
	if got := load[store.Tariff](t, b, recipe.ID); got.DataCenterID != elsewhere.ID || got.RecipeID != 2 || got.OSID != 4 {
		t.Errorf("the edited tariff reads %+v", got)
	}

	live := env.AddService(w.tariff.ID, w.module.ID, store.ServiceActive, 1)
	_, err = b.Delete(ctx(t), backend.KindOf[store.Tariff](), w.tariff.ID)
	wantRule(t, "deleting a tariff with a live service", err, store.FieldRecord, "has 1 service(s) that are not deleted")
	_, err = b.Delete(ctx(t), backend.KindOf[store.Tariff](), 99)
	wantIs(t, "deleting tariff 99", err, store.ErrNotFound)
	live.Status = store.ServiceDeleted
	env.SaveService(live)
	_, err = b.Delete(ctx(t), backend.KindOf[store.Tariff](), w.tariff.ID)
	must(t, err)
	if trs := all[store.Tariff](t, b); len(trs) != 1 || trs[0].ID != recipe.ID {
		t.Errorf("after the delete the tariffs are %+v", trs)
	}
}

// testDeleteModule: refused while live services or unfinished jobs need it; otherwise the module
// and its password go together, with a warning for each tariff that lists it.
func testDeleteModule(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	kind := backend.KindOf[store.Module]()
	live := env.AddService(w.tariff.ID, w.module.ID, store.ServiceActive, 1)
	_, err := b.Delete(ctx(t), kind, w.module.ID)
	wantRule(t, "deleting a module with a live service", err, store.FieldRecord, "1 live service(s)")
	live.Status = store.ServiceDeleted
	env.SaveService(live)

	j, err := b.Enqueue(ctx(t), env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
	must(t, err)
	_, err = b.Delete(ctx(t), kind, w.module.ID)
	wantRule(t, "deleting a module with a queued job", err, store.FieldRecord, "unfinished operation(s), the first is job")
	must(t, b.Cancel(ctx(t), j.ID))
	// The cancelled open put its service back to ordered, still bound to the module: live.
	_, err = b.Delete(ctx(t), kind, w.module.ID)
	wantRule(t, "deleting a module with an ordered service", err, store.FieldRecord, "1 live service(s)")
	ordered := load[store.Service](t, b, j.ServiceID)
	ordered.Status = store.ServiceDeleted
	env.SaveService(ordered)

	if pw, err := env.Secrets.Get(w.module.ID); err != nil || pw != env.Password {
		t.Fatalf("a refused delete touched the password: %q, %v", pw, err)
	}
	_, err = b.Delete(ctx(t), kind, 99)
	wantIs(t, "deleting module 99", err, store.ErrNotFound)
	warnings, err := b.Delete(ctx(t), kind, w.module.ID)
	must(t, err)
	if len(warnings) != 1 || !strings.Contains(warnings[0], `tariff "small"`) {
		t.Errorf("deleting a module a tariff lists warns %q", warnings)
	}
	err = b.Get(ctx(t), kind, w.module.ID, &store.Module{})
	wantIs(t, "reading the deleted module", err, store.ErrNotFound)
	_, err = env.Secrets.Get(w.module.ID)
	wantIs(t, "the deleted module's password", err, store.ErrSecretNotFound)
}

// testCloseTasks: every task of the batch or none; the refusal names the task.
func testCloseTasks(t *testing.T, env *Env) {
	w := newWorld(t, env, false)
	b := w.b
	// An open no module can take files a task for the first module's department.
	elsewhere := &store.DataCenter{Name: "DC Two"}
	_, err := b.Save(ctx(t), elsewhere)
	must(t, err)
	stray := w.addTariff(t, "stray", elsewhere.ID, w.module.ID)
	for range 2 {
		j, err := b.Enqueue(ctx(t), env.AddService(stray.ID, 0, store.ServiceOrdered, 0).ID, store.OpOpen, nil)
		must(t, err)
		if j.State != store.JobFailed {
			t.Fatalf("an open no module serves is %s, want failed", j.State)
		}
	}
	tasks := all[store.Task](t, b)
	if len(tasks) != 2 || tasks[0].DepartmentID != w.dept || !tasks[0].ClosedAt.IsZero() {
		t.Fatalf("the failed opens filed %+v, want two open tasks for department %d", tasks, w.dept)
	}
	t1, t2 := tasks[0].ID, tasks[1].ID
	open := func(what string, ids ...uint64) {
		t.Helper()
		for _, id := range ids {
			if tk := load[store.Task](t, b, id); !tk.ClosedAt.IsZero() {
				t.Errorf("%s: task %d was closed", what, id)
			}
		}
	}

	err = b.CloseTasks(ctx(t), []uint64{t1, 999})
	wantIs(t, "closing task 999", err, store.ErrNotFound)
	wantRecord(t, "closing task 999", err, 999)
	open("a batch with an unknown task", t1)

	// The module can go (no live service, nothing unfinished); its department cannot while tasks are open.
	_, err = b.Delete(ctx(t), backend.KindOf[store.Module](), w.module.ID)
	must(t, err)
	_, err = b.Delete(ctx(t), backend.KindOf[store.Department](), w.dept)
	wantRule(t, "deleting a department with open tasks", err, store.FieldRecord, "has 2 open task(s)")

	must(t, b.CloseTasks(ctx(t), []uint64{t1}))
	if tk := load[store.Task](t, b, t1); tk.ClosedAt.IsZero() || time.Since(tk.ClosedAt) > time.Minute {
		t.Errorf("task %d closed at %v", t1, tk.ClosedAt)
	}
	err = b.CloseTasks(ctx(t), []uint64{t2, t1})
	wantRule(t, "closing a closed task", err, store.FieldRecord, "already closed")
	wantRecord(t, "closing a closed task", err, t1)
	open("a batch with a closed task", t2)

	must(t, b.CloseTasks(ctx(t), []uint64{t2}))
	_, err = b.Delete(ctx(t), backend.KindOf[store.Department](), w.dept)
	must(t, err)
}

// wantRecord fails unless err is a *backend.RecordError about task id.
func wantRecord(t *testing.T, what string, err error, id uint64) {
	t.Helper()
	var re *backend.RecordError
	if !errors.As(err, &re) {
		t.Errorf("%s: error %v (%T) is not a *backend.RecordError", what, err, err)
		return
	}
	if re.Kind != backend.KindOf[store.Task]() || re.ID != id {
		t.Errorf("%s: the refusal is about %s %d, want task %d", what, re.Kind, re.ID, id)
	}
	if re.Error() == "" {
		t.Errorf("%s: the RecordError has no sentence", what)
	}
}
