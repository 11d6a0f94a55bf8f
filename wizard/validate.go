package wizard

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"vmmpm/store"
	"vmmpm/vmm"
)

// Every refusal is a *store.ValidationError naming the field and the rule; commands map it to exit 2.
func invalid(field, format string, args ...any) error {
	return &store.ValidationError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// normChoice folds "VMmanager 6", "vmmanager6" and "VPS" to the stored spelling.
func normChoice(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), ""))
}

// ValidateProductType is step 1: only VPS is offered.
func ValidateProductType(s string) error {
	if normChoice(s) != store.ProductVPS {
		return invalid("product_type", "must be %q (VPS); no other product type is served by VMmanager 6", store.ProductVPS)
	}
	return nil
}

// ValidateKind is step 2: only the VMmanager 6 processing module is offered.
func ValidateKind(s string) error {
	if normChoice(s) != store.KindVMmanager6 {
		return invalid("module", "must be %q (VMmanager 6)", store.KindVMmanager6)
	}
	return nil
}

// ValidateURL accepts what vmm.NormalizeURL accepts: a host or IP, optionally with scheme and port.
func ValidateURL(s string) error {
	if _, err := vmm.NormalizeURL(s); err != nil {
		return invalid("url", "must be the domain or address of VMmanager 6, like vmm.example.com or https://10.0.0.5:8443 (%s)", strings.TrimSuffix(err.Error(), "."))
	}
	return nil
}

// ParsePin reads tls_pin: the SHA-256 fingerprint of the one certificate to trust, 64 hex digits
// (colons and case as you like), stored as openssl prints it; empty is no pin.
func ParsePin(s string) (string, error) {
	pin, err := vmm.ParsePin(s)
	if err != nil {
		return "", invalid("tls_pin", "must be the certificate's SHA-256 fingerprint, 64 hex digits (colons allowed), as the wizard or openssl x509 -noout -fingerprint -sha256 shows it")
	}
	return pin, nil
}

// ValidateCAFile wants tls_ca_file to be a readable PEM file of at least one certificate (empty: none).
func ValidateCAFile(path string) error {
	if strings.TrimSpace(path) == "" {
		return nil
	}
	if _, err := vmm.LoadCAFile(strings.TrimSpace(path)); err != nil {
		return invalid("tls_ca_file", "must be a readable PEM file of CA certificates: %s", strings.TrimSuffix(err.Error(), "."))
	}
	return nil
}

// validateTLS checks the integration's TLS choices before any request.
func validateTLS(pin, caFile string) error {
	_, err := ParsePin(pin)
	return first(err, ValidateCAFile(caFile))
}

// ValidateUsername wants the VMmanager administrator's email, the account created first after install.
func ValidateUsername(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return invalid("username", "must not be empty: give the VMmanager 6 administrator's email")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return invalid("username", "must be an email address such as admin@example.com, the VMmanager 6 administrator's login")
	}
	return nil
}

// ValidatePassword only refuses what cannot be a password: nothing, or a line break (stdin gives one line).
func ValidatePassword(s string) error {
	if s == "" {
		return invalid("password", "must not be empty")
	}
	if strings.ContainsAny(s, "\r\n") {
		return invalid("password", "must be a single line")
	}
	return nil
}

// ValidateDataCenter: it must exist and have no External Data Center id (spec §3, BILLmanager's rule).
func (c *Catalog) ValidateDataCenter(id uint64) error {
	if id == 0 {
		return invalid("datacenter", "must be chosen")
	}
	d := c.DataCenter(id)
	if d == nil {
		return invalid("datacenter", "must be an existing data center; %d is not one", id)
	}
	if d.ExternalID != "" {
		return invalid("datacenter", "must have no External Data Center id: %s", externalIDReason(d))
	}
	return nil
}

// ValidateDepartment: the department that will receive the module's tasks must exist.
func (c *Catalog) ValidateDepartment(id uint64) error {
	if id == 0 {
		return invalid("department", "must be chosen")
	}
	if c.Department(id) == nil {
		return invalid("department", "must be an existing department; %d is not one", id)
	}
	return nil
}

