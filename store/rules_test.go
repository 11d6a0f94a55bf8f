package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
)

// rulesDB is a fresh database (of the run's driver) with data centers 1 "DC One" and 2 "DC Two", departments 1 and 2,
// and module 1 on data center 1 sending its tasks to department 1.
func rulesDB(t *testing.T) *store.DB {
	t.Helper()
	db := mustOpen(t, dbAddr(t))
	t.Cleanup(func() { db.Close() })
	m := fullModule()
	m.DataCenterID, m.DepartmentID = 1, 1
	for _, r := range []store.Record{&store.DataCenter{Name: "DC One"}, &store.DataCenter{Name: "DC Two"},
		&store.Department{Name: "Support"}, &store.Department{Name: "Billing"}, m} {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// refused fails unless err is a ValidationError on field whose rule contains words.
func refused(t *testing.T, err error, field, words string) {
	t.Helper()
	var ve *store.ValidationError
	if !errors.As(err, &ve) || ve.Field != field || !strings.Contains(ve.Rule, words) {
		t.Errorf("got %v, want a refusal of %s saying %q", err, field, words)
	}
}

func notFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func count[T any, P interface {
	*T
	store.Record
}](t *testing.T, db *store.DB) int {
	t.Helper()
	all, err := store.All[T, P](db)
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

func TestSaveDataCenterRules(t *testing.T) {
	db := rulesDB(t)
	save := func(d *store.DataCenter) error {
		return db.Update(func(tx *store.Tx) error { return store.SaveDataCenter(tx, d) })
	}
	refused(t, save(&store.DataCenter{Name: " dc one "}), "name", `a data center named "DC One" already exists (id 1); choose another name`)
	refused(t, save(&store.DataCenter{Name: "  "}), "name", "must not be empty")
	refused(t, save(&store.DataCenter{Name: "X", ExternalID: " "}), "external_id", "must not be blank")
	if n := count[store.DataCenter](t, db); n != 2 {
		t.Fatalf("refusals stored data centers: %d", n)
	}

	paris := &store.DataCenter{Name: "  Paris ", ExternalID: " ext-9 "}
	if err := save(paris); err != nil || paris.ID != 3 {
		t.Fatalf("add: %v, id %d", err, paris.ID)
	}
	if got, _ := store.Load[store.DataCenter](db, 3); got.Name != "Paris" || got.ExternalID != "ext-9" {
		t.Errorf("stored %+v, want the name and external id trimmed", got)
	}
	// An edit may keep its own name (in another case) and drop or gain an external id when no module uses it.
	if err := save(&store.DataCenter{ID: 3, Name: "PARIS"}); err != nil {
		t.Errorf("renaming to its own name: %v", err)
	}
	if err := save(&store.DataCenter{ID: 2, Name: "DC Two", ExternalID: "ext-2"}); err != nil {
		t.Errorf("external id on a data center without modules: %v", err)
	}
	refused(t, save(&store.DataCenter{ID: 1, Name: "DC One", ExternalID: "ext-1"}), "external_id",
		"cannot be set while 1 module(s) (1) use data center 1")
	refused(t, save(&store.DataCenter{ID: 1, Name: "dc two"}), "name", `a data center named "DC Two" already exists (id 2)`)
	if got, _ := store.Load[store.DataCenter](db, 1); got.ExternalID != "" || got.Name != "DC One" {
		t.Errorf("a refused edit changed the record: %+v", got)
	}
	notFound(t, save(&store.DataCenter{ID: 99, Name: "Ghost"}))
	if _, err := store.Load[store.DataCenter](db, 99); err == nil {
		t.Error("an edit of a missing id created it")
	}
}

func TestDeleteDataCenterRules(t *testing.T) {
	db := rulesDB(t)
	del := func(id uint64) error {
		return db.Update(func(tx *store.Tx) error { return store.DeleteDataCenter(tx, id) })
	}
	refused(t, del(1), "id", "data center 1 is used by 1 module(s) (1); remove them first")
	tf := fullTariff()
	tf.DataCenterID, tf.ModuleIDs = 2, []uint64{1}
	if err := db.Save(tf); err != nil {
		t.Fatal(err)
	}
	refused(t, del(2), "id", "data center 2 is used by 1 tariff(s) (1)")
	if err := db.Save(&store.DataCenter{Name: "Spare"}); err != nil {
		t.Fatal(err)
	}
	if err := del(3); err != nil {
		t.Fatalf("deleting an unused data center: %v", err)
	}
	notFound(t, del(3))
	if n := count[store.DataCenter](t, db); n != 2 {
		t.Errorf("%d data centers left, want 2", n)
	}
}

func TestDepartmentRules(t *testing.T) {
	db := rulesDB(t)
	save := func(d *store.Department) error {
		return db.Update(func(tx *store.Tx) error { return store.SaveDepartment(tx, d) })
	}
	del := func(id uint64) error {
		return db.Update(func(tx *store.Tx) error { return store.DeleteDepartment(tx, id) })
	}
	refused(t, save(&store.Department{Name: "SUPPORT"}), "name", `a department named "Support" already exists (id 1)`)
	refused(t, save(&store.Department{ID: 2, Name: "support "}), "name", "already exists (id 1)")
	notFound(t, save(&store.Department{ID: 9, Name: "Ghost"}))
	if err := save(&store.Department{ID: 2, Name: " Accounts "}); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Load[store.Department](db, 2); got.Name != "Accounts" {
		t.Errorf("renamed to %q", got.Name)
	}

	refused(t, del(1), "id", "department 1 receives the tasks of 1 module(s) (1); give them another department first")
	task := fullTask()
	task.DepartmentID, task.ClosedAt = 2, time.Time{}
	if err := db.Save(task); err != nil {
		t.Fatal(err)
	}
	refused(t, del(2), "id", "department 2 has 1 open task(s) (1); close them first")
	if err := db.Update(func(tx *store.Tx) error { return store.CloseTask(tx, task.ID, t0) }); err != nil {
		t.Fatal(err)
	}
	if err := del(2); err != nil {
		t.Fatalf("deleting a department whose tasks are closed: %v", err)
	}
	notFound(t, del(2))
}

func TestSaveTariffRules(t *testing.T) {
	db := rulesDB(t)
	other := fullModule()
	other.DataCenterID, other.DepartmentID, other.Name = 2, 1, "vmm-2"
	if err := db.Save(other); err != nil {
		t.Fatal(err)
	}
	save := func(tf *store.Tariff) (warnings []string, err error) {
		err = db.Update(func(tx *store.Tx) error { warnings, err = store.SaveTariff(tx, tf); return err })
		return warnings, err
	}
	tariff := func(edit func(*store.Tariff)) *store.Tariff {
		tf := fullTariff()
		tf.DataCenterID, tf.ModuleIDs = 1, []uint64{1}
		edit(tf)
		return tf
	}
	w, err := save(tariff(func(*store.Tariff) {}))
	if err != nil || len(w) != 0 {
		t.Fatalf("a valid tariff: %v, warnings %q", err, w)
	}
	for _, c := range []struct {
		edit         func(*store.Tariff)
		field, words string
	}{
		{func(tf *store.Tariff) { tf.Name = " vps s" }, "name", `a tariff named "VPS S" already exists (id 1)`},
		{func(tf *store.Tariff) { tf.Name, tf.DataCenterID = "B", 9 }, "datacenter", "must be an existing data center; 9 is not one"},
		{func(tf *store.Tariff) { tf.Name, tf.ModuleIDs = "B", []uint64{1, 7} }, "modules", "must list existing modules; 7 is not one"},
		{func(tf *store.Tariff) { tf.Name, tf.CPU = "B", 0 }, "cpu", "between 1 and 256"},
	} {
		_, err := save(tariff(c.edit))
		refused(t, err, c.field, c.words)
	}
	w, err = save(tariff(func(tf *store.Tariff) { tf.Name, tf.ModuleIDs = "VPS M ", []uint64{1, 2} }))
	if err != nil || len(w) != 1 || w[0] != `module(s) 2 are on another data center than "DC One", so they will never be chosen for this tariff` {
		t.Fatalf("a module on another data center: %v, warnings %q", err, w)
	}
	if n := count[store.Tariff](t, db); n != 2 {
		t.Fatalf("%d tariffs, want 2 (refusals store nothing)", n)
	}
	if got, _ := store.Load[store.Tariff](db, 2); got.Name != "VPS M" {
		t.Errorf("name stored as %q, want it trimmed", got.Name)
	}
	if _, err := save(tariff(func(tf *store.Tariff) { tf.ID, tf.Name, tf.CPU = 1, "vps s", 4 })); err != nil {
		t.Errorf("an edit keeping its own name: %v", err)
	}
	_, err = save(tariff(func(tf *store.Tariff) { tf.ID, tf.Name = 2, "VPS S" }))
	refused(t, err, "name", "already exists (id 1)")
	_, err = save(tariff(func(tf *store.Tariff) { tf.ID = 9 }))
	notFound(t, err)
}

func TestDeleteTariffRules(t *testing.T) {
	db := rulesDB(t)
	if err := db.Save(fullTariff()); err != nil {
		t.Fatal(err)
	}
	var svcs []*store.Service
	for range 7 {
		s := fullService()
		svcs = append(svcs, s)
		if err := db.Save(s); err != nil {
			t.Fatal(err)
		}
	}
	del := func() error { return db.Update(func(tx *store.Tx) error { return store.DeleteTariff(tx, 1) }) }
	refused(t, del(), "id", "tariff 1 has 7 service(s) that are not deleted (1, 2, 3, 4, 5 and 2 more); close them first")
	for _, s := range svcs {
		s.Status = store.ServiceDeleted
		if err := db.Save(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := del(); err != nil {
		t.Fatalf("deleting a tariff whose services are deleted: %v", err)
	}
	notFound(t, del())
}

func TestCloseTask(t *testing.T) {
	db := rulesDB(t)
	task := fullTask()
	task.ClosedAt = time.Time{}
	if err := db.Save(task); err != nil {
		t.Fatal(err)
	}
	closeIt := func(id uint64, at time.Time) error {
		return db.Update(func(tx *store.Tx) error { return store.CloseTask(tx, id, at) })
	}
	if err := closeIt(1, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Load[store.Task](db, 1); !got.ClosedAt.Equal(t0) {
		t.Errorf("closed at %v, want %v", got.ClosedAt, t0)
	}
	err := closeIt(1, t0.Add(time.Hour))
	refused(t, err, "id", "task 1 is already closed (since ")
	if !strings.HasPrefix(err.Error(), "task 1 is already closed") {
		t.Errorf("a refusal about the whole record reads as its sentence alone, got %q", err)
	}
	if got, _ := store.Load[store.Task](db, 1); !got.ClosedAt.Equal(t0) {
		t.Errorf("closing twice moved closed_at to %v", got.ClosedAt)
	}
	notFound(t, closeIt(2, t0))
}

// A live service (anything but deleted, and a failed one only with a VM) keeps its module: it cannot be
// removed, nor moved to another cluster or data center.
func TestModuleLiveServiceRules(t *testing.T) {
	db := rulesDB(t)
	check := func() (removable, movable error) {
		_ = db.View(func(tx *store.Tx) error {
			removable, movable = store.ModuleRemovable(tx, 1), store.ModulePlacementEditable(tx, 1, "datacenter")
			return nil
		})
		return removable, movable
	}
	tf := &store.Tariff{Name: "S", DataCenterID: 1, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	if err := db.Save(tf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*store.Service{
		{Status: store.ServiceDeleted, VM: store.VM{HostID: 3}},
		{Status: store.ServiceFailed}, // an open that failed before creating a VM
		{Status: store.ServiceActive, ModuleID: 2},
	} {
		s.TariffID, s.ClientEmail = tf.ID, "c@example.com"
		if s.ModuleID == 0 {
			s.ModuleID = 1
		}
		if err := db.Save(s); err != nil {
			t.Fatal(err)
		}
	}
	if r, m := check(); r != nil || m != nil {
		t.Fatalf("no live service on module 1, yet: %v; %v", r, m)
	}
	if err := db.Save(&store.Service{TariffID: tf.ID, ModuleID: 1, ClientEmail: "c@example.com", Status: store.ServiceFailed,
		VM: store.VM{HostID: 8}}); err != nil {
		t.Fatal(err)
	}
	r, m := check()
	refused(t, r, "id", "module 1 still has 1 live service(s) (4) whose VMs only it can suspend or close")
	refused(t, m, "datacenter", "cannot change while module 1 has 1 live service(s) (4), because their VMs stay on the old data center")
}
