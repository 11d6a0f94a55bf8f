package wizard

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
)

// Setting is one module setting, defined once: the wizard, the parameters screen, module edit and
// `module set` all take its label, help, default and rule from here, and its value crosses the wire
// typed, as its field of ModuleChanges.
type Setting struct {
	Key   string // as `module set` takes it, and its ModuleChanges field's JSON name
	Label string
	Help  string
	// Short is the help for one-line forms (the parameters screen); "" means Help.
	Short   string
	Default string // as typed; "" when the setting has no default
	// Live settings change what vmmpm logs in to or relies on in VMmanager: saving a change to one
	// logs in first (and fetches the clusters).
	Live  bool
	value value
}

// value is how a setting reads from text (`module set`, forms) into its typed change, and how a typed
// change applies to a draft (on the side holding the database).
type value struct {
	parse func(c *ModuleChanges, key, v string) error
	apply func(e *Edit, c *ModuleChanges) (set bool, err error)
}

// ModuleChanges are changes to a module's settings, typed: each field set (not nil) changes the setting
// of that JSON name, the others keep theirs. Data center, department and cluster go by id or name.
type ModuleChanges struct {
	Name                *string `json:"name,omitempty"`
	URL                 *string `json:"url,omitempty"`
	Username            *string `json:"username,omitempty"`
	InsecureTLS         *bool   `json:"insecure_tls,omitempty"`
	TLSPin              *string `json:"tls_pin,omitempty"`
	TLSCAFile           *string `json:"tls_ca_file,omitempty"`
	DataCenter          *Ref    `json:"datacenter,omitempty"`
	Department          *Ref    `json:"department,omitempty"`
	Sort                *int    `json:"sort,omitempty"`
	Cluster             *Ref    `json:"cluster,omitempty"`
	UseRecipes          *bool   `json:"use_recipes,omitempty"`
	RecipeWait          *string `json:"recipe_wait,omitempty"`
	AdditionalInterface *bool   `json:"additional_interface,omitempty"`
	SessionTTL          *int    `json:"session_ttl,omitempty"`
	Queue               *bool   `json:"queue,omitempty"`
	QueueKey            *string `json:"queue_key,omitempty"`
	QueueCount          *int    `json:"queue_count,omitempty"`
	Enabled             *bool   `json:"enabled,omitempty"`
	ActivationLimit     *int    `json:"activation_limit,omitempty"`
	ReconcileEvery      *string `json:"reconcile_every,omitempty"`
	CapacityWarn        *int    `json:"capacity_warn,omitempty"`
	AttemptTimeout      *string `json:"attempt_timeout,omitempty"`
}

// text is a setting typed as text; set checks and applies it.
func text(field func(*ModuleChanges) **string, set func(e *Edit, v string) error) value {
	return typed(field, func(_, v string) (string, error) { return v, nil }, set)
}

// number is a whole-number setting read by parse, which also holds its range.
func number(field func(*ModuleChanges) **int, parse func(string) (int, error), set func(d *Draft, n int)) value {
	return typed(field, func(_, v string) (int, error) { return parse(v) },
		func(e *Edit, n int) error { set(e.Draft, n); return nil })
}

// onOff is a switch setting.
func onOff(field func(*ModuleChanges) **bool, set func(d *Draft, on bool)) value {
	return typed(field, ParseSwitch, func(e *Edit, on bool) error { set(e.Draft, on); return nil })
}

// ref is a record named by id or name.
func ref(field func(*ModuleChanges) **Ref, set func(e *Edit, r Ref) error) value {
	return typed(field, func(_, v string) (Ref, error) { return ParseRef(v), nil }, set)
}

// typed ties a setting's field of ModuleChanges to its text form and to its effect on a draft.
func typed[T any](field func(*ModuleChanges) **T, parse func(key, v string) (T, error), set func(e *Edit, v T) error) value {
	return value{
		parse: func(c *ModuleChanges, key, v string) error {
			t, err := parse(key, v)
			if err != nil {
				return err
			}
			*field(c) = &t
			return nil
		},
		apply: func(e *Edit, c *ModuleChanges) (bool, error) {
			p := *field(c)
			if p == nil {
				return false, nil
			}
			return true, set(e, *p)
		},
	}
}