// ValidateName: 1–64 characters, no control characters, unique among modules (ignoring case and
// surrounding spaces, so two modules cannot look alike in a list). self is the module being edited.
func (c *Catalog) ValidateName(name string, self uint64) error {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return invalid("name", "must not be empty")
	case utf8.RuneCountInString(n) > store.MaxNameLen:
		return invalid("name", "must be at most %d characters, not %d", store.MaxNameLen, utf8.RuneCountInString(n))
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return invalid("name", "must not contain control characters")
	}
	for _, m := range c.Modules {
		if m.ID != self && strings.EqualFold(strings.TrimSpace(m.Name), n) {
			return invalid("name", "must be unique: module %d is already called %q", m.ID, m.Name)
		}
	}
	return nil
}

// ValidateSort: an integer 0–9999; lower is tried first.
func ValidateSort(n int) error {
	if n < 0 || n > store.MaxSort {
		return invalid("sort", "must be between 0 and %d, not %d", store.MaxSort, n)
	}
	return nil
}

// ParseSort reads the sort field as typed; empty means 0.
func ParseSort(s string) (int, error) { return parseValid("sort", s, 0, ValidateSort) }

// parseValid reads a number field as typed (empty is empty) and checks it with valid.
func parseValid(field, s string, empty int, valid func(int) error) (int, error) {
	n, err := parseInt(field, s, empty)
	if err != nil {
		return 0, err
	}
	return n, valid(n)
}

// ValidateSortText is ParseSort for a form field's Validate hook.
func ValidateSortText(s string) error { _, err := ParseSort(s); return err }

func parseInt(field, s string, empty int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return empty, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, invalid(field, "must be a whole number in range, not %q", s)
		}
		return 0, invalid(field, "must be a whole number, not %q", s)
	}
	return n, nil
}

// SortWarning flags, without refusing, a sort another module on the same data center already uses:
// BILLmanager then falls back to the lower id, which is rarely what the admin meant.
func (c *Catalog) SortWarning(sort int, dc, self uint64) string {
	var same []string
	for _, m := range c.Modules {
		if m.ID != self && m.DataCenterID == dc && m.Sort == sort {
			same = append(same, fmt.Sprintf("%q (id %d)", m.Name, m.ID))
		}
	}
	if len(same) == 0 || dc == 0 {
		return ""
	}
	return fmt.Sprintf("sort %d is also used by module %s on this data center; between equal sorts the lower id is tried first", sort, strings.Join(same, ", "))
}

// ValidateCluster: the cluster must be one VMmanager listed at the integration check.
func ValidateCluster(cs []vmm.Cluster, id uint64) error {
	if len(cs) == 0 {
		return invalid("cluster", "must be chosen from VMmanager's clusters, and VMmanager listed none (check step 3 first)")
	}
	if id == 0 {
		return invalid("cluster", "must be chosen")
	}
	if _, ok := findCluster(cs, id); !ok {
		return invalid("cluster", "must be one of the clusters VMmanager listed; %d is not one", id)
	}
	return nil
}

// ResolveCluster finds a fetched cluster by name or id.
func ResolveCluster(cs []vmm.Cluster, ref Ref) (uint64, error) {
	if ref.IsZero() {
		return 0, invalid("cluster", "must be given, by name or id")
	}
	c, ok := match(cs, ref, func(c vmm.Cluster) uint64 { return uint64(c.ID) }, func(c vmm.Cluster) string { return c.Name })
	if !ok {
		names := make([]string, 0, len(cs))
		for _, c := range cs {
			names = append(names, fmt.Sprintf("%q (id %d)", c.Name, c.ID))
		}
		return 0, invalid("cluster", "must be one of VMmanager's clusters: %s; there is none called %s", strings.Join(names, ", "), ref)
	}
	return uint64(c.ID), nil
}

// ClusterChoices lists the fetched clusters with their virtualization, e.g. "kvm-main (KVM)".
func ClusterChoices(cs []vmm.Cluster) []Choice {
	out := make([]Choice, 0, len(cs))
	for _, c := range cs {
		out = append(out, Choice{ID: uint64(c.ID), Label: fmt.Sprintf("%s (%s)", c.Name, strings.ToUpper(c.Virtualization)), Selectable: true})
	}
	return out
}

// AdditionalInterface reports whether the chosen cluster can give a VM a second network interface,
// and if not, why: it needs an IP pool on an interface other than the main one (index ≥ 1).
func AdditionalInterface(cs []vmm.Cluster, id uint64) (ok bool, reason string) {
	c, found := findCluster(cs, id)
	switch {
	case !found:
		return false, "choose a cluster first: the switch depends on the cluster's network interfaces"
	case !c.HasAdditionalInterface():
		return false, fmt.Sprintf("cluster %q has no IP pool on an additional network interface (index 1 or higher), only on the main one", c.Name)
	}
	return true, fmt.Sprintf("cluster %q has an IP pool on an additional network interface", c.Name)
}

