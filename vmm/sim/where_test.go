package sim

import (
	"net/url"
	"strings"
	"testing"
)

func sampleObj() map[string]any {
	return map[string]any{
		"id": 7, "name": "svc-7", "email": "Admin@Example.com", "state": "active", "ram": 1024.0, "ok": true,
		"roles":   []any{"@admin", "@support"},
		"account": map[string]any{"id": 3, "email": "c@example.com"},
		"ip4":     []any{map[string]any{"ip": "203.0.113.5"}, map[string]any{"ip": "10.10.0.9"}},
		"note":    "50% off, it's 'quoted'",
		"nothing": nil,
	}
}

func TestWhereMatches(t *testing.T) {
	cases := []struct {
		where string
		want  bool
	}{
		{"(id+EQ+'7')", true},
		{"(id EQ 7)", true},
		{"id EQ 7.0", true},
		{"id EQ '07'", true},
		{"(id EQ 8)", false},
		{"(name+EQ+'svc-7')", true},
		{"name EQ 'SVC-7'", false}, // EQ is exact
		{"name CP 'SVC-%'", true},  // CP is case-insensitive
		{"name CP 'svc-_'", true},
		{"name CP 'svc-__'", false},
		{"name CP 'svc'", false},
		{"name CP '%'", true},
		{"name CP 'svc-7'", true}, // CP without wildcards is equality, as GO1 uses it
		{"roles CP '%@admin%'", true},
		{"roles EQ '@support'", true},
		{"roles EQ '@admin,@support'", false},
		{"roles CP '@admin,@support'", true}, // the joined list
		{"account.id EQ 3", true},
		{"account.id EQ 4", false},
		{"account.email CP '%@example.com'", true},
		{"ip4.ip EQ '10.10.0.9'", true},
		{"missing EQ 'x'", false},
		{"nothing EQ ''", false},
		{"account EQ '3'", false},
		{"ok EQ 'true'", true},
		{"ram EQ 1024", true},
		{`note CP '50\% off%'`, true},
		{`note CP '%it\'s%'`, true},
		{`note EQ '50% off, it\'s \'quoted\''`, true},
		{"(id EQ 7) AND (name EQ 'x')", false},
		{"(id EQ 7) OR (name EQ 'x')", true},
		{"id EQ 1 OR id EQ 2 OR id EQ 7", true},
		{"id EQ 7 AND state EQ 'active' AND ok EQ 'true'", true},
		{"id EQ 1 AND name EQ 'x' OR id EQ 7", true}, // AND binds tighter than OR
		{"id EQ 1 AND (name EQ 'x' OR id EQ 7)", false},
		{"((((id EQ 7))))", true},
		{"+(id+EQ+7)++", true},
		{"id\tEQ\n7", true},
	}
	obj := sampleObj()
	for _, c := range cases {
		e, err := parseWhere(c.where)
		if err != nil {
			t.Fatalf("%q: %v", c.where, err)
		}
		if got := e.match(obj); got != c.want {
			t.Errorf("%q (parsed %s): %v, want %v", c.where, e, got, c.want)
		}
	}
}

func TestWhereMalformed(t *testing.T) {
	for _, w := range []string{
		"", "   ", "+++", "(", ")", "()", "(id EQ 7", "id EQ 7)", "id EQ", "id", "EQ 7", "id EQ 'x",
		"id LIKE 'x'", "id eq 7", "id EQ x", "id EQ 7 AND", "OR id EQ 7", "id EQ 7 id EQ 8", "7 EQ 7",
		"a..b EQ 1", "a. EQ 1", ".a EQ 1", "id EQ 1.2.3", "id EQ 12abc", "id EQ -", "id EQ 7; DROP",
		"id EQ \"7\"", "AND EQ 1", "id EQ 7 AND AND id EQ 8", strings.Repeat("(", 100) + "id EQ 1" + strings.Repeat(")", 100),
	} {
		if e, err := parseWhere(w); err == nil {
			t.Errorf("%q parsed as %s, want an error", w, e)
		}
	}
}

// TestWhereQueryDecoding checks the forms clients put on the wire, decoded as the handler does.
func TestWhereQueryDecoding(t *testing.T) {
	for _, raw := range []string{
		"where=(name+EQ+'svc-7')",
		"where=(name%20EQ%20'svc-7')",
		"where=%28name%2BEQ%2B%27svc-7%27%29",
		"where=((id+EQ+'7')+AND+(name+CP+'%25svc%25'))",
	} {
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		e, err := parseWhere(q.Get("where"))
		if err != nil || !e.match(sampleObj()) {
			t.Fatalf("%s: err %v, parsed %v", raw, err, e)
		}
	}
}

func TestLikeMatchBacktracking(t *testing.T) {
	pat := compileLike(strings.Repeat("%a", 30) + "%b")
	if likeMatch(pat, strings.Repeat("a", 3000)) {
		t.Fatal("matched without a b")
	}
	if !likeMatch(compileLike("%é%"), "CAFÉ") {
		t.Fatal("case folding of non-ASCII failed")
	}
}

func FuzzWhere(f *testing.F) {
	for _, s := range []string{
		"(email+EQ+'admin@example.com')",
		"((consul_id+EQ+'1001')+AND+(name+EQ+'host_create'))",
		"((roles+CP+'%@admin%')+AND+(state+EQ+'active'))",
		"(id+EQ+'7')", "name CP 'svc-%'", "account.id EQ 3", `note CP '50\% off'`, "id EQ -1.5",
		"a OR b", "((", "'unterminated", "id EQ 7)", "ip4.ip EQ '10.10.0.9'",
	} {
		f.Add(s)
	}
	obj := sampleObj()
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseWhere(s)
		if err != nil {
			if _, ok := err.(*whereError); !ok {
				t.Fatalf("%q: error of type %T", s, err)
			}
			return
		}
		got := e.match(obj)
		// The canonical form must parse back to itself and match the same way.
		again, err := parseWhere(e.String())
		if err != nil {
			t.Fatalf("%q: canonical %q does not parse: %v", s, e.String(), err)
		}
		if again.String() != e.String() || again.match(obj) != got {
			t.Fatalf("%q: canonical form %q is not stable", s, e.String())
		}
	})
}
