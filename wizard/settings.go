package wizard

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// Setting is one module setting, defined once: the wizard, the parameters screen, module edit and
// `module set` all take its label, help, default and rule from here.
type Setting struct {
	Key   string // as `module set` takes it
	Label string
	Help  string
	// Short is the help for one-line forms (the parameters screen); "" means Help.
	Short   string
	Default string // as typed; "" when the setting has no default
	// Live settings change what vmmpm logs in to or relies on in VMmanager: saving a change to one
	// logs in first (and fetches the clusters).
	Live bool
	set  func(e *Edit, v string) error
}

// Settings are every module setting `module set` accepts, in the wizard's order.
var Settings = []*Setting{
	{Key: "name", Label: "Name", Help: "Shown in BILLmanager's lists: 1–64 characters, unique among modules.",
		set: func(e *Edit, v string) error { e.Draft.Name = strings.TrimSpace(v); return nil }},
	{Key: "url", Label: "URL", Help: "Domain or public IP address of VMmanager 6; https:// is assumed.", Live: true,
		set: func(e *Edit, v string) error { e.Draft.URL = strings.TrimSpace(v); return ValidateURL(v) }},
	{Key: "username", Label: "Username", Help: "Email of the VMmanager 6 administrator: the first account created after installing it.", Live: true,
		set: func(e *Edit, v string) error { e.Draft.Username = strings.TrimSpace(v); return ValidateUsername(v) }},
	{Key: "insecure_tls", Label: "Skip TLS verification", Help: "Off by default. Only for a VMmanager whose self-signed certificate you trust.", Default: "off", Live: true,
		set: func(e *Edit, v string) (err error) {
			e.Draft.InsecureTLS, err = ParseSwitch("insecure_tls", v)
			return err
		}},
	{Key: "datacenter", Label: "Data center", Help: "The BILLmanager data center the module serves; one with an External Data Center id cannot be chosen.",
		set: func(e *Edit, v string) (err error) {
			e.Draft.DataCenterID, err = e.cat.ResolveDataCenter(ParseRef(v))
			return err
		}},
	{Key: "department", Label: "Department", Help: "Receives the tasks the module cannot finish on its own.",
		set: func(e *Edit, v string) (err error) {
			e.Draft.DepartmentID, err = e.cat.ResolveDepartment(ParseRef(v))
			return err
		}},
	{Key: "sort", Label: "Sort", Help: "0–9999 (empty is 0). When several modules serve a tariff, the lowest sort is tried first.", Default: "0",
		set: func(e *Edit, v string) (err error) { e.Draft.Sort, err = ParseSort(v); return err }},
	{Key: "cluster", Label: "Cluster", Help: "Where the VMs are created, live from VMmanager. One module serves one cluster.", Live: true,
		set: func(e *Edit, v string) error {
			if e.cluster = ParseRef(v); e.cluster.IsZero() {
				return invalid("cluster", "must be given, by name or id")
			}
			return nil
		}},
	{Key: "use_recipes", Label: "Use recipes", Help: "Run a recipe (a script) on new VMs after the OS is installed.", Default: "off",
		set: func(e *Edit, v string) (err error) {
			e.Draft.UseRecipes, err = ParseSwitch("use_recipes", v)
			return err
		}},
	{Key: "recipe_wait", Label: "With recipes, the service counts as active", Default: store.RecipeWaitOS,
		Help: "os: once the OS is installed; recipe: once the recipe has finished.",
		set: func(e *Edit, v string) error {
			e.Draft.RecipeWait = strings.TrimSpace(v)
			return ValidateRecipeWait(true, e.Draft.RecipeWait)
		}},
	{Key: "additional_interface", Label: "Additional network interface", Default: "off", Live: true,
		Help: "Gives each VM a second network interface; only where the cluster has an IP pool on one.",
		set: func(e *Edit, v string) (err error) {
			e.Draft.AdditionalInterface, err = ParseSwitch("additional_interface", v)
			return err
		}},
	{Key: "session_ttl", Label: "Session storage period (seconds)", Default: strconv.Itoa(store.DefaultTTL),
		Help:  "How long one VMmanager login is reused, 0–86400; 0 logs in for every operation.",
		Short: "seconds, 0–86400 (0 = log in every time)",
		set:   func(e *Edit, v string) (err error) { e.Draft.Params.SessionTTL, err = ParseSessionTTL(v); return err }},
	{Key: "queue", Label: "Start operations in a queue", Default: "off",
		Help:  "Off: operations start at once. On: operations with the same queue key run one after another.",
		Short: "space toggles",
		set:   func(e *Edit, v string) (err error) { e.Draft.Params.Queue, err = ParseSwitch("queue", v); return err }},
	{Key: "queue_key", Label: "Queue key", Default: store.DefaultParams().QueueKey,
		Help:  "Letters, digits, - _ . and the macros __TYPE__, __PMID__, __IID__.",
		Short: "letters, digits, - _ . and __TYPE__ __PMID__ __IID__",
		set:   func(e *Edit, v string) error { e.Draft.Params.QueueKey = v; return nil }},
	{Key: "queue_count", Label: "Number of queues", Default: "1",
		Help:  "Lanes per key name, 1–64: how many such operations may run at once.",
		Short: "1–64 lanes per key name",
		set:   func(e *Edit, v string) (err error) { e.Draft.Params.QueueCount, err = ParseQueueCount(v); return err }},
	{Key: "enabled", Label: "Enabled", Default: "on",
		Help: "Off: module selection no longer chooses it for new services; its services keep it.",
		set:  func(e *Edit, v string) (err error) { e.Draft.Enabled, err = ParseSwitch("enabled", v); return err }},
	{Key: "activation_limit", Label: "Simultaneous activation limit", Default: "0",
		Help: "How many opens may run at once on this module; 0 = no limit.",
		set: func(e *Edit, v string) (err error) {
			e.Draft.ActivationLimit, err = ParseActivationLimit(v)
			return err
		}},
	{Key: "reconcile_every", Label: "Reconcile every", Default: "6h",
		Help:  "How often vmmpm serve compares the module's cluster with vmmpm's records (vmmpm reconcile), e.g. 6h or 30m; 0 = off.",
		Short: "a duration (6h, 30m), 1m–720h; 0 = off",
		set: func(e *Edit, v string) (err error) {
			e.Draft.ReconcileEvery, err = ParseReconcileEvery(v)
			return err
		}},
}

