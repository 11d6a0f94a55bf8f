package wizard

import (
	"context"
	"errors"

	"vmmpm/store"
)

// EditModule is `module set` and the TUI's saves of module settings: apply typed changes to module id
// with the wizard's rules, log in to VMmanager first when a live setting changed (with the stored
// password), and save. Nothing changes unless every change is valid. The database is not held during
// the login.
func EditModule(ctx context.Context, db *store.DB, secrets store.Secrets, id uint64, ch *ModuleChanges) (*store.Module, []string, error) {
	m, err := store.Load[store.Module](db, id)
	if err != nil {
		return nil, nil, err
	}
	cat, err := LoadCatalog(db)
	if err != nil {
		return nil, nil, err
	}
	e, err := cat.ApplyChanges(m, ch)
	if err != nil {
		return nil, nil, err
	}
	if e.Live {
		password, err := secrets.Get(id)
		if err != nil {
			return nil, nil, err
		}
		res, err := CheckIntegration(ctx, e.Draft.Integration(), password)
		if err != nil {
			return nil, nil, err
		}
		if err := e.Resolve(res); err != nil {
			return nil, nil, err
		}
	}
	saved, err := Update(db, secrets, e.Draft, "")
	if err != nil {
		return nil, nil, err
	}
	return saved, e.Warnings(), nil
}

// Update saves draft d over the module it was made from (d.ID) and, when password is not empty, the new
// password with it: both or neither. Whatever changes what vmmpm logs in to (URL, username, TLS,
// password) or the cluster must have been checked live first, which leaves the fetched clusters on the
// draft. Moving the module to another cluster or data center is refused while live services are bound
// to it.
func Update(db *store.DB, secrets store.Secrets, d *Draft, password string) (*store.Module, error) {
	if password != "" {
		if err := ValidatePassword(password); err != nil {
			return nil, err
		}
	}
	m := d.Module()
	var oldPassword string
	stored := false
	err := db.Update(func(tx *store.Tx) error {
		old, err := store.Get[store.Module](tx, d.ID)
		if err != nil {
			return err
		}
		cat, err := CatalogTx(tx)
		if err != nil {
			return err
		}
		if err := cat.validateEdit(d, old, password != ""); err != nil {
			return err
		}
		if err := placementEditable(tx, d, old); err != nil {
			return err
		}
		if err := tx.Put(m); err != nil {
			return err
		}
		if password == "" {
			return nil
		}
		if oldPassword, err = secrets.Get(d.ID); err != nil && !errors.Is(err, store.ErrSecretNotFound) {
			return &SaveError{Part: PartKeyring, Err: err}
		}
		if err := secrets.Set(d.ID, password); err != nil {
			return &SaveError{Part: PartKeyring, Err: err}
		}
		stored = true
		return nil
	})
	if err != nil && stored {
		restore := secrets.Delete(d.ID)
		if oldPassword != "" {
			restore = secrets.Set(d.ID, oldPassword)
		}
		return nil, &SaveError{Part: PartDatabase, Err: err, Cleanup: restore}
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// CheckPlacement refuses early what Update would refuse of draft d at the end: moving the module to
// another data center or cluster while live services are bound to it. A new module (ID 0) passes.
func CheckPlacement(db *store.DB, d *Draft) error {
	if d.ID == 0 {
		return nil
	}
	return db.View(func(tx *store.Tx) error {
		old, err := store.Get[store.Module](tx, d.ID)
		if err != nil {
			return err
		}
		return placementEditable(tx, d, old)
	})
}

func placementEditable(tx *store.Tx, d *Draft, old *store.Module) error {
	if d.DataCenterID != old.DataCenterID {
		if err := store.ModulePlacementEditable(tx, d.ID, "datacenter"); err != nil {
			return err
		}
	}
	if d.Cluster.ID != old.Cluster.ID {
		return store.ModulePlacementEditable(tx, d.ID, "cluster")
	}
	return nil
}

// validateEdit is Validate for an edit: the cluster rules need the clusters a live check fetched, and
// that check is required when the login or the cluster changed.
func (c *Catalog) validateEdit(d *Draft, old *store.Module, newPassword bool) error {
	if err := first(ValidateProductType(d.ProductType), ValidateKind(d.Kind), ValidateURL(d.URL),
		ValidateUsername(d.Username), c.validateLocal(d), d.Module().Validate()); err != nil {
		return err
	}
	if d.Clusters != nil {
		return first(ValidateCluster(d.Clusters, d.Cluster.ID),
			ValidateAdditionalInterface(d.Clusters, d.Cluster.ID, d.AdditionalInterface))
	}
	m := d.Module()
	if newPassword || m.URL != old.URL || m.Username != old.Username || m.InsecureTLS != old.InsecureTLS ||
		m.TLSPin != old.TLSPin || m.TLSCAFile != old.TLSCAFile ||
		m.Cluster.ID != old.Cluster.ID || (m.AdditionalInterface && !old.AdditionalInterface) {
		return invalid(store.FieldRecord, "module %d: the change of its login or cluster has not been checked against VMmanager; check it (leave the Integration step, or run module set) before saving", d.ID)
	}
	return nil
}
