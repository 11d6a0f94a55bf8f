package wizard

import (
	"fmt"
	"strconv"
	"strings"

	"vmmpm/store"
)

// Catalog is what validation needs from the database: the data centers and departments a module can
// bind to, and the modules already there (for unique names and duplicate sorts).
type Catalog struct {
	DataCenters []*store.DataCenter `json:"datacenters"`
	Departments []*store.Department `json:"departments"`
	Modules     []*store.Module     `json:"modules"`
	// NextModuleID is the id the next saved module will get, for the queue-key preview.
	NextModuleID uint64 `json:"next_module_id"`
}

// LoadCatalog reads the catalog in one read transaction.
func LoadCatalog(db *store.DB) (*Catalog, error) {
	var c *Catalog
	err := db.View(func(tx *store.Tx) (err error) { c, err = CatalogTx(tx); return err })
	return c, err
}

// CatalogTx reads the catalog inside tx, so Save can re-check the rules against what it commits.
func CatalogTx(tx *store.Tx) (*Catalog, error) {
	c := &Catalog{}
	if err := store.Each(tx, func(d *store.DataCenter) bool { c.DataCenters = append(c.DataCenters, d); return true }); err != nil {
		return nil, err
	}
	if err := store.Each(tx, func(d *store.Department) bool { c.Departments = append(c.Departments, d); return true }); err != nil {
		return nil, err
	}
	if err := store.Each(tx, func(m *store.Module) bool { c.Modules = append(c.Modules, m); return true }); err != nil {
		return nil, err
	}
	c.NextModuleID = 1
	if b := tx.KV().Bucket((&store.Module{}).Bucket()); b != nil {
		c.NextModuleID = b.Sequence() + 1
	}
	return c, nil
}

// Choice is one entry of a pick list. Entries that cannot be chosen stay listed with the reason.
type Choice struct {
	ID         uint64
	Label      string
	Selectable bool
	Reason     string
}

// DataCenterChoices lists every data center; those with an external id are not selectable (spec §3).
func (c *Catalog) DataCenterChoices() []Choice {
	out := make([]Choice, 0, len(c.DataCenters))
	for _, d := range c.DataCenters {
		ch := Choice{ID: d.ID, Label: d.Name, Selectable: true}
		if d.ExternalID != "" {
			ch.Selectable = false
			ch.Reason = externalIDReason(d)
		}
		out = append(out, ch)
	}
	return out
}

func externalIDReason(d *store.DataCenter) string {
	return fmt.Sprintf("data center %q has External Data Center id %q, and a VMmanager 6 module cannot be attached to such a data center", d.Name, d.ExternalID)
}

// DepartmentChoices lists every department.
func (c *Catalog) DepartmentChoices() []Choice {
	out := make([]Choice, 0, len(c.Departments))
	for _, d := range c.Departments {
		out = append(out, Choice{ID: d.ID, Label: d.Name, Selectable: true})
	}
	return out
}

// DataCenter returns the data center with id, or nil.
func (c *Catalog) DataCenter(id uint64) *store.DataCenter {
	for _, d := range c.DataCenters {
		if d.ID == id {
			return d
		}
	}
	return nil
}

// Department returns the department with id, or nil.
func (c *Catalog) Department(id uint64) *store.Department {
	for _, d := range c.Departments {
		if d.ID == id {
			return d
		}
	}
	return nil
}

// Ref names a record by id or by name, as a spec file or `module set` gives it.
type Ref struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// ParseRef reads "12" as an id and anything else as a name.
func ParseRef(s string) Ref {
	s = strings.TrimSpace(s)
	if id, err := strconv.ParseUint(s, 10, 64); err == nil {
		return Ref{ID: id, Name: s}
	}
	return Ref{Name: s}
}

// IsZero reports whether the reference names nothing.
func (r Ref) IsZero() bool { return r.ID == 0 && r.Name == "" }

func (r Ref) String() string {
	if r.Name != "" {
		return strconv.Quote(r.Name)
	}
	return strconv.FormatUint(r.ID, 10)
}

// match finds a record by exact name first (a data center may be called "2"), then by a name that
// differs only in case when just one does (record names are unique ignoring case), then by id.
func match[T any](items []T, ref Ref, id func(T) uint64, name func(T) string) (T, bool) {
	var zero T
	if ref.Name != "" {
		for _, it := range items {
			if name(it) == ref.Name {
				return it, true
			}
		}
		var folded []T
		for _, it := range items {
			if strings.EqualFold(name(it), ref.Name) {
				folded = append(folded, it)
			}
		}
		if len(folded) == 1 {
			return folded[0], true
		}
	}
	if ref.ID != 0 {
		for _, it := range items {
			if id(it) == ref.ID {
				return it, true
			}
		}
	}
	return zero, false
}

// ResolveDataCenter finds a data center by name or id.
func (c *Catalog) ResolveDataCenter(ref Ref) (uint64, error) {
	if ref.IsZero() {
		return 0, invalid("datacenter", "must be given, by name or id")
	}
	d, ok := match(c.DataCenters, ref, func(d *store.DataCenter) uint64 { return d.ID }, func(d *store.DataCenter) string { return d.Name })
	if !ok {
		return 0, invalid("datacenter", "must name an existing data center; there is none called %s (see `vmmpm datacenter list`)", ref)
	}
	return d.ID, nil
}

// ResolveDepartment finds a department by name or id.
func (c *Catalog) ResolveDepartment(ref Ref) (uint64, error) {
	if ref.IsZero() {
		return 0, invalid("department", "must be given, by name or id")
	}
	d, ok := match(c.Departments, ref, func(d *store.Department) uint64 { return d.ID }, func(d *store.Department) string { return d.Name })
	if !ok {
		return 0, invalid("department", "must name an existing department; there is none called %s (see `vmmpm department list`)", ref)
	}
	return d.ID, nil
}

// CanChooseDataCenter reports whether step 4 has a data center to offer; without one the wizard
// offers to add one on the spot.
func (c *Catalog) CanChooseDataCenter() bool {
	for _, ch := range c.DataCenterChoices() {
		if ch.Selectable {
			return true
		}
	}
	return false
}

// AddPlacement is what step 4 does when there was nothing to choose: it adds the data center and the
// department named (either may be ""), with the rules of `datacenter add` and `department add`, both
// or neither, and returns their ids and the catalog as it is now.
func AddPlacement(db *store.DB, dataCenter, department string) (dcID, deptID uint64, cat *Catalog, err error) {
	err = db.Update(func(tx *store.Tx) error {
		if strings.TrimSpace(dataCenter) != "" {
			d := &store.DataCenter{Name: dataCenter}
			if err := store.SaveDataCenter(tx, d); err != nil {
				return err
			}
			dcID = d.ID
		}
		if strings.TrimSpace(department) != "" {
			d := &store.Department{Name: department}
			if err := store.SaveDepartment(tx, d); err != nil {
				return err
			}
			deptID = d.ID
		}
		cat, err = CatalogTx(tx)
		return err
	})
	if err != nil {
		return 0, 0, nil, err
	}
	return dcID, deptID, cat, nil
}
