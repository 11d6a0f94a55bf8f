package server

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
)

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// TestWireNamesAreSnakeCase: every field of every type a call takes or answers (and an event) has an
// explicit snake_case JSON name, so the protocol reads in one casing whatever Go calls the field.
func TestWireNamesAreSnakeCase(t *testing.T) {
	s := &Server{}
	seen := map[reflect.Type]bool{}
	for name, c := range s.routes() {
		checkWireType(t, name, c.req, seen)
		checkWireType(t, name, c.resp, seen)
	}
	checkWireType(t, "events", reflect.TypeFor[backend.Event](), seen)
	checkWireType(t, "envelope", reflect.TypeFor[envelope](), seen)
	if len(seen) < 20 {
		t.Fatalf("walked only %d types: the routes were not read", len(seen))
	}
}

func checkWireType(t *testing.T, route string, ty reflect.Type, seen map[reflect.Type]bool) {
	t.Helper()
	for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Array || ty.Kind() == reflect.Map {
		if ty.Kind() == reflect.Map {
			checkWireType(t, route, ty.Key(), seen)
		}
		ty = ty.Elem()
	}
	if ty.Kind() != reflect.Struct || seen[ty] || ty == reflect.TypeFor[time.Time]() {
		return
	}
	seen[ty] = true
	for f := range ty.Fields() {
		if !f.IsExported() {
			continue
		}
		tag, ok := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && !ok:
			// embedded: its fields are flattened and checked as its own type
		case !ok || !snake.MatchString(name):
			t.Errorf("%s: %s.%s has JSON name %q; give it an explicit snake_case json tag", route, ty, f.Name, tag)
		}
		checkWireType(t, route, f.Type, seen)
	}
}
