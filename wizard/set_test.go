package wizard

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"vmmpm/store"
)

// applySet is ParseSet applied to m, for the settings that need no VMmanager.
func applySet(cat *Catalog, m *store.Module, kv []string) ([]string, error) {
	e, err := cat.ParseSet(m, kv)
	if err != nil {
		return nil, err
	}
	*m = *e.Draft.Module()
	return e.Warnings(), nil
}

func setModule() *store.Module {
	d := validDraft()
	m := d.Module()
	m.ID = 7
	return m
}

func TestParseSetAccepts(t *testing.T) {
	cat := testCatalog()
	m := setModule()
	w, err := applySet(cat, m, []string{"queue=on", "queue_key=vmm-__PMID__-__TYPE__", "queue_count=3", "session_ttl=600",
		"activation_limit=2", "enabled=off", "insecure_tls=yes", "name= KVM renamed ", "sort=25", "department=Sales"})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Params{SessionTTL: 600, Queue: true, QueueKey: "vmm-__PMID__-__TYPE__", QueueCount: 3}
	if m.Params != want || m.ActivationLimit != 2 || m.Enabled || !m.InsecureTLS || m.Name != "KVM renamed" ||
		m.Sort != 25 || m.DepartmentID != 2 || len(w) != 0 {
		t.Fatalf("module after set: %+v warnings %v", m, w)
	}
	if _, err := applySet(cat, m, []string{"department=1"}); err != nil || m.DepartmentID != 1 {
		t.Fatalf("department by id: %v %d", err, m.DepartmentID)
	}
	if w, _ := applySet(cat, m, []string{"sort=10"}); len(w) != 1 {
		t.Fatalf("sort 10 is taken by module 5 on data center 1: want one warning, got %v", w)
	}
}

func TestParseSetRefusesAndKeepsModule(t *testing.T) {
	cat := testCatalog()
	for _, c := range []struct {
		kv          []string
		field, frag string
	}{
		{[]string{"queue_key=bad key!"}, "queue_key", "at position 4"},
		{[]string{"queue_key=__NOPE__"}, "queue_key", "unknown macro"},
		{[]string{"queue=on", "queue_key="}, "queue_key", "empty"},
		{[]string{"queue=maybe"}, "queue", "on or off"},
		{[]string{"queue_count=0"}, "queue_count", "between 1 and 64"},
		{[]string{"queue_count=65"}, "queue_count", "between 1 and 64"},
		{[]string{"session_ttl=86401"}, "session_ttl", "between 0 and 86400"},
		{[]string{"session_ttl=-5"}, "session_ttl", "between 0 and 86400"},
		{[]string{"activation_limit=-1"}, "activation_limit", "between 0"},
		{[]string{"enabled=2"}, "enabled", "on or off"},
		{[]string{"insecure_tls=perhaps"}, "insecure_tls", "on or off"},
		{[]string{"name="}, "name", "empty"},
		{[]string{"name=KVM one"}, "name", "unique"},
		{[]string{"sort=10000"}, "sort", "between 0 and 9999"},
		{[]string{"department=Nobody"}, "department", "existing"},
		{[]string{"password=x"}, "password", "not a key"},
		{[]string{"url="}, "url", "empty"},
		{[]string{"cluster= "}, "cluster", "must be given"},
		{[]string{"recipe_wait=later"}, "recipe_wait", "not \"later\""},
		{[]string{"datacenter=Partner DC"}, "datacenter", "External"},
		{[]string{"use_recipes=sometimes"}, "use_recipes", "on or off"},
		{[]string{"queue"}, "queue", "key=value"},
		{nil, "key=value", "at least one"},
		{[]string{"session_ttl=600", "queue_count=0"}, "queue_count", ""}, // the valid pair is not kept either
	} {
		m := setModule()
		before := *m
		_, err := applySet(cat, m, c.kv)
		wantRule(t, err, c.field, c.frag)
		if *m != before {
			t.Fatalf("%v: the module changed although the set was refused", c.kv)
		}
	}
}

