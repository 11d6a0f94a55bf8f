package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"vmmpm/store"
)

// jsonFields are the JSON names of t's fields, with each field's type.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f.Type
		}
	}
	return out
}

// sameShape checks that schema s has exactly the JSON fields of struct type t, refuses others, and so
// on down every nested record; it never names a password.
func sameShape(t *testing.T, where string, s *openapi3.Schema, typ reflect.Type) {
	t.Helper()
	if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
		t.Errorf("%s: the schema must refuse other fields (additionalProperties: false)", where)
	}
	fields := jsonFields(typ)
	for name := range s.Properties {
		if strings.Contains(name, "password") {
			t.Errorf("%s.%s: a module answer never carries a password", where, name)
		}
		if _, ok := fields[name]; !ok {
			t.Errorf("%s.%s: the document has a field the record does not", where, name)
		}
	}
	for name, ft := range fields {
		p := s.Properties[name]
		if p == nil {
			t.Errorf("%s.%s: the record answers a field the document lacks", where, name)
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			sameShape(t, where+"."+name, p.Value, ft)
		}
	}
}

// TestModuleSchemaIsTheRecord: the document's Module is store.Module field for field, nested records
// too, each refusing fields it does not list, so a field added to the record fails here until the
// document says it.
func TestModuleSchemaIsTheRecord(t *testing.T) {
	sameShape(t, "Module", loadDoc(t).Components.Schemas["Module"].Value, reflect.TypeFor[store.Module]())
}

// TestModuleAnswerCarriesEveryField: a module with every optional setting set is answered whole by
// GET /api/v1/modules/{id} and the list, and each answer validates against the document.
func TestModuleAnswerCarriesEveryField(t *testing.T) {
	e := newEnv(t, Options{})
	rd := e.token("reader", store.RoleReader)
	m, err := store.Load[store.Module](e.db, 1)
	must(t, err)
	warn, at := 30, time.Now().UTC().Truncate(time.Second)
	m.RecipeWait, m.CapacityWarn, m.ReconcileEvery = store.RecipeWaitOS, &warn, "6h"
	m.TLSPin, m.TLSCAFile = strings.Repeat("AB:", 31)+"AB", "/etc/vmmpm/ca.pem"
	m.AttemptTimeout = "open=30m,reinstall=1h"
	m.LastCheck = &store.Check{At: at, OK: true, Message: "logged in"}
	m.LastDeep = &store.DeepCheck{At: at, OK: false, Probes: 9, Differs: []string{"hosts"}, Inconclusive: []string{"ipv6"}, Write: true}
	must(t, e.db.Save(m))
	var got map[string]any
	e.do("GET", "/api/v1/modules/1", rd, nil).decode(t, &got)
	var want map[string]any
	raw, err := json.Marshal(m)
	must(t, err)
	must(t, json.Unmarshal(raw, &want))
	for name := range want {
		if !reflect.DeepEqual(got[name], want[name]) {
			t.Errorf("%s: answered %v, the record holds %v", name, got[name], want[name])
		}
	}
	for _, name := range []string{"capacity_warn", "reconcile_every", "tls_pin", "tls_ca_file", "attempt_timeout", "recipe_wait", "last_deep"} {
		if _, ok := got[name]; !ok {
			t.Errorf("the answer lacks %s, so its validation proved nothing", name)
		}
	}
	if deep, _ := got["last_deep"].(map[string]any); deep["write"] != true || !slices.Contains(keys(deep), "inconclusive") {
		t.Errorf("last_deep answered %v", deep)
	}
	e.do("GET", "/api/v1/modules", rd, nil)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
