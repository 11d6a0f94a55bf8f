// Package form is a small keyboard form for the TUI's edit screens: text and number fields, on/off
// switches and choices. It holds text only; the owner validates with the domain packages and sets Err.
package form

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/ui/common"
	"vmmpm/ui/keys"
)

// Kind is a field's type.
type Kind int

const (
	Text Kind = iota
	Number
	Switch
	Choice
	Secret
	// Multi picks any number of options: ←/→ moves among them, space picks or drops one.
	Multi
)

// Option is one value of a Choice field; a non-empty Disabled says why it cannot be chosen.
type Option struct {
	Label    string
	Value    string
	Disabled string
}

// Field is one form row.
type Field struct {
	Key     string
	Label   string
	Kind    Kind
	Hint    string
	On      bool
	Options []Option
	Sel     int
	// Picked are the picked options of a Multi field, by index.
	Picked map[int]bool
	input  textinput.Model
	show   func(*Model) bool
}

// Result says what the last key did to the form.
type Result int

const (
	Editing Result = iota
	Submitted
	Cancelled
)

// Model is a form: fields, the focused one and the last error.
type Model struct {
	ctx    *common.Context
	Title  string
	fields []*Field
	focus  int
	Err    string
	styles styles
}

// New builds a form; use the With* helpers to add fields.
func New(ctx *common.Context, title string) *Model {
	return &Model{ctx: ctx, Title: title, styles: newStyles(ctx.Theme)}
}

// AddText adds a text or number field with an initial value.
func (m *Model) AddText(key, label, value, hint string, number bool) *Model {
	in := newInput()
	in.Prompt = ""
	in.CharLimit = 256
	in.SetValue(value)
	kind := Text
	if number {
		kind = Number
	}
	m.add(&Field{Key: key, Label: label, Kind: kind, Hint: hint, input: in})
	return m
}

// AddSecret adds a masked field; its value is never drawn.
func (m *Model) AddSecret(key, label, hint string) *Model {
	in := newInput()
	in.Prompt = ""
	in.CharLimit = 256
	in.EchoMode = textinput.EchoPassword
	in.EchoCharacter = '•'
	m.add(&Field{Key: key, Label: label, Kind: Secret, Hint: hint, input: in})
	return m
}

// newInput is a text input with a steady cursor: a blinking one would repaint twice a second for nothing.
func newInput() textinput.Model {
	in := textinput.New()
	in.Cursor.SetMode(cursor.CursorStatic)
	return in
}

// AddSwitch adds an on/off field.
func (m *Model) AddSwitch(key, label string, on bool, hint string) *Model {
	m.add(&Field{Key: key, Label: label, Kind: Switch, On: on, Hint: hint})
	return m
}

// AddChoice adds a choice among opts, preselecting the option whose Value is sel.
func (m *Model) AddChoice(key, label string, opts []Option, sel, hint string) *Model {
	f := &Field{Key: key, Label: label, Kind: Choice, Options: opts, Hint: hint}
	for i, o := range opts {
		if o.Value == sel {
			f.Sel = i
		}
	}
	m.add(f)
	return m
}

// AddMulti adds a pick list over opts with the options whose Value is in picked already picked.
func (m *Model) AddMulti(key, label string, opts []Option, picked []string, hint string) *Model {
	f := &Field{Key: key, Label: label, Kind: Multi, Options: opts, Hint: hint, Picked: map[int]bool{}}
	for i, o := range opts {
		for _, p := range picked {
			if o.Value == p {
				f.Picked[i] = true
			}
		}
	}
	m.add(f)
	return m
}

// When shows the field added last only while show says so, e.g. the arguments of the operation a choice
// names. A hidden field is not drawn and the keys pass over it; it keeps its text.
func (m *Model) When(show func(*Model) bool) *Model {
	m.fields[len(m.fields)-1].show = show
	return m
}

func (m *Model) shown(i int) bool { f := m.fields[i]; return f.show == nil || f.show(m) }

// next is the shown field after i in direction dir (1 or -1): -1 past the end, unless wrap goes round
// (back to i when no other is shown).
func (m *Model) next(i, dir int, wrap bool) int {
	n := len(m.fields)
	for step := 1; step < n; step++ {
		j := i + dir*step
		if wrap {
			j = (j%n + n) % n
		} else if j < 0 || j >= n {
			return -1
		}
		if m.shown(j) {
			return j
		}
	}
	if wrap {
		return i
	}
	return -1
}

func (m *Model) add(f *Field) {
	m.fields = append(m.fields, f)
	if len(m.fields) == 1 {
		m.focusField(0)
	}
}

// Init focuses the first field and starts its cursor.
func (m *Model) Init() tea.Cmd { return m.focusField(m.focus) }

