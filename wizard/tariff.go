package wizard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// Images is what one module's VMmanager offers a tariff: the OS images usable on the module's cluster
// and the recipes.
type Images struct {
	Module  *store.Module `json:"module"`
	OS      []vmm.OS      `json:"os"`
	Recipes []vmm.Recipe  `json:"recipes"`
}

// ModuleImages logs in to module m's VMmanager with its stored password and lists the OS images its
// cluster can install (VMmanager names each image's clusters, and whether it is an LXD image) and the
// recipes.
func ModuleImages(ctx context.Context, secrets store.Secrets, m *store.Module) (*Images, error) {
	c, err := storedClient(secrets, m)
	if err != nil {
		return nil, err
	}
	oses, err := c.OSList(ctx)
	if err != nil {
		return nil, &CheckError{Cause: Classify(err), Err: err, Module: m.ID}
	}
	recipes, err := c.Recipes(ctx)
	if err != nil {
		return nil, &CheckError{Cause: Classify(err), Err: err, Module: m.ID}
	}
	im := &Images{Module: m, Recipes: recipes}
	for _, o := range oses {
		if fitsCluster(o, m.Cluster) {
			im.OS = append(im.OS, o)
		}
	}
	return im, nil
}

// storedClient is a VMmanager client for module m with its stored password, with the check's timeouts.
func storedClient(secrets store.Secrets, m *store.Module) (*vmm.Client, error) {
	password, err := secrets.Get(m.ID)
	if err != nil {
		return nil, err
	}
	c, err := vmm.New(vmm.Config{URL: m.URL, Email: m.Username, Password: password, InsecureTLS: m.InsecureTLS,
		TLSPin: m.TLSPin, CAFile: m.TLSCAFile,
		Timeout: CheckCallTimeout, RetryFor: CheckRetryFor, SessionTTL: time.Minute})
	if err != nil {
		return nil, &CheckError{Cause: Classify(err), Err: err, Module: m.ID}
	}
	return c, nil
}

// fitsCluster: an LXD image only on an LXD cluster, a KVM image only on a KVM one, and only on the
// clusters VMmanager lists for it when it lists any.
func fitsCluster(o vmm.OS, c store.Cluster) bool {
	if o.LXD != (c.Virtualization == store.VirtLXD) {
		return false
	}
	return len(o.Clusters) == 0 || slices.Contains(o.Clusters, c.ID)
}

// CheckTariff refuses a tariff whose os_id or recipe_id one of its modules' VMmanager does not offer:
// otherwise every open queued for it would fail and file a task. Modules that do not exist are left to
// store.SaveTariff, which names them.
func CheckTariff(ctx context.Context, db *store.DB, secrets store.Secrets, t *store.Tariff) error {
	for _, id := range t.ModuleIDs {
		m, err := store.Load[store.Module](db, id)
		if err != nil {
			continue
		}
		im, err := ModuleImages(ctx, secrets, m)
		if err != nil {
			return fmt.Errorf("cannot check the tariff against module %d's VMmanager: %w", id, err)
		}
		if err := im.Check(t.OSID, t.RecipeID); err != nil {
			return err
		}
	}
	return nil
}

// Check refuses an OS image or recipe (0: none) this module's VMmanager does not offer, naming what it
// does offer.
func (im *Images) Check(osID, recipeID uint64) error {
	m := im.Module
	if !slices.ContainsFunc(im.OS, func(o vmm.OS) bool { return o.ID == osID }) {
		var names []string
		for _, o := range im.OS {
			names = append(names, fmt.Sprintf("%d %s", o.ID, o.Name))
		}
		return invalid("os_id", "must be an OS image module %d %q can install on cluster %q; %d is not one (it offers: %s)",
			m.ID, m.Name, m.Cluster.Name, osID, strings.Join(names, ", "))
	}
	if recipeID != 0 && !slices.ContainsFunc(im.Recipes, func(r vmm.Recipe) bool { return r.ID == recipeID }) {
		var names []string
		for _, r := range im.Recipes {
			names = append(names, fmt.Sprintf("%d %s", r.ID, r.Name))
		}
		return invalid("recipe_id", "must be a recipe of module %d %q's VMmanager; %d is not one (it has: %s)",
			m.ID, m.Name, recipeID, strings.Join(names, ", "))
	}
	return nil
}

// SaveTariff is `tariff add/edit` and the TUI's tariff form: the tariff's own rules, its OS and recipe
// checked against each module's VMmanager, then the store's rules and the save in one transaction. The
// database is not held during the checks.
func SaveTariff(ctx context.Context, db *store.DB, secrets store.Secrets, t *store.Tariff) (warnings []string, err error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if err := CheckTariff(ctx, db, secrets, t); err != nil {
		return nil, err
	}
	err = db.Update(func(tx *store.Tx) (err error) {
		warnings, err = store.SaveTariff(tx, t)
		return err
	})
	return warnings, err
}
