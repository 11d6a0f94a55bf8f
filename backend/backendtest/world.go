package backendtest

import (
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/wizard"
)

// world is the records most tests start from, made through the Backend under test: a data center,
// a department, a module on the emulator's KVM cluster and a tariff it serves.
type world struct {
	b      backend.Backend
	dc     uint64
	dept   uint64
	module *store.Module
	tariff *store.Tariff
}

// Queue settings of the world's module: with queues on it has two lanes, q-1-1 and q-1-2.
const (
	queueKey   = "q-__PMID__"
	queueCount = 2
)

// newWorld builds the world; queueOn gives the module its two lanes, else it runs without queues
// (every change of a job is then one event).
func newWorld(t *testing.T, env *Env, queueOn bool) *world {
	t.Helper()
	b := env.Backend()
	w := &world{b: b}
	dc := &store.DataCenter{Name: "DC One"}
	dept := &store.Department{Name: "Support"}
	for _, r := range []store.Record{dc, dept} {
		if _, err := b.Save(ctx(t), r); err != nil {
			t.Fatalf("saving %T: %v", r, err)
		}
	}
	w.dc, w.dept = dc.ID, dept.ID
	w.module = addModule(t, env, b, "KVM one", w.dc, w.dept, queueOn)
	w.tariff = w.addTariff(t, "small", w.dc, w.module.ID)
	return w
}

// addModule adds a module on the emulator through the wizard's calls: the integration check, the
// cluster it listed, the save with the password.
func addModule(t *testing.T, env *Env, b backend.Backend, name string, dc, dept uint64, queueOn bool) *store.Module {
	t.Helper()
	d := draft(t, env, b)
	d.Name, d.DataCenterID, d.DepartmentID = name, dc, dept
	if queueOn {
		d.Params.Queue, d.Params.QueueKey, d.Params.QueueCount = true, queueKey, queueCount
	}
	m, err := b.SaveModule(ctx(t), d, env.Password)
	if err != nil {
		t.Fatalf("saving module %q: %v", name, err)
	}
	if m == nil || m.ID == 0 {
		t.Fatalf("saving module %q gave %+v", name, m)
	}
	return m
}

// draft is a new module's draft past the integration step, on the emulator's KVM cluster.
func draft(t *testing.T, env *Env, b backend.Backend) *wizard.Draft {
	t.Helper()
	d := wizard.NewDraft()
	d.URL, d.Username = env.SimURL, env.AdminEmail
	res, err := b.CheckIntegration(ctx(t), d.Integration(), env.Password, 0)
	if err != nil {
		t.Fatalf("integration check: %v", err)
	}
	d.URL = res.URL
	d.ApplyCheck(res)
	if err := d.ChooseCluster(1); err != nil {
		t.Fatal(err)
	}
	return d
}

func (w *world) addTariff(t *testing.T, name string, dc uint64, modules ...uint64) *store.Tariff {
	t.Helper()
	tr := tariff(name, dc, modules...)
	if _, err := w.b.Save(ctx(t), tr); err != nil {
		t.Fatalf("saving tariff %q: %v", name, err)
	}
	return tr
}

// tariff is a valid tariff on the emulator's first OS image.
func tariff(name string, dc uint64, modules ...uint64) *store.Tariff {
	return &store.Tariff{Name: name, DataCenterID: dc, ModuleIDs: modules, CPU: 1, RAMMiB: 1024, DiskMiB: 10240,
		OSID: 1, IPv4Count: 1}
}

// load reads record id of type T through b, failing the test when it cannot.
func load[T any, P interface {
	*T
	store.Record
}](t *testing.T, b backend.Backend, id uint64) P {
	t.Helper()
	r, err := backend.Load[T, P](ctx(t), b, id)
	if err != nil {
		t.Fatalf("reading %s %d: %v", backend.KindOf[T, P](), id, err)
	}
	return r
}

// all lists every record of type T through b, failing the test when it cannot.
func all[T any, P interface {
	*T
	store.Record
}](t *testing.T, b backend.Backend) []P {
	t.Helper()
	rows, err := backend.All[T, P](ctx(t), b)
	if err != nil {
		t.Fatalf("listing %s: %v", backend.KindOf[T, P](), err)
	}
	return rows
}