// Settings are every module setting `module set` accepts, in the wizard's order.
var Settings = []*Setting{
	{Key: "name", Label: "Name", Help: "Shown in BILLmanager's lists: 1–64 characters, unique among modules.",
		value: text(func(c *ModuleChanges) **string { return &c.Name },
			func(e *Edit, v string) error { e.Draft.Name = strings.TrimSpace(v); return nil })},
	{Key: "url", Label: "URL", Help: "Domain or public IP address of VMmanager 6; https:// is assumed.", Live: true,
		value: text(func(c *ModuleChanges) **string { return &c.URL },
			func(e *Edit, v string) error { e.Draft.URL = strings.TrimSpace(v); return ValidateURL(v) })},
	{Key: "username", Label: "Username", Help: "Email of the VMmanager 6 administrator: the first account created after installing it.", Live: true,
		value: text(func(c *ModuleChanges) **string { return &c.Username },
			func(e *Edit, v string) error { e.Draft.Username = strings.TrimSpace(v); return ValidateUsername(v) })},
	{Key: "insecure_tls", Label: "Skip TLS verification", Help: "Off by default. Only for a VMmanager whose self-signed certificate you trust.", Default: "off", Live: true,
		value: onOff(func(c *ModuleChanges) **bool { return &c.InsecureTLS }, func(d *Draft, on bool) { d.InsecureTLS = on })},
	{Key: "tls_pin", Label: "Trusted certificate (SHA-256)", Live: true,
		Help:  "The SHA-256 fingerprint of the one certificate to accept from VMmanager, whoever signed it (64 hex digits, colons allowed); checked on every connection. Empty: none.",
		Short: "64 hex digits, colons allowed; empty = none",
		value: typed(func(c *ModuleChanges) **string { return &c.TLSPin }, func(_, v string) (string, error) { return ParsePin(v) },
			func(e *Edit, v string) error { pin, err := ParsePin(v); e.Draft.TrustPin(pin); return err })},
	{Key: "tls_ca_file", Label: "CA file", Live: true,
		Help:  "A PEM file of the CA certificates VMmanager's certificate is verified against, read at every connection. Empty: the system's.",
		Short: "path of a PEM file; empty = the system's CAs",
		value: text(func(c *ModuleChanges) **string { return &c.TLSCAFile }, func(e *Edit, v string) error {
			e.Draft.TrustCAFile(v)
			return ValidateCAFile(v)
		})},
	{Key: "datacenter", Label: "Data center", Help: "The BILLmanager data center the module serves; one with an External Data Center id cannot be chosen.",
		value: ref(func(c *ModuleChanges) **Ref { return &c.DataCenter },
			func(e *Edit, r Ref) (err error) { e.Draft.DataCenterID, err = e.cat.ResolveDataCenter(r); return err })},
	{Key: "department", Label: "Department", Help: "Receives the tasks the module cannot finish on its own.",
		value: ref(func(c *ModuleChanges) **Ref { return &c.Department },
			func(e *Edit, r Ref) (err error) { e.Draft.DepartmentID, err = e.cat.ResolveDepartment(r); return err })},
	{Key: "sort", Label: "Sort", Help: "0–9999 (empty is 0). When several modules serve a tariff, the lowest sort is tried first.", Default: "0",
		value: number(func(c *ModuleChanges) **int { return &c.Sort }, ParseSort, func(d *Draft, n int) { d.Sort = n })},
	{Key: "cluster", Label: "Cluster", Help: "Where the VMs are created, live from VMmanager. One module serves one cluster.", Live: true,
		value: ref(func(c *ModuleChanges) **Ref { return &c.Cluster }, func(e *Edit, r Ref) error {
			if e.cluster = r; r.IsZero() {
				return invalid("cluster", "must be given, by name or id")
			}
			return nil
		})},
	{Key: "use_recipes", Label: "Use recipes", Help: "Run a recipe (a script) on new VMs after the OS is installed.", Default: "off",
		value: onOff(func(c *ModuleChanges) **bool { return &c.UseRecipes }, func(d *Draft, on bool) { d.UseRecipes = on })},
	{Key: "recipe_wait", Label: "With recipes, the service counts as active", Default: store.RecipeWaitOS,
		Help: "os: once the OS is installed; recipe: once the recipe has finished.",
		value: text(func(c *ModuleChanges) **string { return &c.RecipeWait }, func(e *Edit, v string) error {
			e.Draft.RecipeWait = strings.TrimSpace(v)
			return ValidateRecipeWait(true, e.Draft.RecipeWait)
		})},
	{Key: "additional_interface", Label: "Additional network interface", Default: "off", Live: true,
		Help:  "Gives each VM a second network interface; only where the cluster has an IP pool on one.",
		value: onOff(func(c *ModuleChanges) **bool { return &c.AdditionalInterface }, func(d *Draft, on bool) { d.AdditionalInterface = on })},
	{Key: "session_ttl", Label: "Session storage period (seconds)", Default: strconv.Itoa(store.DefaultTTL),
		Help:  "How long one VMmanager login is reused, 0–86400; 0 logs in for every operation.",
		Short: "seconds, 0–86400 (0 = log in every time)",
		value: number(func(c *ModuleChanges) **int { return &c.SessionTTL }, ParseSessionTTL, func(d *Draft, n int) { d.Params.SessionTTL = n })},
	{Key: "queue", Label: "Start operations in a queue", Default: "off",
		Help:  "Off: operations start at once. On: operations with the same queue key run one after another.",
		Short: "space toggles",
		value: onOff(func(c *ModuleChanges) **bool { return &c.Queue }, func(d *Draft, on bool) { d.Params.Queue = on })},
	{Key: "queue_key", Label: "Queue key", Default: store.DefaultParams().QueueKey,
		Help:  "Letters, digits, - _ . and the macros __TYPE__, __PMID__, __IID__.",
		Short: "letters, digits, - _ . and __TYPE__ __PMID__ __IID__",
		value: text(func(c *ModuleChanges) **string { return &c.QueueKey }, func(e *Edit, v string) error { e.Draft.Params.QueueKey = v; return nil })},
	{Key: "queue_count", Label: "Number of queues", Default: "1",
		Help:  "Lanes per key name, 1–64: how many such operations may run at once.",
		Short: "1–64 lanes per key name",
		value: number(func(c *ModuleChanges) **int { return &c.QueueCount }, ParseQueueCount, func(d *Draft, n int) { d.Params.QueueCount = n })},
	{Key: "enabled", Label: "Enabled", Default: "on",
		Help:  "Off: module selection no longer chooses it for new services; its services keep it.",
		value: onOff(func(c *ModuleChanges) **bool { return &c.Enabled }, func(d *Draft, on bool) { d.Enabled = on })},
	{Key: "activation_limit", Label: "Simultaneous activation limit", Default: "0",
		Help:  "How many opens may run at once on this module; 0 = no limit.",
		value: number(func(c *ModuleChanges) **int { return &c.ActivationLimit }, ParseActivationLimit, func(d *Draft, n int) { d.ActivationLimit = n })},
	{Key: "capacity_warn", Label: "Capacity warning (% free)", Default: strconv.Itoa(store.DefaultCapacityWarn),
		Help:  "Below this share free of a pool's IPv4 addresses or of the cluster's CPU, RAM or disk, the Modules and Lanes screens and vmmpm stats warn; 0–100, 0 = never.",
		Short: "percent free, 0–100 (0 = never warn)",
		value: number(func(c *ModuleChanges) **int { return &c.CapacityWarn }, ParseCapacityWarn, func(d *Draft, n int) { d.CapacityWarn = n })},
	{Key: "reconcile_every", Label: "Reconcile every", Default: "6h",
		Help:  "How often vmmpm serve compares the module's cluster with vmmpm's records (vmmpm reconcile), e.g. 6h or 30m; 0 = off.",
		Short: "a duration (6h, 30m), 1m–720h; 0 = off",
		value: text(func(c *ModuleChanges) **string { return &c.ReconcileEvery }, func(e *Edit, v string) (err error) {
			e.Draft.ReconcileEvery, err = ParseReconcileEvery(v)
			return err
		})},
	{Key: "attempt_timeout", Label: "Attempt time limits",
		Help:  "How long one attempt of an operation may run before it counts as failed, per operation: open=30m,reinstall=1h adds to the limits set; open= drops one; empty keeps the engine's 30m for all.",
		Short: "op=duration pairs (open=30m); op= drops one",
		value: text(func(c *ModuleChanges) **string { return &c.AttemptTimeout }, func(e *Edit, v string) (err error) {
			e.Draft.AttemptTimeout, err = mergeAttemptTimeouts(e.Draft.AttemptTimeout, v)
			return err
		})},
}

