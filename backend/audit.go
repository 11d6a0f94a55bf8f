package backend

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"vmmpm/store"
	"vmmpm/wizard"
)

// How the audit trail names what a change was about.

// singular is a record kind's name in the trail: "datacenters" → "datacenter".
func singular(kind string) string { return strings.TrimSuffix(kind, "s") }

func kindName(r store.Record) string { return singular(string(r.Bucket())) }

func recordTarget(r store.Record) string {
	if r.GetID() == 0 {
		return kindName(r)
	}
	return fmt.Sprintf("%s %d", kindName(r), r.GetID())
}

func idList(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ", ")
}

func moduleTarget(d *wizard.Draft, m *store.Module) string {
	var id uint64
	switch {
	case m != nil:
		id = m.ID
	case d != nil:
		id = d.ID
	}
	if id == 0 {
		return "module"
	}
	return fmt.Sprintf("module %d", id)
}

// changedKeys is what a module change touches, without the values.
func changedKeys(ch *wizard.ModuleChanges) string {
	var m map[string]json.RawMessage
	if b, err := json.Marshal(ch); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

func orderTarget(tariff string, o *Ordered) string {
	if o == nil || len(o.Services) == 0 {
		return "tariff " + tariff
	}
	ids := make([]uint64, len(o.Services))
	for i, s := range o.Services {
		ids[i] = s.ID
	}
	return fmt.Sprintf("tariff %s: service %s", tariff, idList(ids))
}
