package common

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"vmmpm/store"
	"vmmpm/wizard"
)

// Data is what screens read and act on: the database, where passwords live, and the engine. Its
// methods are the TUI's only door to the domain packages, so every action here is the same code path as
// the matching command.
type Data struct {
	DB      *store.DB
	Secrets store.Secrets
	Engine  Engine

	// version counts changes (engine events, saves); screens reload on a tick when it moved.
	version atomic.Uint64
}

// Version is the change counter; Bump advances it. Many bumps between two ticks cost one reload.
func (d *Data) Version() uint64 { return d.version.Load() }
func (d *Data) Bump()           { d.version.Add(1) }

// CheckTimeout bounds the connection test of `t`.
var CheckTimeout = 30 * time.Second

// CheckModule logs in with the stored password, requires @admin, confirms the module's cluster is
// still listed, and records the result (the rules of `module check`).
func (d *Data) CheckModule(id uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	m, err := store.Load[store.Module](d.DB, id)
	if err != nil {
		return err
	}
	pw, err := d.Secrets.Get(id)
	if err != nil {
		return err
	}
	check, cerr := checkModule(ctx, m, pw)
	err = d.DB.Update(func(tx *store.Tx) error {
		cur, err := store.Get[store.Module](tx, id)
		if err != nil {
			return err
		}
		cur.LastCheck = check
		return tx.Put(cur)
	})
	if cerr != nil {
		return cerr
	}
	return err
}

func checkModule(ctx context.Context, m *store.Module, password string) (*store.Check, error) {
	chk := &store.Check{At: time.Now().UTC()}
	in := wizard.Integration{URL: m.URL, Username: m.Username, InsecureTLS: m.InsecureTLS}
	res, err := wizard.CheckIntegration(ctx, in, password)
	if err != nil {
		chk.Message = err.Error()
		return chk, err
	}
	for _, c := range res.Clusters {
		if c.ID == m.Cluster.ID {
			chk.OK = true
			chk.Message = fmt.Sprintf("logged in to %s as administrator %s; cluster %q is there", res.URL, m.Username, c.Name)
			return chk, nil
		}
	}
	chk.Message = fmt.Sprintf("logged in to %s, but VMmanager no longer lists cluster %q (id %d): add a module for an existing cluster", res.URL, m.Cluster.Name, m.Cluster.ID)
	return chk, errors.New(chk.Message)
}

// DeleteModule removes the module and its password in one transaction, refusing while it has unfinished
// operations (the rules of `module rm`).
func (d *Data) DeleteModule(id uint64) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		m, err := store.Get[store.Module](tx, id)
		if err != nil {
			return err
		}
		if c := d.Engine.Counts()[id]; c.Queued+c.Running+c.Retrying > 0 {
			return fmt.Errorf("module %d still has %d unfinished operation(s); wait for them or cancel them first",
				id, c.Queued+c.Running+c.Retrying)
		}
		if err := tx.Delete(m); err != nil {
			return err
		}
		if err := d.Secrets.Delete(id); err != nil && !errors.Is(err, store.ErrSecretNotFound) {
			return fmt.Errorf("module %d was not removed: %w", id, err)
		}
		return nil
	})
}

// SetModule applies `module set` pairs with the wizard's rules and saves the module in one transaction.
func (d *Data) SetModule(id uint64, kv []string) (warnings []string, err error) {
	defer d.Bump()
	err = d.DB.Update(func(tx *store.Tx) error {
		m, err := store.Get[store.Module](tx, id)
		if err != nil {
			return err
		}
		cat, err := wizard.CatalogTx(tx)
		if err != nil {
			return err
		}
		if warnings, err = wizard.ApplySet(cat, m, kv); err != nil {
			return err
		}
		return tx.Put(m)
	})
	return warnings, err
}

// CloseTask marks a department task done.
func (d *Data) CloseTask(id uint64) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		t, err := store.Get[store.Task](tx, id)
		if err != nil {
			return err
		}
		if t.ClosedAt.IsZero() {
			t.ClosedAt = time.Now()
		}
		return tx.Put(t)
	})
}

// SaveCatalog stores a data center or department. A data center that modules use cannot gain an external
// id (spec §2: a VMmanager 6 module binds only to one without).
func (d *Data) SaveCatalog(r store.Record) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		if dc, ok := r.(*store.DataCenter); ok && dc.ID != 0 && dc.ExternalID != "" {
			if n := countModules(tx, func(m *store.Module) bool { return m.DataCenterID == dc.ID }); n > 0 {
				return fmt.Errorf("data center %d has %d module(s); a data center with an external id cannot take VMmanager 6 modules, so move them first", dc.ID, n)
			}
		}
		if r.GetID() != 0 {
			if err := exists(tx, r); err != nil {
				return err
			}
		}
		return tx.Put(r)
	})
}