// ValidateAdditionalInterface refuses the switch on a cluster that cannot honour it.
func ValidateAdditionalInterface(cs []vmm.Cluster, id uint64, on bool) error {
	if !on {
		return nil
	}
	if ok, reason := AdditionalInterface(cs, id); !ok {
		return invalid("additional_interface", "can only be on for a cluster with a second interface: %s", reason)
	}
	return nil
}

// ValidateRecipeWait: with recipes on, the service counts as active after the OS ("os") or after the
// recipe ("recipe"); with recipes off the value is ignored.
func ValidateRecipeWait(useRecipes bool, s string) error {
	if !useRecipes || s == store.RecipeWaitOS || s == store.RecipeWaitRecipe {
		return nil
	}
	return invalid("recipe_wait", "must be %q (active once the OS is installed) or %q (once the recipe has run), not %q", store.RecipeWaitOS, store.RecipeWaitRecipe, s)
}

// ValidateStep checks one step's fields of d. Step 3's password is checked by ValidatePassword and its
// live login by CheckIntegration; step 5 is everything at once.
func (c *Catalog) ValidateStep(s Step, d *Draft) error {
	switch s {
	case StepProductType:
		return ValidateProductType(d.ProductType)
	case StepModule:
		return ValidateKind(d.Kind)
	case StepIntegration:
		return first(ValidateURL(d.URL), ValidateUsername(d.Username), validateTLS(d.TLSPin, d.TLSCAFile))
	case StepParams:
		return first(c.validateLocal(d),
			ValidateCluster(d.Clusters, d.Cluster.ID),
			ValidateAdditionalInterface(d.Clusters, d.Cluster.ID, d.AdditionalInterface))
	case StepReview:
		return c.Validate(d)
	}
	return invalid("step", "no step %d", int(s))
}

// validateLocal is step 4 without the parts that need VMmanager's cluster list.
func (c *Catalog) validateLocal(d *Draft) error {
	return first(c.ValidateDataCenter(d.DataCenterID), c.ValidateName(d.Name, d.ID),
		c.ValidateDepartment(d.DepartmentID), ValidateSort(d.Sort),
		ValidateRecipeWait(d.UseRecipes, d.RecipeWait), ValidateParams(d.Params),
		validateActivationLimit(d.ActivationLimit))
}

// ValidateOffline is everything that can be checked before logging in to VMmanager, so a spec with a
// bad data center is refused without touching the network.
func (c *Catalog) ValidateOffline(d *Draft) error {
	for _, s := range []Step{StepProductType, StepModule, StepIntegration} {
		if err := c.ValidateStep(s, d); err != nil {
			return err
		}
	}
	return c.validateLocal(d)
}

// Validate checks every step, then the record as a whole.
func (c *Catalog) Validate(d *Draft) error {
	for _, s := range []Step{StepProductType, StepModule, StepIntegration, StepParams} {
		if err := c.ValidateStep(s, d); err != nil {
			return err
		}
	}
	return d.Module().Validate()
}

// Warnings are allowed but flagged: today only a duplicate sort on the same data center.
func (c *Catalog) Warnings(d *Draft) []string {
	if w := c.SortWarning(d.Sort, d.DataCenterID, d.ID); w != "" {
		return []string{w}
	}
	return nil
}

// ParseActivationLimit reads the field as typed; empty means 0, no limit.
func ParseActivationLimit(s string) (int, error) {
	return parseValid("activation_limit", s, 0, validateActivationLimit)
}

// ValidateActivationLimitText is ParseActivationLimit for a form field's Validate hook.
func ValidateActivationLimitText(s string) error { _, err := ParseActivationLimit(s); return err }

// ParseCapacityWarn reads the capacity warning threshold as typed; empty means the default.
func ParseCapacityWarn(s string) (int, error) {
	return parseValid("capacity_warn", s, store.DefaultCapacityWarn, func(n int) error {
		if n < 0 || n > 100 {
			return invalid("capacity_warn", "must be a percentage between 0 (never warn) and 100, not %d", n)
		}
		return nil
	})
}

func validateActivationLimit(n int) error {
	if n < 0 || n > store.MaxActivationCap {
		return invalid("activation_limit", "must be between 0 (no limit) and %d, not %d", store.MaxActivationCap, n)
	}
	return nil
}

func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