// mergeAttemptTimeouts lays the pairs typed over the limits kept: "op=" drops op's limit.
func mergeAttemptTimeouts(kept, typed string) (string, error) {
	limits, err := store.ParseAttemptTimeouts(kept)
	if err != nil {
		limits = map[string]time.Duration{} // a damaged value is replaced, not kept
	}
	var set []string
	for pair := range strings.SplitSeq(typed, ",") {
		if op, v, _ := strings.Cut(strings.TrimSpace(pair), "="); strings.TrimSpace(v) == "" {
			delete(limits, strings.TrimSpace(op))
		} else {
			set = append(set, pair)
		}
	}
	add, err := store.ParseAttemptTimeouts(strings.Join(set, ","))
	if err != nil {
		return "", err
	}
	maps.Copy(limits, add)
	return store.FormatAttemptTimeouts(limits), nil
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
	d.TLSPin, d.TLSCAFile = m.TLSPin, m.TLSCAFile
	d.DataCenterID, d.Name, d.DepartmentID, d.Sort = m.DataCenterID, m.Name, m.DepartmentID, m.Sort
	d.Cluster, d.UseRecipes, d.AdditionalInterface = m.Cluster, m.UseRecipes, m.AdditionalInterface
	if m.RecipeWait != "" {
		d.RecipeWait = m.RecipeWait
	}
	d.Params, d.Enabled, d.ActivationLimit, d.Checked = m.Params, m.Enabled, m.ActivationLimit, m.LastCheck
	d.ReconcileEvery, d.AttemptTimeout = m.ReconcileEvery, m.AttemptTimeout
	d.CapacityWarn = m.CapacityWarnPercent()
	return d
}

