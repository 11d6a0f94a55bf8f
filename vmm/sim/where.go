package sim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The where= filter language of VMmanager 6 list endpoints:
//
//	expr   = term { "OR" term }
//	term   = factor { "AND" factor }
//	factor = "(" expr ")" | path op value
//	op     = "EQ" | "CP"
//	value  = 'single quoted' | number
//
// Spaces may be written as '+' (the query decoder has already turned a raw '+' or %20 into a space;
// a '+' that survives decoding, sent as %2B, is also a space outside quotes). Inside quotes \' is a
// quote and \\ a backslash; other backslashes stay and escape the next character for CP.
// Keywords are upper case only, as every public client writes them.

// maxWhereDepth bounds parenthesis nesting so a hostile filter cannot exhaust the stack.
const maxWhereDepth = 64

type whereExpr interface {
	match(obj map[string]any) bool
	String() string
}

type whereBool struct {
	op   string // "AND" or "OR"
	l, r whereExpr
}

func (b whereBool) match(obj map[string]any) bool {
	if b.op == "AND" {
		return b.l.match(obj) && b.r.match(obj)
	}
	return b.l.match(obj) || b.r.match(obj)
}

// String is the canonical form: parentheses only around an OR inside an AND, so its nesting never
// exceeds the input's.
func (b whereBool) String() string { return b.side(b.l) + " " + b.op + " " + b.side(b.r) }

func (b whereBool) side(e whereExpr) string {
	if sub, ok := e.(whereBool); ok && b.op == "AND" && sub.op == "OR" {
		return "(" + sub.String() + ")"
	}
	return e.String()
}

type whereCond struct {
	path  []string
	op    string // "EQ" or "CP"
	value string
	num   bool // written as a bare number
	pat   []likeTok
}

func (c whereCond) String() string {
	v := c.value
	if !c.num {
		v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	return strings.Join(c.path, ".") + " " + c.op + " " + v
}

// whereError is a malformed filter; the handler answers 400.
type whereError struct {
	pos int
	msg string
}

func (e *whereError) Error() string { return fmt.Sprintf("where: %s at position %d", e.msg, e.pos) }

type whereTok struct {
	kind byte // '(' ')' 'w' word, 's' string, 'n' number, 0 end
	text string
	pos  int
}

type whereParser struct {
	toks  []whereTok
	i     int
	depth int
}

func parseWhere(s string) (whereExpr, error) {
	toks, err := lexWhere(s)
	if err != nil {
		return nil, err
	}
	p := &whereParser{toks: toks}
	if p.peek().kind == 0 {
		return nil, &whereError{0, "empty filter"}
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != 0 {
		return nil, &whereError{t.pos, fmt.Sprintf("unexpected %q", t.text)}
	}
	return e, nil
}

func isWhereSpace(r rune) bool { return r == '+' || unicode.IsSpace(r) }

func lexWhere(s string) ([]whereTok, error) {
	var toks []whereTok
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case isWhereSpace(r):
			i += size
		case r == '(' || r == ')':
			toks = append(toks, whereTok{byte(r), string(r), i})
			i++
		case r == '\'':
			text, n, err := lexQuoted(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, whereTok{'s', text, i})
			i += n
		case r == '-' || (r >= '0' && r <= '9'):
			n := lexNumber(s[i:])
			if n == 0 {
				return nil, &whereError{i, "bad number"}
			}
			toks = append(toks, whereTok{'n', s[i : i+n], i})
			i += n
		case r == '_' || isASCIILetter(r):
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '.' || isASCIILetter(rune(s[j])) || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			toks = append(toks, whereTok{'w', s[i:j], i})
			i = j
		default:
			return nil, &whereError{i, fmt.Sprintf("unexpected character %q", r)}
		}
	}
	return append(toks, whereTok{0, "end of filter", len(s)}), nil
}

func isASCIILetter(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }

