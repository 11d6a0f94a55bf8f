package queue

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"vmmpm/store"
)

func TestParseKeyTemplate(t *testing.T) {
	cases := []struct {
		in      string
		queueOn bool
		pos     int    // 0: must parse
		reason  string // substring of the reason
	}{
		{"vmm6-__PMID__", true, 0, ""},
		{"q-__TYPE__-__PMID__-__IID__", true, 0, ""},
		{"a.b_c-D9", true, 0, ""},
		{"a__b__c", true, 0, ""},         // lower-case word between underscores is literal
		{"___TYPE__", true, 0, ""},       // one literal underscore, then the macro
		{"__IID____TYPE__", true, 0, ""}, // two macros back to back
		{"", false, 0, ""},               // no template needed with queues off
		{"", true, 1, "must not be empty"},
		{"vmm6 x", true, 5, "' ' is not allowed"},
		{"ab/c", false, 3, "'/' is not allowed"},
		{"é", true, 1, "'é' is not allowed"},
		{"x-__FOO__", true, 3, "unknown macro __FOO__"},
		{"__type__", true, 1, "must be written __TYPE__"},
		{"__Pmid__", true, 1, "must be written __PMID__"},
		{strings.Repeat("a", 128), true, 0, ""},
		{strings.Repeat("a", 129), true, 129, "limit is 128"},
		{"ab\xffc", true, 3, "not valid text"},
	}
	for _, c := range cases {
		_, err := ParseKeyTemplate(c.in, c.queueOn)
		if c.pos == 0 {
			if err != nil {
				t.Errorf("ParseKeyTemplate(%q): %v", c.in, err)
			}
			continue
		}
		var te *TemplateError
		if !errors.As(err, &te) {
			t.Errorf("ParseKeyTemplate(%q) = %v, want a TemplateError", c.in, err)
			continue
		}
		if te.Pos != c.pos || !strings.Contains(te.Reason, c.reason) {
			t.Errorf("ParseKeyTemplate(%q) = pos %d %q, want pos %d containing %q", c.in, te.Pos, te.Reason, c.pos, c.reason)
		}
		if !strings.HasPrefix(err.Error(), "queue_key: at position ") {
			t.Errorf("error text %q lacks the position prefix", err)
		}
	}
}

func TestExpand(t *testing.T) {
	cases := []struct {
		tmpl      string
		op        string
		pmid, iid uint64
		want      string
	}{
		{"vmm6-__PMID__", store.OpOpen, 7, 12, "vmm6-7"},
		{"__TYPE__", store.OpReboot, 7, 12, "reboot"},
		{"s__IID__", store.OpClose, 7, 12, "s12"},
		{"__TYPE__.__PMID__.__IID__", store.OpSetParam, 1, 2, "setparam.1.2"},
		{"___TYPE__", store.OpOpen, 1, 2, "_open"},
		{"a__b__c", store.OpOpen, 1, 2, "a__b__c"},
		{"", store.OpOpen, 1, 2, ""},
	}
	for _, c := range cases {
		tp, err := ParseKeyTemplate(c.tmpl, false)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		if got := tp.Expand(c.op, c.pmid, c.iid); got != c.want {
			t.Errorf("Expand(%q, %s, %d, %d) = %q, want %q", c.tmpl, c.op, c.pmid, c.iid, got, c.want)
		}
		if tp.String() != c.tmpl {
			t.Errorf("String() = %q, want %q", tp.String(), c.tmpl)
		}
	}
	if got := QueueKey("vmm6-7", 3); got != "vmm6-7-3" {
		t.Errorf("QueueKey = %q", got)
	}
}

func TestPreviewKeys(t *testing.T) {
	cases := []struct {
		tmpl  string
		count int
		want  []string
	}{
		{"vmm6-__PMID__", 3, []string{"vmm6-7-1", "vmm6-7-2", "vmm6-7-3"}},
		{"__TYPE__-__IID__", 2, []string{"open-{IID}-1", "open-{IID}-2"}},
		{"x", 0, []string{}},
	}
	for _, c := range cases {
		tp, err := ParseKeyTemplate(c.tmpl, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := PreviewKeys(tp, 7, c.count); !slices.Equal(got, c.want) {
			t.Errorf("PreviewKeys(%q, 7, %d) = %v, want %v", c.tmpl, c.count, got, c.want)
		}
	}
}

func FuzzKeyTemplate(f *testing.F) {
	for _, s := range []string{"vmm6-__PMID__", "__TYPE__-__IID__", "___TYPE____", "a__b__", "__X__", "é", "", "__IID____"} {
		f.Add(s, uint64(7), uint64(12), uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, pmid, iid uint64, opIdx uint8) {
		tp, err := ParseKeyTemplate(s, true)
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) || te.Pos < 1 {
				t.Fatalf("ParseKeyTemplate(%q) error %v is not a positioned TemplateError", s, err)
			}
			return
		}
		op := store.OpTypes[int(opIdx)%len(store.OpTypes)]
		out := tp.Expand(op, pmid, iid)
		if out == "" {
			t.Fatalf("%q expanded to nothing", s)
		}
		for i := 0; i < len(out); i++ {
			if !allowedRune(rune(out[i])) {
				t.Fatalf("%q expanded to %q with a disallowed byte at %d", s, out, i)
			}
			if w, ok := macroAt(out, i); ok && checkMacro(out, i, w) != nil || ok && isKnownMacro(w) {
				t.Fatalf("%q expanded to %q which still holds macro __%s__", s, out, w)
			}
		}
	})
}
