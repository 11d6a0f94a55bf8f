package sim

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
)

// keep is a request property a public source sends that the emulator does not model: it is accepted
// whatever its JSON value, stored on the object the call changes, and listed back under its own name
// (FIDELITY.md, "properties accepted and listed"). Properties of type json.RawMessage are accepted and
// dropped instead (options of the call itself, such as send_email_mode or force).
type keep []byte

func (k *keep) UnmarshalJSON(b []byte) error {
	*k = append((*k)[:0], b...)
	return nil
}

// kept collects the keep properties a decoded request held, by JSON name; embedded structs are walked.
func kept(req any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	collectKept(reflect.ValueOf(req), out)
	return out
}

var keepType = reflect.TypeFor[keep]()

func collectKept(v reflect.Value, out map[string]json.RawMessage) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		switch {
		case f.Anonymous:
			collectKept(fv, out)
		case f.Type == keepType && fv.Len() > 0:
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out[name] = json.RawMessage(append([]byte(nil), fv.Bytes()...))
		}
	}
}

// storeProps merges accepted properties into an object's own (a later value replaces an earlier one).
func storeProps(dst *map[string]json.RawMessage, props map[string]json.RawMessage) {
	if len(props) == 0 {
		return
	}
	if *dst == nil {
		*dst = map[string]json.RawMessage{}
	}
	maps.Copy(*dst, props)
}

// listProps adds stored properties to an answer item, never over a property the emulator models.
func listProps(item map[string]any, props map[string]json.RawMessage) {
	for k, v := range props {
		if _, ok := item[k]; !ok {
			item[k] = v
		}
	}
}