// lexQuoted reads a single-quoted string starting at s[start]; it returns the text and bytes consumed.
func lexQuoted(s string, start int) (string, int, error) {
	var b strings.Builder
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			return b.String(), i + 1 - start, nil
		case c == '\\' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == '\\' && i+1 < len(s):
			b.WriteByte(c) // kept: escapes the next character for CP
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, &whereError{start, "unterminated string"}
}

// lexNumber returns the length of a -?digits(.digits)? prefix, or 0.
func lexNumber(s string) int {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	d := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == d {
		return 0
	}
	if i+1 < len(s) && s[i] == '.' && s[i+1] >= '0' && s[i+1] <= '9' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == '.' || s[i] == '_' || isASCIILetter(rune(s[i]))) {
		return 0 // 12abc or 1.2.3
	}
	return i
}

func (p *whereParser) peek() whereTok { return p.toks[p.i] }
func (p *whereParser) next() whereTok { t := p.toks[p.i]; p.i++; return t }

func (p *whereParser) expr() (whereExpr, error) {
	return p.chain("OR", p.term)
}

func (p *whereParser) term() (whereExpr, error) {
	return p.chain("AND", p.factor)
}

func (p *whereParser) chain(op string, sub func() (whereExpr, error)) (whereExpr, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == 'w' && t.text == op; t = p.peek() {
		p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = whereBool{op, l, r}
	}
	return l, nil
}

func (p *whereParser) factor() (whereExpr, error) {
	t := p.peek()
	if t.kind == '(' {
		p.next()
		if p.depth++; p.depth > maxWhereDepth {
			return nil, &whereError{t.pos, "too deeply nested"}
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		p.depth--
		if c := p.next(); c.kind != ')' {
			return nil, &whereError{c.pos, fmt.Sprintf("expected ) but found %q", c.text)}
		}
		return e, nil
	}
	return p.cond()
}

func (p *whereParser) cond() (whereExpr, error) {
	f := p.next()
	if f.kind != 'w' || isWhereKeyword(f.text) {
		return nil, &whereError{f.pos, fmt.Sprintf("expected a field name but found %q", f.text)}
	}
	path := strings.Split(f.text, ".")
	for _, seg := range path {
		if seg == "" {
			return nil, &whereError{f.pos, fmt.Sprintf("bad field name %q", f.text)}
		}
	}
	op := p.next()
	if op.kind != 'w' || (op.text != "EQ" && op.text != "CP") {
		return nil, &whereError{op.pos, fmt.Sprintf("expected EQ or CP but found %q", op.text)}
	}
	v := p.next()
	if v.kind != 's' && v.kind != 'n' {
		return nil, &whereError{v.pos, fmt.Sprintf("expected a quoted string or a number but found %q", v.text)}
	}
	c := whereCond{path: path, op: op.text, value: v.text, num: v.kind == 'n'}
	if c.op == "CP" {
		c.pat = compileLike(c.value)
	}
	return c, nil
}

func isWhereKeyword(s string) bool { return s == "AND" || s == "OR" || s == "EQ" || s == "CP" }

func (c whereCond) match(obj map[string]any) bool {
	for _, leaf := range resolvePath(obj, c.path) {
		if arr, ok := leaf.([]any); ok {
			if c.op == "CP" && c.matchScalar(joinScalars(arr)) {
				return true
			}
			for _, el := range arr {
				if c.matchScalar(el) {
					return true
				}
			}
			continue
		}
		if c.matchScalar(leaf) {
			return true
		}
	}
	return false
}

func (c whereCond) matchScalar(v any) bool {
	s, numeric, ok := scalarText(v)
	if !ok {
		return false
	}
	if c.op == "CP" {
		return likeMatch(c.pat, s)
	}
	if numeric {
		if want, err := strconv.ParseFloat(c.value, 64); err == nil {
			got, _ := strconv.ParseFloat(s, 64)
			return got == want
		}
	}
	return s == c.value
}

// resolvePath walks a dotted path; arrays of objects on the way fan out (ip4.ip reaches every ip).
func resolvePath(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[path[0]]
		if !ok {
			return nil
		}
		return resolvePath(child, path[1:])
	case []any:
		var out []any
		for _, el := range x {
			out = append(out, resolvePath(el, path)...)
		}
		return out
	}
	return nil
}