// ParseReconcileEvery reads reconcile_every as typed and returns it as stored: "0" for off, else the
// duration in its shortest form ("6h", "90m").
func ParseReconcileEvery(v string) (string, error) {
	d, err := store.ParseReconcileEvery(v)
	if err != nil {
		return "", err
	}
	return FormatReconcileEvery(d), nil
}

// FormatReconcileEvery writes a reconcile interval the way a person types it: 0, 6h, 90m, 2h30m.
func FormatReconcileEvery(d time.Duration) string {
	h, m := d/time.Hour, d%time.Hour/time.Minute
	switch {
	case d == 0:
		return "0"
	case d%time.Minute != 0:
		return d.String()
	case m == 0:
		return strconv.Itoa(int(h)) + "h"
	case h == 0:
		return strconv.Itoa(int(m)) + "m"
	}
	return strconv.Itoa(int(h)) + "h" + strconv.Itoa(int(m)) + "m"
}

// Hint is the help for a one-line form.
func (s *Setting) Hint() string {
	if s.Short != "" {
		return s.Short
	}
	return s.Help
}

// SettingOf returns the setting with key k; it panics on a key that is not one, a programming error.
func SettingOf(k string) *Setting {
	i := slices.IndexFunc(Settings, func(s *Setting) bool { return s.Key == k })
	if i < 0 {
		panic("wizard: no setting " + k)
	}
	return Settings[i]
}

// SettableKeys are the keys `module set` accepts, in help order.
var SettableKeys = func() []string {
	out := make([]string, len(Settings))
	for i, s := range Settings {
		out[i] = s.Key
	}
	return out
}()

// Edit is a change to an existing module, parsed from key=value pairs: the draft it makes, and
// whether it needs a login to VMmanager before it can be saved.
type Edit struct {
	Draft *Draft
	// Live is set when a live setting changed: Check must run before Update.
	Live    bool
	cat     *Catalog
	cluster Ref
	before  store.Module
}

