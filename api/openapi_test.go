package api

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"vmmpm/queue"
	"vmmpm/store"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

func enumOf(s *openapi3.Schema) []string {
	var out []string
	for _, v := range s.Enum {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// TestOpenAPIOperationsAreTheTable: the document's operation request is queue's one table: one
// alternative per operation in table order, each with exactly its arguments (type, limits, which are
// required, the help), and the job types, job states and service statuses are the store's.
func TestOpenAPIOperationsAreTheTable(t *testing.T) {
	doc := loadDoc(t)
	sc := doc.Components.Schemas
	req := sc["OperationRequest"].Value
	ops := queue.Operations()
	if len(req.OneOf) != len(ops) {
		t.Fatalf("OperationRequest has %d alternatives, the table %d operations", len(req.OneOf), len(ops))
	}
	for i, o := range ops {
		alt := req.OneOf[i].Value
		if got := enumOf(alt.Properties["type"].Value); !slices.Equal(got, []string{o.Name}) {
			t.Errorf("alternative %d is %v, the table's operation %d is %s", i, got, i, o.Name)
			continue
		}
		args := alt.Properties["args"].Value
		if args == nil || sc["Args_"+o.Name] == nil || args != sc["Args_"+o.Name].Value {
			t.Errorf("%s: args is not #/components/schemas/Args_%s", o.Name, o.Name)
			continue
		}
		var names []string
		for n := range args.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		want := o.ArgNames()
		sort.Strings(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: the document's arguments %v, the table's %v", o.Name, names, want)
		}
		if args.AdditionalProperties.Has == nil || *args.AdditionalProperties.Has {
			t.Errorf("%s: the arguments must refuse others (additionalProperties: false)", o.Name)
		}
		var required []string
		for _, a := range o.Args {
			if a.Required {
				required = append(required, a.Name)
			}
			p := args.Properties[a.Name]
			if p == nil {
				continue
			}
			s := p.Value
			if s.Description != a.Help {
				t.Errorf("%s.%s: the document says %q, the table %q", o.Name, a.Name, s.Description, a.Help)
			}
			switch a.Type {
			case queue.WholeNumber:
				if len(s.OneOf) != 2 || !s.OneOf[0].Value.Type.Is("integer") || *s.OneOf[0].Value.Min != float64(a.Min) ||
					*s.OneOf[0].Value.Max != float64(a.Max) || !s.OneOf[1].Value.Type.Is("string") {
					t.Errorf("%s.%s: must be an integer %d..%d or a decimal string", o.Name, a.Name, a.Min, a.Max)
				}
			case queue.SecretText:
				if !s.Type.Is("string") || s.MinLength != 1 {
					t.Errorf("%s.%s: must be a non-empty string", o.Name, a.Name)
				}
			}
		}
		if !slices.Equal(args.Required, required) {
			t.Errorf("%s: required %v in the document, %v in the table", o.Name, args.Required, required)
		}
		if (args.MinProps == 1) != o.AtLeastOne {
			t.Errorf("%s: minProperties says at-least-one %v, the table %v", o.Name, args.MinProps == 1, o.AtLeastOne)
		}
		if needs := len(required) > 0 || o.AtLeastOne; needs != slices.Contains(alt.Required, "args") {
			t.Errorf("%s: args required %v in the document, the table needs them: %v", o.Name, !needs, needs)
		}
	}
	if got := enumOf(sc["Job"].Value.Properties["type"].Value); !slices.Equal(got, store.OpTypes) {
		t.Errorf("job types %v, the store's %v", got, store.OpTypes)
	}
	if got := enumOf(sc["Job"].Value.Properties["state"].Value); !slices.Equal(got, store.JobStates) {
		t.Errorf("job states %v, the store's %v", got, store.JobStates)
	}
	statuses := []string{store.ServiceOrdered, store.ServiceProcessing, store.ServiceActive, store.ServiceSuspended, store.ServiceDeleted, store.ServiceFailed}
	if got := enumOf(sc["Service"].Value.Properties["status"].Value); !slices.Equal(got, statuses) {
		t.Errorf("service statuses %v, the store's %v", got, statuses)
	}
}

// TestOpenAPIPathsAreTheRoutes: every route the server has is in the document with the role it needs,
// and the document has no path the server does not answer.
func TestOpenAPIPathsAreTheRoutes(t *testing.T) {
	doc := loadDoc(t)
	s := New(nil, Options{})
	inDoc := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role := ""
			if _, r, ok := strings.Cut(op.Description, "Role: "); ok {
				role = strings.TrimSuffix(r, ".")
			}
			if op.Security != nil && len(*op.Security) == 0 && role != "" {
				t.Errorf("%s %s needs no token in openapi.json but names role %s", method, path, role)
			}
			inDoc[method+" "+path] = role
		}
	}
	for pattern, role := range s.roles {
		docRole, ok := inDoc[pattern]
		switch {
		case !ok:
			t.Errorf("route %s is not in openapi.json", pattern)
		case docRole != role:
			t.Errorf("route %s needs role %q; openapi.json says %q", pattern, role, docRole)
		}
	}
	for p := range inDoc {
		if _, ok := s.roles[p]; !ok {
			t.Errorf("openapi.json has %s, which the server does not answer", p)
		}
	}
}