// DeleteCatalog removes a data center or department nothing refers to.
func (d *Data) DeleteCatalog(r store.Record) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		switch r := r.(type) {
		case *store.DataCenter:
			if n := countModules(tx, func(m *store.Module) bool { return m.DataCenterID == r.ID }); n > 0 {
				return fmt.Errorf("data center %d is used by %d module(s); delete or move them first", r.ID, n)
			}
			n := 0
			if err := store.Each(tx, func(t *store.Tariff) bool {
				if t.DataCenterID == r.ID {
					n++
				}
				return true
			}); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("data center %d is used by %d tariff(s); delete them first", r.ID, n)
			}
		case *store.Department:
			if n := countModules(tx, func(m *store.Module) bool { return m.DepartmentID == r.ID }); n > 0 {
				return fmt.Errorf("department %d receives the tasks of %d module(s); give them another department first", r.ID, n)
			}
		}
		return tx.Delete(r)
	})
}

func countModules(tx *store.Tx, match func(*store.Module) bool) int {
	n := 0
	_ = store.Each(tx, func(m *store.Module) bool {
		if match(m) {
			n++
		}
		return true
	})
	return n
}

func exists(tx *store.Tx, r store.Record) error {
	var err error
	switch r := r.(type) {
	case *store.DataCenter:
		_, err = store.Get[store.DataCenter](tx, r.ID)
	case *store.Department:
		_, err = store.Get[store.Department](tx, r.ID)
	case *store.Tariff:
		_, err = store.Get[store.Tariff](tx, r.ID)
	}
	return err
}

// SaveTariff stores a tariff after its own validation and the rules of `tariff add`: the data center and
// every module exist and no other tariff has the name. Modules on another data center are allowed but
// never chosen, so they come back as a warning, as the command prints one.
func (d *Data) SaveTariff(t *store.Tariff) (warning string, err error) {
	defer d.Bump()
	if err := t.Validate(); err != nil {
		return "", err
	}
	var elsewhere []string
	err = d.DB.Update(func(tx *store.Tx) error {
		if _, err := store.Get[store.DataCenter](tx, t.DataCenterID); err != nil {
			return fmt.Errorf("data center %d does not exist; add it on the Catalog screen", t.DataCenterID)
		}
		var dup *store.Tariff
		if err := store.Each(tx, func(o *store.Tariff) bool {
			if o.ID != t.ID && strings.EqualFold(o.Name, t.Name) {
				dup = o
			}
			return dup == nil
		}); err != nil {
			return err
		}
		if dup != nil {
			return fmt.Errorf("a tariff named %q already exists (id %d); choose another name", dup.Name, dup.ID)
		}
		for _, id := range t.ModuleIDs {
			m, err := store.Get[store.Module](tx, id)
			if err != nil {
				return fmt.Errorf("module %d does not exist; see the Modules screen", id)
			}
			if m.DataCenterID != t.DataCenterID {
				elsewhere = append(elsewhere, strconv.FormatUint(id, 10))
			}
		}
		if t.ID != 0 {
			if err := exists(tx, t); err != nil {
				return err
			}
		}
		return tx.Put(t)
	})
	if err == nil && len(elsewhere) > 0 {
		warning = fmt.Sprintf("module(s) %s are on another data center, so they will never be chosen for this tariff", strings.Join(elsewhere, ", "))
	}
	return warning, err
}

// DeleteTariff removes a tariff no service uses.
func (d *Data) DeleteTariff(id uint64) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		t, err := store.Get[store.Tariff](tx, id)
		if err != nil {
			return err
		}
		n := 0
		if err := store.Each(tx, func(s *store.Service) bool {
			if s.TariffID == id && s.Status != store.ServiceDeleted {
				n++
			}
			return true
		}); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("tariff %d has %d service(s) that are not deleted; close them first", id, n)
		}
		return tx.Delete(t)
	})
}

// CreateServices enqueues `open` for count new services of a tariff (service create).
func (d *Data) CreateServices(tariffID uint64, count int, client string) ([]uint64, error) {
	defer d.Bump()
	svcs, err := d.Engine.CreateServices(tariffID, count, client)
	ids := make([]uint64, len(svcs))
	for i := range svcs {
		ids[i] = svcs[i].ID
	}
	return ids, err
}

// Enqueue runs an operation on a service through the engine (service OP).
func (d *Data) Enqueue(serviceID uint64, op string, args map[string]string) (uint64, error) {
	defer d.Bump()
	j, err := d.Engine.Enqueue(serviceID, op, args)
	if err != nil {
		return 0, err
	}
	return j.ID, nil
}