func (m *Model) focusField(i int) tea.Cmd {
	for _, f := range m.fields {
		f.input.Blur()
	}
	m.focus = i
	if f := m.fields[i]; f.typed() {
		return f.input.Focus()
	}
	return nil
}

// Update handles one key. enter moves to the next field and saves on the last, as in the Add wizard;
// ctrl+s saves from any field; esc cancels.
func (m *Model) Update(msg tea.Msg) (Result, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if len(m.fields) == 0 {
			return Editing, nil
		}
		f := m.fields[m.focus]
		var cmd tea.Cmd
		f.input, cmd = f.input.Update(msg)
		return Editing, cmd
	}
	k := m.ctx.Keys
	f := m.fields[m.focus]
	switch {
	case km.String() == "esc" || km.String() == "ctrl+c":
		return Cancelled, nil
	case key.Matches(km, k.Submit):
		return Submitted, nil
	case key.Matches(km, k.Advance):
		if m.onLast() {
			return Submitted, nil
		}
		return Editing, m.focusField(m.next(m.focus, 1, false))
	case key.Matches(km, k.NextField):
		return Editing, m.focusField(m.next(m.focus, 1, true))
	case key.Matches(km, k.PrevField):
		return Editing, m.focusField(m.next(m.focus, -1, true))
	case f.Kind == Switch && key.Matches(km, k.Toggle):
		f.On = !f.On
		m.Err = ""
		return Editing, nil
	case f.Kind == Choice && key.Matches(km, k.Toggle):
		m.cycle(f, km.String() != "left")
		return Editing, nil
	case f.Kind == Multi && len(f.Options) > 0 && key.Matches(km, k.Toggle):
		switch km.String() {
		case "left":
			f.Sel = (f.Sel + len(f.Options) - 1) % len(f.Options)
		case "right":
			f.Sel = (f.Sel + 1) % len(f.Options)
		default:
			f.Picked[f.Sel] = !f.Picked[f.Sel]
			m.Err = ""
		}
		return Editing, nil
	case f.typed():
		var cmd tea.Cmd
		f.input, cmd = f.input.Update(km)
		m.Err = ""
		return Editing, cmd
	}
	return Editing, nil
}

// cycle moves a choice to the next selectable option.
func (m *Model) cycle(f *Field, forward bool) {
	n := len(f.Options)
	step := 1
	if !forward {
		step = n - 1
	}
	for i, s := 0, f.Sel; i < n; i++ {
		s = (s + step) % n
		if f.Options[s].Disabled == "" {
			f.Sel = s
			m.Err = ""
			return
		}
	}
}

// typed fields take text from the keyboard.
func (f *Field) typed() bool { return f.Kind == Text || f.Kind == Number || f.Kind == Secret }

// Field returns the field with key, or nil.
func (m *Model) Field(key string) *Field {
	for _, f := range m.fields {
		if f.Key == key {
			return f
		}
	}
	return nil
}

// Value is a text field's trimmed text, a choice's value, a pick list's values joined by commas, or
// "on"/"off".
func (m *Model) Value(key string) string {
	f := m.Field(key)
	switch {
	case f == nil:
		return ""
	case f.Kind == Switch:
		if f.On {
			return "on"
		}
		return "off"
	case f.Kind == Secret:
		return f.input.Value()
	case f.Kind == Choice:
		if len(f.Options) == 0 {
			return ""
		}
		return f.Options[f.Sel].Value
	case f.Kind == Multi:
		var vs []string
		for i, o := range f.Options {
			if f.Picked[i] {
				vs = append(vs, o.Value)
			}
		}
		return strings.Join(vs, ",")
	}
	return strings.TrimSpace(f.input.Value())
}

// Bool is a switch's state.
func (m *Model) Bool(key string) bool { f := m.Field(key); return f != nil && f.On }

// Int parses a number field; the error names the field.
func (m *Model) Int(key string) (int, error) {
	f := m.Field(key)
	n, err := strconv.Atoi(m.Value(key))
	if err != nil {
		return 0, &FieldError{Label: f.Label, Rule: "must be a whole number"}
	}
	return n, nil
}

// Uint parses a number field as an id (empty is 0).
func (m *Model) Uint(key string) (uint64, error) {
	v := m.Value(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, &FieldError{Label: m.Field(key).Label, Rule: "must be a whole number"}
	}
	return n, nil
}

// FieldError is a form-level parse error.
type FieldError struct{ Label, Rule string }

func (e *FieldError) Error() string { return e.Label + " " + e.Rule }

// onLast is true while the last shown field is focused: enter saves there.
func (m *Model) onLast() bool { return m.next(m.focus, 1, false) < 0 }

// Help is the form's keys, enter described for the focused field.
func (m *Model) Help() keys.Help { return m.ctx.Keys.FormHelp(m.onLast()) }

// Focused is the key of the focused field.
func (m *Model) Focused() string { return m.fields[m.focus].Key }