// DraftOf is the draft an edit of module m starts from: every field as stored, no password, and no
// cluster list (a live check fetches it again).
func DraftOf(m *store.Module) *Draft {
	d := NewDraft()
	d.ID, d.ProductType, d.Kind = m.ID, m.ProductType, m.Kind
	d.URL, d.Username, d.InsecureTLS = m.URL, m.Username, m.InsecureTLS
	d.DataCenterID, d.Name, d.DepartmentID, d.Sort = m.DataCenterID, m.Name, m.DepartmentID, m.Sort
	d.Cluster, d.UseRecipes, d.AdditionalInterface = m.Cluster, m.UseRecipes, m.AdditionalInterface
	if m.RecipeWait != "" {
		d.RecipeWait = m.RecipeWait
	}
	d.Params, d.Enabled, d.ActivationLimit, d.Checked = m.Params, m.Enabled, m.ActivationLimit, m.LastCheck
	d.ReconcileEvery = m.ReconcileEvery
	return d
}

// ParseSet applies key=value pairs to a draft of m with the wizard's rules; m itself never changes.
// Every pair is checked before the edit is returned, except what needs VMmanager (Edit.Live).
func (c *Catalog) ParseSet(m *store.Module, kv []string) (*Edit, error) {
	if len(kv) == 0 {
		return nil, invalid("key=value", "give at least one pair; keys: %s", strings.Join(SettableKeys, ", "))
	}
	e := &Edit{Draft: DraftOf(m), cat: c, before: *m}
	for _, pair := range kv {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, invalid(pair, "must be written key=value; keys: %s", strings.Join(SettableKeys, ", "))
		}
		k = strings.TrimSpace(k)
		i := slices.IndexFunc(Settings, func(s *Setting) bool { return s.Key == k })
		if i < 0 {
			return nil, invalid(k, "is not a key module set knows; use one of %s", strings.Join(SettableKeys, ", "))
		}
		if err := Settings[i].set(e, v); err != nil {
			return nil, err
		}
	}
	d := e.Draft
	e.Live = e.integrationChanged() || !e.cluster.IsZero() || (d.AdditionalInterface && !m.AdditionalInterface)
	if err := first(ValidateURL(d.URL), ValidateUsername(d.Username), c.validateLocal(d)); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Edit) integrationChanged() bool {
	url, err := vmm.NormalizeURL(e.Draft.URL)
	if err != nil {
		url = e.Draft.URL
	}
	return url != e.before.URL || strings.TrimSpace(e.Draft.Username) != e.before.Username ||
		e.Draft.InsecureTLS != e.before.InsecureTLS
}

// Resolve takes what a live check learned: the clusters, then the cluster the pairs asked for.
func (e *Edit) Resolve(res *CheckResult) error {
	e.Draft.ApplyCheck(res)
	e.Draft.URL = res.URL
	if e.cluster.IsZero() {
		if _, ok := e.Draft.ClusterInfo(); !ok {
			return invalid("cluster", "VMmanager at %s no longer lists cluster %q (id %d); choose one it lists with cluster=NAME",
				res.URL, e.before.Cluster.Name, e.before.Cluster.ID)
		}
		return nil
	}
	id, err := ResolveCluster(e.Draft.Clusters, e.cluster)
	if err != nil {
		return err
	}
	return e.Draft.ChooseCluster(id)
}

// Warnings are the edit's flags: a sort equal to another module's on its data center, when it moved.
func (e *Edit) Warnings() []string {
	d := e.Draft
	if d.Sort == e.before.Sort && d.DataCenterID == e.before.DataCenterID {
		return nil
	}
	return e.cat.Warnings(d)
}

// ParseSwitch reads on/off, true/false, yes/no or 1/0.
func ParseSwitch(field, v string) (bool, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	switch {
	case slices.Contains([]string{"on", "true", "yes", "1"}, s):
		return true, nil
	case slices.Contains([]string{"off", "false", "no", "0"}, s):
		return false, nil
	}
	return false, invalid(field, "must be on or off, not %q", v)
}
