package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rules that need other records: unique names, references, and what may be deleted. The commands and
// the TUI both run them inside their own transaction, so they refuse the same things with the same
// words. A refusal is a *ValidationError; field "id" means the record as a whole, and its rule is a
// whole sentence. Editing or deleting an id that does not exist returns an error wrapping ErrNotFound.

// SaveDataCenter adds (ID 0) or replaces a data center. Its name is unique among data centers (case
// and surrounding spaces ignored), and one that modules use cannot take an external id: a VMmanager 6
// module binds only to a data center without one (spec §2).
func SaveDataCenter(tx *Tx, d *DataCenter) error {
	if err := d.Validate(); err != nil {
		return err
	}
	d.Name, d.ExternalID = strings.TrimSpace(d.Name), strings.TrimSpace(d.ExternalID)
	if err := editable[DataCenter](tx, d.ID); err != nil {
		return err
	}
	if err := uniqueName(tx, d, "data center", func(o *DataCenter) string { return o.Name }); err != nil {
		return err
	}
	if d.ID != 0 && d.ExternalID != "" {
		users, err := idsWhere(tx, func(m *Module) bool { return m.DataCenterID == d.ID })
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return invalid("external_id", "cannot be set while %d module(s) (%s) use data center %d, because a VMmanager 6 module binds only to a data center without one; remove those modules first (a module keeps the data center it was added with)",
				len(users), IDList(users), d.ID)
		}
	}
	return tx.Put(d)
}

// DeleteDataCenter removes a data center that no module or tariff uses.
func DeleteDataCenter(tx *Tx, id uint64) error {
	return deleteUnused[DataCenter](tx, id,
		usedBy(func(m *Module) bool { return m.DataCenterID == id },
			"data center %d is used by %d module(s) (%s); remove them first (a module keeps the data center it was added with)"),
		usedBy(func(t *Tariff) bool { return t.DataCenterID == id },
			"data center %d is used by %d tariff(s) (%s); delete them or move them to another data center first (tariff edit)"))
}

// SaveDepartment adds (ID 0) or replaces a department; its name is unique among departments.
func SaveDepartment(tx *Tx, d *Department) error {
	if err := d.Validate(); err != nil {
		return err
	}
	d.Name = strings.TrimSpace(d.Name)
	if err := editable[Department](tx, d.ID); err != nil {
		return err
	}
	if err := uniqueName(tx, d, "department", func(o *Department) string { return o.Name }); err != nil {
		return err
	}
	return tx.Put(d)
}

// DeleteDepartment removes a department that receives no module's tasks and has no open task.
func DeleteDepartment(tx *Tx, id uint64) error {
	return deleteUnused[Department](tx, id,
		usedBy(func(m *Module) bool { return m.DepartmentID == id },
			"department %d receives the tasks of %d module(s) (%s); give them another department first"),
		usedBy(func(t *Task) bool { return t.DepartmentID == id && t.ClosedAt.IsZero() },
			"department %d has %d open task(s) (%s); close them first"))
}

// SaveTariff adds (ID 0) or replaces a tariff: valid on its own, a name no other tariff has, an
// existing data center and existing modules. Modules on another data center are kept, but module
// selection never chooses them, so they come back as a warning.
func SaveTariff(tx *Tx, t *Tariff) (warnings []string, err error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	t.Name = strings.TrimSpace(t.Name)
	if err := editable[Tariff](tx, t.ID); err != nil {
		return nil, err
	}
	if err := uniqueName(tx, t, "tariff", func(o *Tariff) string { return o.Name }); err != nil {
		return nil, err
	}
	dc, err := Get[DataCenter](tx, t.DataCenterID)
	if err != nil {
		return nil, invalid("datacenter", "must be an existing data center; %d is not one", t.DataCenterID)
	}
	var elsewhere []uint64
	for _, id := range t.ModuleIDs {
		m, err := Get[Module](tx, id)
		if err != nil {
			return nil, invalid("modules", "must list existing modules; %d is not one", id)
		}
		if m.DataCenterID != t.DataCenterID {
			elsewhere = append(elsewhere, id)
		}
	}
	if len(elsewhere) > 0 {
		warnings = append(warnings, fmt.Sprintf("module(s) %s are on another data center than %q, so they will never be chosen for this tariff",
			IDList(elsewhere), dc.Name))
	}
	return warnings, tx.Put(t)
}

// DeleteTariff removes a tariff none of whose services is still alive (every one is deleted).
func DeleteTariff(tx *Tx, id uint64) error {
	return deleteUnused[Tariff](tx, id,
		usedBy(func(s *Service) bool { return s.TariffID == id && s.Status != ServiceDeleted },
			"tariff %d has %d service(s) that are not deleted (%s); close them first"))
}