// FuzzParseSet: whatever `module set` is given, it either refuses and leaves the module as it was, or
// leaves a module that passes every rule.
func FuzzParseSet(f *testing.F) {
	for _, s := range []string{"queue=on", "queue_key=bad key!", "queue_key=__NOPE__", "queue_count=3", "name=x", "sort=-1", "department=Sales", "enabled", "=", "session_ttl=86401"} {
		f.Add(s, "queue_key=vmm6-__PMID__")
	}
	cat := testCatalog()
	f.Fuzz(func(t *testing.T, a, b string) {
		m := setModule()
		before := *m
		_, err := applySet(cat, m, []string{a, b})
		if err != nil {
			if *m != before {
				t.Fatalf("refused %q %q but changed the module", a, b)
			}
			return
		}
		if err := first(m.Validate(), ValidateParams(m.Params), cat.ValidateName(m.Name, m.ID)); err != nil {
			t.Fatalf("accepted %q %q into an invalid module: %v", a, b, err)
		}
	})
}

// TestParseSetLive: what changes the login, the cluster or needs its pools is live; the rest is not.
func TestParseSetLive(t *testing.T) {
	cat := testCatalog()
	for _, c := range []struct {
		kv   []string
		live bool
	}{
		{[]string{"name=KVM three", "sort=40", "use_recipes=on", "recipe_wait=recipe", "datacenter=Moscow"}, false},
		{[]string{"url=vmm.example.com"}, false}, // the same URL once normalised
		{[]string{"additional_interface=off"}, false},
		{[]string{"url=other.example.com"}, true},
		{[]string{"username=root@example.com"}, true},
		{[]string{"insecure_tls=on"}, true},
		{[]string{"cluster=kvm-main"}, true},
	} {
		m := setModule()
		m.AdditionalInterface = false
		e, err := cat.ParseSet(m, c.kv)
		if err != nil {
			t.Fatalf("%v: %v", c.kv, err)
		}
		if e.Live != c.live {
			t.Errorf("%v: live %v, want %v", c.kv, e.Live, c.live)
		}
	}
	m := setModule()
	m.AdditionalInterface = false
	if e, _ := cat.ParseSet(m, []string{"additional_interface=on"}); e == nil || !e.Live {
		t.Error("switching the additional interface on needs the cluster's pools from VMmanager")
	}
}

// TestSettingsAreModuleChanges: each setting reads into exactly its own field of ModuleChanges, whose
// JSON name is the setting's key, and every field is some setting's: the two cannot drift apart.
func TestSettingsAreModuleChanges(t *testing.T) {
	sample := map[string]string{"name": "KVM two", "url": "vmm.example.net", "username": "admin@example.com",
		"datacenter": "1", "department": "Sales", "cluster": "kvm-main", "recipe_wait": "os", "queue_key": "q-__PMID__"}
	fields := map[string]bool{}
	for f := range reflect.TypeFor[ModuleChanges]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = true
	}
	for _, s := range Settings {
		v, ok := sample[s.Key]
		if !ok {
			v = s.Default
		}
		ch, err := ParseChanges([]string{s.Key + "=" + v})
		if err != nil {
			t.Fatalf("%s=%s: %v", s.Key, v, err)
		}
		b, _ := json.Marshal(ch)
		var got map[string]any
		_ = json.Unmarshal(b, &got)
		if _, set := got[s.Key]; len(got) != 1 || !set {
			t.Errorf("%s=%s sets %s, want only %q", s.Key, v, b, s.Key)
		}
		delete(fields, s.Key)
	}
	if len(fields) > 0 {
		t.Errorf("ModuleChanges fields no setting reads: %v", fields)
	}
}

// TestApplyChangesChecksTypedValues: typed changes that arrive whole (over the socket) are held to the
// same rules as text, and an empty change is refused.
func TestApplyChangesChecksTypedValues(t *testing.T) {
	cat := testCatalog()
	m := setModule()
	big, zero, bad := 10000, 0, Ref{Name: "Nowhere"}
	for _, c := range []struct {
		ch    ModuleChanges
		field string
	}{
		{ModuleChanges{Sort: &big}, "sort"},
		{ModuleChanges{QueueCount: &zero}, "queue_count"},
		{ModuleChanges{Department: &bad}, "department"},
		{ModuleChanges{}, "changes"},
	} {
		_, err := cat.ApplyChanges(m, &c.ch)
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%+v: got %v, want a refusal of %s", c.ch, err, c.field)
		}
	}
	n := 42
	e, err := cat.ApplyChanges(m, &ModuleChanges{Sort: &n})
	if err != nil || e.Draft.Sort != 42 || m.Sort == 42 {
		t.Fatalf("sort 42: %v, draft %d, module %d (the module must not change)", err, e.Draft.Sort, m.Sort)
	}
}
