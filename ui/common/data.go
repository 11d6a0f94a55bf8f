package common

import (
	"context"
	"fmt"
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

// CheckModule is `module check`: log in with the stored password, require @admin, confirm the cluster
// is still listed, and record the result.
func (d *Data) CheckModule(id uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	_, err := wizard.CheckStored(ctx, d.DB, d.Secrets, id)
	return err
}

// DeleteModule is `module rm`: the module and its password together, refused while it has unfinished
// operations; the warnings name tariffs that still list it.
func (d *Data) DeleteModule(id uint64) (warnings []string, err error) {
	defer d.Bump()
	return wizard.RemoveModule(d.DB, d.Secrets, id)
}

// SetModule is `module set`: pairs applied with the wizard's rules, logging in to VMmanager first
// when a live setting (URL, username, TLS, cluster) changed.
func (d *Data) SetModule(id uint64, kv []string) (warnings []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	_, warnings, err = wizard.EditModule(ctx, d.DB, d.Secrets, id, kv)
	return warnings, err
}

// CloseTask is `tasks close`.
func (d *Data) CloseTask(id uint64) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error { return store.CloseTask(tx, id, time.Now()) })
}

// SaveCatalog is `datacenter add/edit` or `department add/edit`, by the record's kind.
func (d *Data) SaveCatalog(r store.Record) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		switch r := r.(type) {
		case *store.DataCenter:
			return store.SaveDataCenter(tx, r)
		case *store.Department:
			return store.SaveDepartment(tx, r)
		}
		return fmt.Errorf("%T is not a catalog record", r)
	})
}

// DeleteCatalog is `datacenter rm` or `department rm`, by the record's kind.
func (d *Data) DeleteCatalog(r store.Record) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error {
		switch r.(type) {
		case *store.DataCenter:
			return store.DeleteDataCenter(tx, r.GetID())
		case *store.Department:
			return store.DeleteDepartment(tx, r.GetID())
		}
		return fmt.Errorf("%T is not a catalog record", r)
	})
}

// SaveTariff is `tariff add/edit`, OS and recipe checked against its modules' VMmanager; its warnings
// come back as one line.
func (d *Data) SaveTariff(t *store.Tariff) (warning string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	warnings, err := wizard.SaveTariff(ctx, d.DB, d.Secrets, t)
	return strings.Join(warnings, "; "), err
}

// ModuleImages lists what module id's VMmanager offers a tariff (OS images for its cluster, recipes),
// for the tariff form's pick lists.
func (d *Data) ModuleImages(id uint64) (*wizard.Images, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	m, err := store.Load[store.Module](d.DB, id)
	if err != nil {
		return nil, err
	}
	return wizard.ModuleImages(ctx, d.Secrets, m)
}

// DeleteTariff is `tariff rm`.
func (d *Data) DeleteTariff(id uint64) error {
	defer d.Bump()
	return d.DB.Update(func(tx *store.Tx) error { return store.DeleteTariff(tx, id) })
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
