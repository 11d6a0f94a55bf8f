package queue

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"vmmpm/store"
)

// Macros a queue-key template may use (spec §4).
const (
	MacroType = "__TYPE__"
	MacroPMID = "__PMID__"
	MacroIID  = "__IID__"
)

var macros = []string{MacroType, MacroPMID, MacroIID}

// TemplateError says where a queue-key template is wrong. Pos is 1-based, counted in characters.
type TemplateError struct {
	Pos    int
	Reason string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("queue_key: at position %d: %s", e.Pos, e.Reason)
}

// segment is either literal text or one macro.
type segment struct {
	text  string
	macro string
}

// KeyTemplate is a parsed queue-key template. The zero value expands to "" (queues off, no template).
type KeyTemplate struct {
	src  string
	segs []segment
}

// String returns the template as written.
func (t KeyTemplate) String() string { return t.src }

// UsesIID reports whether every service gets its own key name.
func (t KeyTemplate) UsesIID() bool { return t.has(MacroIID) }

// UsesType reports whether the key name depends on the operation type.
func (t KeyTemplate) UsesType() bool { return t.has(MacroType) }

func (t KeyTemplate) has(m string) bool {
	for _, s := range t.segs {
		if s.macro == m {
			return true
		}
	}
	return false
}

// ParseKeyTemplate checks a template against spec §4: 1–128 characters of ASCII letters, digits, '-',
// '_', '.' and the macros __TYPE__, __PMID__, __IID__. A macro is "__" + upper-case letters + "__";
// other underscores are literal. An empty template is accepted only when queues are off.
func ParseKeyTemplate(s string, queueOn bool) (KeyTemplate, error) {
	if s == "" {
		if queueOn {
			return KeyTemplate{}, &TemplateError{Pos: 1, Reason: "must not be empty when queues are on"}
		}
		return KeyTemplate{}, nil
	}
	if !utf8.ValidString(s) {
		return KeyTemplate{}, &TemplateError{Pos: invalidUTF8Pos(s), Reason: "is not valid text"}
	}
	if n := utf8.RuneCountInString(s); n > store.MaxQueueKeyLen {
		return KeyTemplate{}, &TemplateError{Pos: store.MaxQueueKeyLen + 1,
			Reason: fmt.Sprintf("is %d characters long, the limit is %d", n, store.MaxQueueKeyLen)}
	}
	t := KeyTemplate{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if word, ok := macroAt(s, i); ok && isKnownMacro(word) {
			if lit.Len() > 0 {
				t.segs = append(t.segs, segment{text: lit.String()})
				lit.Reset()
			}
			t.segs = append(t.segs, segment{macro: "__" + word + "__"})
			i += len(word) + 4
			continue
		}
		if word, ok := macroAt(s, i); ok {
			if err := checkMacro(s, i, word); err != nil {
				return KeyTemplate{}, err
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !allowedRune(r) {
			return KeyTemplate{}, &TemplateError{Pos: runePos(s, i),
				Reason: fmt.Sprintf("%q is not allowed; use letters, digits, '-', '_', '.' or a macro (__TYPE__, __PMID__, __IID__)", r)}
		}
		lit.WriteRune(r)
		i += size
	}
	if lit.Len() > 0 {
		t.segs = append(t.segs, segment{text: lit.String()})
	}
	return t, nil
}

// macroAt reports whether s[i:] starts with "__WORD__" where WORD is one or more ASCII letters.
// Lower-case words are matched too so a mistyped __type__ is refused, not silently literal.
func macroAt(s string, i int) (string, bool) {
	if !strings.HasPrefix(s[i:], "__") {
		return "", false
	}
	j := i + 2
	for j < len(s) && isLetter(s[j]) {
		j++
	}
	if j == i+2 || !strings.HasPrefix(s[j:], "__") {
		return "", false
	}
	return s[i+2 : j], true
}

// checkMacro accepts the three known macros; an unknown upper-case word, or a known one in the wrong
// case, is refused. Other lower/mixed-case words are literal text (e.g. "a__b__c" is plain).
func checkMacro(s string, i int, word string) error {
	m := "__" + word + "__"
	for _, k := range macros {
		if strings.EqualFold(m, k) {
			return &TemplateError{Pos: runePos(s, i), Reason: fmt.Sprintf("macro %s must be written %s", m, k)}
		}
	}
	if word != strings.ToUpper(word) {
		return nil
	}
	return &TemplateError{Pos: runePos(s, i),
		Reason: fmt.Sprintf("unknown macro %s; use __TYPE__, __PMID__ or __IID__", m)}
}

func isKnownMacro(word string) bool { return slices.Contains(macros, "__"+word+"__") }

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func allowedRune(r rune) bool {
	return r < utf8.RuneSelf && (isLetter(byte(r)) || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

func runePos(s string, byteIdx int) int { return utf8.RuneCountInString(s[:byteIdx]) + 1 }

func invalidUTF8Pos(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			return runePos(s, i)
		}
	}
	return 1
}

// Expand returns the key name for one operation: op for __TYPE__, pmid for __PMID__, iid for __IID__.
func (t KeyTemplate) Expand(op string, pmid, iid uint64) string {
	return t.expand(op, strconv.FormatUint(pmid, 10), strconv.FormatUint(iid, 10))
}

func (t KeyTemplate) expand(op, pmid, iid string) string {
	var b strings.Builder
	for _, s := range t.segs {
		switch s.macro {
		case "":
			b.WriteString(s.text)
		case MacroType:
			b.WriteString(op)
		case MacroPMID:
			b.WriteString(pmid)
		case MacroIID:
			b.WriteString(iid)
		}
	}
	return b.String()
}

// QueueKey is the key of lane n (1-based) under a key name: "{key_name}-{n}".
func QueueKey(keyName string, n int) string { return keyName + "-" + strconv.Itoa(n) }

// PreviewKeys lists the queue keys a module would use, for the wizard and the parameters screen.
// Values that only exist per operation are shown as placeholders: __TYPE__ as "open" (the first
// operation a service gets) and __IID__ as "{IID}".
func PreviewKeys(t KeyTemplate, pmid uint64, count int) []string {
	name := t.expand(store.OpOpen, strconv.FormatUint(pmid, 10), "{IID}")
	out := make([]string, 0, max(count, 0))
	for n := 1; n <= count; n++ {
		out = append(out, QueueKey(name, n))
	}
	return out
}
