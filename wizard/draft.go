package wizard

import (
	"fmt"
	"strings"

	"vmmpm/store"
	"vmmpm/vmm"
)

// Draft is a module being added. It holds no password: the password travels beside it, straight from
// the prompt to Save, so a draft can be logged or shown without leaking it.
type Draft struct {
	// ID is the module being edited (DraftOf); 0 while adding one.
	ID uint64 `json:"id"`

	// Step 1 and 2.
	ProductType string `json:"product_type"`
	Kind        string `json:"kind"`

	// Step 3.
	URL         string `json:"url"`
	Username    string `json:"username"`
	InsecureTLS bool   `json:"insecure_tls"`
	// TLSPin and TLSCAFile are store.Module's: the one certificate trusted, or the CAs verified against.
	TLSPin    string `json:"tls_pin,omitempty"`
	TLSCAFile string `json:"tls_ca_file,omitempty"`

	// Step 4.
	DataCenterID        uint64        `json:"datacenter_id"`
	Name                string        `json:"name"`
	DepartmentID        uint64        `json:"department_id"`
	Sort                int           `json:"sort"`
	Cluster             store.Cluster `json:"cluster"`
	UseRecipes          bool          `json:"use_recipes"`
	RecipeWait          string        `json:"recipe_wait"`
	AdditionalInterface bool          `json:"additional_interface"`
	Params              store.Params  `json:"params"`

	// Checked is the integration check that let the draft past step 3 (ApplyCheck).
	Checked *store.Check `json:"checked"`

	// Asked only when editing a module (and by `module set`).
	Enabled         bool `json:"enabled"`
	ActivationLimit int  `json:"activation_limit"`
	CapacityWarn    int  `json:"capacity_warn"` // percent free below which capacity is shown as low
	// ReconcileEvery is store.Module.ReconcileEvery ("" = the default).
	ReconcileEvery string `json:"reconcile_every,omitempty"`
	// AttemptTimeout is store.Module.AttemptTimeout ("open=30m,reinstall=1h"; "" = the engine's).
	AttemptTimeout string `json:"attempt_timeout,omitempty"`

	// Clusters is what the integration check fetched from VMmanager; step 4 chooses among them, so a
	// draft without them has not passed step 3.
	Clusters []vmm.Cluster `json:"clusters"`
}

// NewDraft returns a draft with the defaults of spec §3 and §4: VPS, VMmanager 6, TLS verified, recipes
// off (counting the service active once the OS is installed), one queue off, session kept an hour.
func NewDraft() *Draft {
	return &Draft{
		ProductType:  store.ProductVPS,
		Kind:         store.KindVMmanager6,
		RecipeWait:   store.RecipeWaitOS,
		Params:       store.DefaultParams(),
		Enabled:      true,
		CapacityWarn: store.DefaultCapacityWarn,
	}
}

// Module is the record the draft becomes. The URL is stored normalised; the id is set by Save.
func (d *Draft) Module() *store.Module {
	url, err := vmm.NormalizeURL(d.URL)
	if err != nil {
		url = strings.TrimSpace(d.URL)
	}
	m := &store.Module{
		ID:                  d.ID,
		Name:                strings.TrimSpace(d.Name),
		ProductType:         d.ProductType,
		Kind:                d.Kind,
		URL:                 url,
		Username:            strings.TrimSpace(d.Username),
		InsecureTLS:         d.InsecureTLS,
		TLSPin:              d.TLSPin,
		TLSCAFile:           strings.TrimSpace(d.TLSCAFile),
		DataCenterID:        d.DataCenterID,
		DepartmentID:        d.DepartmentID,
		Sort:                d.Sort,
		Cluster:             d.Cluster,
		UseRecipes:          d.UseRecipes,
		AdditionalInterface: d.AdditionalInterface,
		Enabled:             d.Enabled,
		ActivationLimit:     d.ActivationLimit,
		ReconcileEvery:      d.ReconcileEvery,
		AttemptTimeout:      d.AttemptTimeout,
		Params:              d.Params,
		LastCheck:           d.Checked,
	}
	if pin, err := vmm.ParsePin(d.TLSPin); err == nil {
		m.TLSPin = pin
	}
	if d.CapacityWarn != store.DefaultCapacityWarn {
		w := d.CapacityWarn
		m.CapacityWarn = &w
	}
	if d.UseRecipes {
		m.RecipeWait = d.RecipeWait
	}
	return m
}

// TrustPin makes pin (as ParsePin returns it) the one certificate the module accepts; a pin replaces
// skipping verification, which then means nothing. "" drops the pin.
func (d *Draft) TrustPin(pin string) {
	d.TLSPin = pin
	if pin != "" {
		d.InsecureTLS = false
	}
}

// TrustCAFile verifies the module against the CAs in path instead of skipping verification; "" drops it.
func (d *Draft) TrustCAFile(path string) {
	d.TLSCAFile = strings.TrimSpace(path)
	if d.TLSCAFile != "" {
		d.InsecureTLS = false
	}
}

// SkipVerification is the last resort: no pin, no CA file, no check of the certificate at all.
func (d *Draft) SkipVerification() {
	d.InsecureTLS, d.TLSPin, d.TLSCAFile = true, "", ""
}

// ClusterInfo returns the fetched cluster with the draft's cluster id, if any.
func (d *Draft) ClusterInfo() (vmm.Cluster, bool) {
	return findCluster(d.Clusters, d.Cluster.ID)
}

// ApplyCheck takes what leaving Integration learned: the clusters for step 4, and the login itself,
// which the saved module keeps as its last check.
func (d *Draft) ApplyCheck(res *CheckResult) {
	d.SetClusters(res.Clusters)
	when := "added"
	if d.ID != 0 {
		when = "edited"
	}
	d.Checked = &store.Check{At: res.At, OK: true, Message: fmt.Sprintf(
		"logged in to %s as administrator %s when the module was %s", res.URL, strings.TrimSpace(d.Username), when)}
}

// SetClusters records the clusters a successful integration check fetched and drops a chosen cluster
// that is no longer among them (the admin went back and pointed at another VMmanager).
func (d *Draft) SetClusters(cs []vmm.Cluster) {
	d.Clusters = cs
	if _, ok := d.ClusterInfo(); !ok && d.Cluster.ID != 0 {
		d.Cluster = store.Cluster{}
		d.AdditionalInterface = false
	}
}

// ChooseCluster sets the cluster by id from the fetched list.
func (d *Draft) ChooseCluster(id uint64) error {
	c, ok := findCluster(d.Clusters, id)
	if !ok {
		return invalid("cluster", "must be one of the clusters VMmanager listed")
	}
	d.Cluster = StoreCluster(c)
	return nil
}

// StoreCluster is the part of a VMmanager cluster a module keeps.
func StoreCluster(c vmm.Cluster) store.Cluster {
	return store.Cluster{ID: uint64(c.ID), Name: c.Name, Virtualization: strings.ToLower(c.Virtualization)}
}

func findCluster(cs []vmm.Cluster, id uint64) (vmm.Cluster, bool) {
	for _, c := range cs {
		if uint64(c.ID) == id && id != 0 {
			return c, true
		}
	}
	return vmm.Cluster{}, false
}