// scalarText renders a JSON-shaped scalar as text; numeric tells EQ to compare numbers by value.
func scalarText(v any) (s string, numeric, ok bool) {
	switch x := v.(type) {
	case string:
		return x, false, true
	case bool:
		return strconv.FormatBool(x), false, true
	case int:
		return strconv.Itoa(x), true, true
	case int64:
		return strconv.FormatInt(x, 10), true, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true, true
	}
	return "", false, false
}

func joinScalars(arr []any) string {
	parts := make([]string, 0, len(arr))
	for _, el := range arr {
		if s, _, ok := scalarText(el); ok {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

// likeTok is one element of a compiled CP pattern: a literal rune, '_' (one rune) or '%' (any run).
type likeTok struct {
	wild byte // 0 literal, '_' or '%'
	r    rune
}

// compileLike turns a CP pattern into tokens; matching is case-insensitive as in MySQL's default collation.
func compileLike(p string) []likeTok {
	var out []likeTok
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs):
			i++
			out = append(out, likeTok{r: unicode.ToLower(rs[i])})
		case r == '%' || r == '_':
			out = append(out, likeTok{wild: byte(r)})
		default:
			out = append(out, likeTok{r: unicode.ToLower(r)})
		}
	}
	return out
}

// likeMatch is the classic wildcard match with backtracking to the last '%': O(len(s)*len(pat)) at worst.
func likeMatch(pat []likeTok, s string) bool {
	rs := []rune(s)
	for i, r := range rs {
		rs[i] = unicode.ToLower(r)
	}
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(rs) {
		switch {
		case pi < len(pat) && pat[pi].wild == '%':
			star, mark = pi, si
			pi++
		case pi < len(pat) && (pat[pi].wild == '_' || (pat[pi].wild == 0 && pat[pi].r == rs[si])):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi].wild == '%' {
		pi++
	}
	return pi == len(pat)
}

// eqHint returns v when the filter is an AND chain containing field EQ v, so a handler can use an index.
func eqHint(e whereExpr, field string) (string, bool) {
	switch x := e.(type) {
	case whereCond:
		if x.op == "EQ" && len(x.path) == 1 && x.path[0] == field {
			return x.value, true
		}
	case whereBool:
		if x.op == "AND" {
			if v, ok := eqHint(x.l, field); ok {
				return v, true
			}
			return eqHint(x.r, field)
		}
	}
	return "", false
}

// idsHint is anyOfIndexHint inside an AND chain: the ids of "(cluster.id EQ 1) AND ((id EQ 2) OR (id EQ 3))"
// (reconcile's windows), so the host list looks them up instead of rendering every VM.
func idsHint(e whereExpr, field string) ([]int, bool) {
	if x, ok := e.(whereBool); ok && x.op == "AND" {
		if v, ok := idsHint(x.l, field); ok {
			return v, true
		}
		return idsHint(x.r, field)
	}
	return anyOfIndexHint(e, field)
}

// namesHint returns the values of an OR chain of "field EQ 'v'" (or one), itself or inside an AND chain.
func namesHint(e whereExpr, field string) ([]string, bool) {
	switch x := e.(type) {
	case whereCond:
		if x.op == "EQ" && len(x.path) == 1 && x.path[0] == field {
			return []string{x.value}, true
		}
	case whereBool:
		if x.op == "AND" {
			if v, ok := namesHint(x.l, field); ok {
				return v, true
			}
			return namesHint(x.r, field)
		}
		l, lok := namesHint(x.l, field)
		r, rok := namesHint(x.r, field)
		if lok && rok {
			return append(l, r...), true
		}
	}
	return nil, false
}
