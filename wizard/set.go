package wizard

import (
	"slices"
	"strings"

	"vmmpm/store"
)

// SettableKeys are the keys `module set` accepts, in help order.
var SettableKeys = []string{"session_ttl", "queue", "queue_key", "queue_count", "activation_limit",
	"enabled", "insecure_tls", "name", "sort", "department"}

// ApplySet applies key=value pairs to m with the wizard's rules. All pairs are checked before m changes:
// on any refusal m is untouched. The warnings are the wizard's flags (a duplicate sort).
func ApplySet(cat *Catalog, m *store.Module, kv []string) (warnings []string, err error) {
	if len(kv) == 0 {
		return nil, invalid("key=value", "give at least one pair; keys: %s", strings.Join(SettableKeys, ", "))
	}
	next := *m
	for _, pair := range kv {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, invalid(pair, "must be written key=value; keys: %s", strings.Join(SettableKeys, ", "))
		}
		if err := setOne(cat, &next, strings.TrimSpace(k), v); err != nil {
			return nil, err
		}
	}
	if err := first(ValidateParams(next.Params), cat.ValidateName(next.Name, next.ID),
		ValidateSort(next.Sort), cat.ValidateDepartment(next.DepartmentID),
		validateActivationLimit(next.ActivationLimit), next.Validate()); err != nil {
		return nil, err
	}
	if next.Sort != m.Sort || next.DataCenterID != m.DataCenterID {
		if w := cat.SortWarning(next.Sort, next.DataCenterID, next.ID); w != "" {
			warnings = append(warnings, w)
		}
	}
	*m = next
	return warnings, nil
}

func setOne(cat *Catalog, m *store.Module, k, v string) (err error) {
	switch k {
	case "session_ttl":
		m.Params.SessionTTL, err = parseInt(k, v, store.DefaultTTL)
	case "queue":
		m.Params.Queue, err = ParseSwitch(k, v)
	case "queue_key":
		m.Params.QueueKey = v
	case "queue_count":
		m.Params.QueueCount, err = parseInt(k, v, 1)
	case "activation_limit":
		m.ActivationLimit, err = parseInt(k, v, 0)
	case "enabled":
		m.Enabled, err = ParseSwitch(k, v)
	case "insecure_tls":
		m.InsecureTLS, err = ParseSwitch(k, v)
	case "name":
		m.Name = strings.TrimSpace(v)
	case "sort":
		m.Sort, err = parseInt(k, v, 0)
	case "department":
		m.DepartmentID, err = cat.ResolveDepartment(ParseRef(v))
	default:
		return invalid(k, "is not a key module set knows; use one of %s", strings.Join(SettableKeys, ", "))
	}
	return err
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