// ParseChanges reads `module set`'s key=value pairs (and forms' text) into typed changes, refusing
// a pair that is not one or a value its setting cannot take; what needs the database (names of
// records, unique names) is checked by ApplyChanges.
func ParseChanges(kv []string) (*ModuleChanges, error) {
	if len(kv) == 0 {
		return nil, invalid("key=value", "give at least one pair; keys: %s", strings.Join(SettableKeys, ", "))
	}
	c := &ModuleChanges{}
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
		if err := Settings[i].value.parse(c, k, v); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ParseSet is ParseChanges then ApplyChanges: key=value pairs onto a draft of m.
func (c *Catalog) ParseSet(m *store.Module, kv []string) (*Edit, error) {
	ch, err := ParseChanges(kv)
	if err != nil {
		return nil, err
	}
	return c.ApplyChanges(m, ch)
}

// ApplyChanges applies typed changes to a draft of m with the wizard's rules; m itself never changes.
// Every change is checked before the edit is returned, except what needs VMmanager (Edit.Live).
func (c *Catalog) ApplyChanges(m *store.Module, ch *ModuleChanges) (*Edit, error) {
	if ch == nil {
		ch = &ModuleChanges{}
	}
	e := &Edit{Draft: DraftOf(m), cat: c, before: *m}
	changed := false
	for _, s := range Settings {
		set, err := s.value.apply(e, ch)
		if err != nil {
			return nil, err
		}
		changed = changed || set
	}
	if !changed {
		return nil, invalid("changes", "give at least one setting to change; keys: %s", strings.Join(SettableKeys, ", "))
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
		e.Draft.InsecureTLS != e.before.InsecureTLS || e.Draft.TLSPin != e.before.TLSPin || e.Draft.TLSCAFile != e.before.TLSCAFile
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