// CloseTask marks a department task done at now; closing it twice is refused.
func CloseTask(tx *Tx, id uint64, now time.Time) error {
	t, err := Get[Task](tx, id)
	if err != nil {
		return err
	}
	if !t.ClosedAt.IsZero() {
		return invalid(FieldRecord, "task %d is already closed (since %s)", id, t.ClosedAt.Local().Format("2006-01-02 15:04"))
	}
	t.ClosedAt = now
	return tx.Put(t)
}

// editable checks that an edit (id ≠ 0) names a record that exists, so Put cannot create it anew.
func editable[T any, P recordPtr[T]](tx *Tx, id uint64) error {
	if id == 0 {
		return nil
	}
	_, err := Get[T, P](tx, id)
	return err
}

// uniqueName refuses r when another record of its kind has the same name, case and spaces ignored.
func uniqueName[T any, P recordPtr[T]](tx *Tx, r P, kind string, name func(P) string) error {
	var dup P
	err := Each(tx, func(o P) bool {
		if o.GetID() != r.GetID() && strings.EqualFold(strings.TrimSpace(name(o)), strings.TrimSpace(name(r))) {
			dup = o
		}
		return dup == nil
	})
	if err != nil || dup == nil {
		return err
	}
	return invalid("name", "must be unique: a %s named %q already exists (id %d); choose another name", kind, name(dup), dup.GetID())
}

// use finds the records that refer to one about to be deleted; refusal formats the record's id, their
// count and their ids.
type use struct {
	find    func(*Tx) ([]uint64, error)
	refusal string
}

func usedBy[T any, P recordPtr[T]](match func(P) bool, refusal string) use {
	return use{find: func(tx *Tx) ([]uint64, error) { return idsWhere(tx, match) }, refusal: refusal}
}

// deleteUnused deletes record id of kind T unless one of uses still finds records referring to it.
func deleteUnused[T any, P recordPtr[T]](tx *Tx, id uint64, uses ...use) error {
	if _, err := Get[T, P](tx, id); err != nil {
		return err
	}
	for _, u := range uses {
		ids, err := u.find(tx)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			return invalid(FieldRecord, u.refusal, id, len(ids), IDList(ids))
		}
	}
	r := P(new(T))
	r.SetID(id)
	return tx.Delete(r)
}

// idsWhere returns the ids of the records of kind T that match.
func idsWhere[T any, P recordPtr[T]](tx *Tx, match func(P) bool) ([]uint64, error) {
	var ids []uint64
	err := Each(tx, func(p P) bool {
		if match(p) {
			ids = append(ids, p.GetID())
		}
		return true
	})
	return ids, err
}

// IDList names up to five ids for a sentence: "1, 2, 3, 4, 5 and 3 more".
func IDList(ids []uint64) string {
	const most = 5
	parts := make([]string, 0, most)
	for i, id := range ids {
		if i == most {
			return strings.Join(parts, ", ") + fmt.Sprintf(" and %d more", len(ids)-most)
		}
		parts = append(parts, strconv.FormatUint(id, 10))
	}
	return strings.Join(parts, ", ")
}

// liveService is a service that still has, or may get, a VM through its module: anything but deleted,
// and a failed one only when it holds a VM (a failed open without one needs nothing from the module).
func liveService(s *Service) bool {
	return s.Status != ServiceDeleted && (s.Status != ServiceFailed || s.VM.HostID != 0)
}

// LiveServices lists the services bound to module id that still need its VMmanager.
func LiveServices(tx *Tx, moduleID uint64) ([]uint64, error) {
	return idsWhere(tx, func(s *Service) bool { return s.ModuleID == moduleID && liveService(s) })
}

// ModuleRemovable refuses to delete a module that live services are bound to: without it vmmpm could no
// longer suspend or close their VMs.
func ModuleRemovable(tx *Tx, id uint64) error {
	live, err := LiveServices(tx, id)
	if err != nil || len(live) == 0 {
		return err
	}
	return invalid(FieldRecord, "module %d still has %d live service(s) (%s) whose VMs only it can suspend or close; close those services first, or change the module with module set (or e on Modules) instead of removing and re-adding it",
		id, len(live), IDList(live))
}

// ModulePlacementEditable refuses to move module id to another cluster or data center (field
// "cluster" or "datacenter") while live services are bound to it: their VMs stay where they were
// created.
func ModulePlacementEditable(tx *Tx, id uint64, field string) error {
	live, err := LiveServices(tx, id)
	if err != nil || len(live) == 0 {
		return err
	}
	noun := map[string]string{"cluster": "cluster", "datacenter": "data center"}[field]
	return invalid(field, "cannot change while module %d has %d live service(s) (%s), because their VMs stay on the old %s; close them first, or add a new module for the new %s",
		id, len(live), IDList(live), noun, noun)
}
