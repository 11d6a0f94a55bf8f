// Package keys is the one keymap of the TUI: every binding lives here, and the same bindings feed the
// short help bar and the full help on `?`, so help can never drift from what the keys do.
package keys

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// KeyMap holds every binding the TUI reacts to.
type KeyMap struct {
	// Global.
	Screens [8]key.Binding
	// AnyScreen matches all of Screens, so full help names them on one line.
	AnyScreen key.Binding
	NextTab   key.Binding
	PrevTab   key.Binding
	Help      key.Binding
	Quit      key.Binding
	ForceQ    key.Binding
	Back      key.Binding
	Filter    key.Binding
	CopyID    key.Binding
	Refresh   key.Binding

	// Lists.
	Up       key.Binding
	Down     key.Binding
	Top      key.Binding
	Bottom   key.Binding
	HalfUp   key.Binding
	HalfDown key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Left     key.Binding
	Right    key.Binding
	Open     key.Binding

	// Screen actions.
	Add       key.Binding
	Edit      key.Binding
	Delete    key.Binding
	Test      key.Binding
	Deep      key.Binding
	Retry     key.Binding
	Cancel    key.Binding
	NewSvc    key.Binding
	Operation key.Binding
	CloseTask key.Binding
	ShowAll   key.Binding
	Mark      key.Binding
	MarkAll   key.Binding
	// Reconcile opens the Reconcile screen (on Modules).
	Reconcile key.Binding
	// Pause pauses or resumes the selected module (on Modules).
	Pause key.Binding

	// Forms and dialogs.
	NextField key.Binding
	PrevField key.Binding
	Toggle    key.Binding
	// Advance is enter in a form: the next field, or save on the last one, as in the Add wizard.
	Advance key.Binding
	// Submit saves a form from any field.
	Submit key.Binding
	Yes    key.Binding
	No     key.Binding
	// Confirm is enter in a question that needs a word typed.
	Confirm key.Binding
}

// Default returns the product's keymap.
func Default() *KeyMap {
	k := &KeyMap{
		NextTab: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
		PrevTab: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "toggle help")),
		Quit:    key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQ:  key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit (leaves a text field first)")),
		Back:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		CopyID:  key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy id")),
		Refresh: key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "reload")),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Top:      key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "bottom")),
		HalfUp:   key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "half page up")),
		HalfDown: key.NewBinding(key.WithKeys("ctrl+d"), key.WithHelp("ctrl+d", "half page down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Left:     key.NewBinding(key.WithKeys("left", "h", "["), key.WithHelp("←/h", "previous tab")),
		Right:    key.NewBinding(key.WithKeys("right", "l", "]"), key.WithHelp("→/l", "next tab")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),

		Add:       key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add")),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		Delete:    key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete")),
		Test:      key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "test connection")),
		Deep:      key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "deep check")),
		Retry:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry failed")),
		Cancel:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "cancel")),
		NewSvc:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new services")),
		Operation: key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "run operation")),
		CloseTask: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "close task")),
		ShowAll:   key.NewBinding(key.WithKeys("A"), key.WithHelp("A", "open/all")),
		Mark:      key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "mark")),
		MarkAll:   key.NewBinding(key.WithKeys("ctrl+a"), key.WithHelp("ctrl+a", "mark all shown")),
		Reconcile: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "reconcile")),
		Pause:     key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume")),

		NextField: key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab/↓", "next field")),
		PrevField: key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab/↑", "previous field")),
		Toggle:    key.NewBinding(key.WithKeys(" ", "left", "right"), key.WithHelp("space/←/→", "change choice")),
		Advance:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next field")),
		Submit:    key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "save")),
		Yes:       key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:        key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no")),
		Confirm:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm what is typed")),
	}
	names := [8]string{"modules", "services", "jobs", "tasks", "catalog", "tariffs", "lanes", "webhooks"}
	for i := range k.Screens {
		n := string(rune('1' + i))
		k.Screens[i] = key.NewBinding(key.WithKeys(n), key.WithHelp(n, names[i]))
		k.AnyScreen.SetKeys(append(k.AnyScreen.Keys(), n)...)
	}
	k.AnyScreen.SetHelp("1–8", "switch screen")
	return k
}

// Help is a help.KeyMap assembled by a screen from the bindings above.
type Help struct {
	Short []key.Binding
	Full  [][]key.Binding
}

func (h Help) ShortHelp() []key.Binding  { return h.Short }
func (h Help) FullHelp() [][]key.Binding { return h.Full }

// Global is the group every screen's full help ends with.
func (k *KeyMap) Global() []key.Binding {
	return []key.Binding{k.AnyScreen, k.NextTab, k.PrevTab, k.Help, k.Back, k.Quit, k.ForceQ}
}

// Movement is the list-navigation group.
func (k *KeyMap) Movement() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Top, k.Bottom, k.HalfUp, k.HalfDown, k.Filter, k.CopyID}
}

// Move is where a list cursor goes for a movement key in a list of total rows showing page of them at a
// time; ok is false for any other key. The result is not clamped: callers clamp to their rows.
func (k *KeyMap) Move(msg tea.KeyMsg, cursor, total, page int) (next int, ok bool) {
	half := max(page/2, 1)
	switch {
	case key.Matches(msg, k.Up):
		return cursor - 1, true
	case key.Matches(msg, k.Down):
		return cursor + 1, true
	case key.Matches(msg, k.Top):
		return 0, true
	case key.Matches(msg, k.Bottom):
		return total - 1, true
	case key.Matches(msg, k.HalfUp):
		return cursor - half, true
	case key.Matches(msg, k.HalfDown):
		return cursor + half, true
	case key.Matches(msg, k.PageUp):
		return cursor - page, true
	case key.Matches(msg, k.PageDown):
		return cursor + page, true
	}
	return cursor, false
}

// ScreenHelp builds a screen's help: its own actions first in the short bar, then quit and help.
func (k *KeyMap) ScreenHelp(actions ...key.Binding) Help {
	short := append(append([]key.Binding{}, actions...), k.Filter, k.Help, k.Quit)
	return Help{Short: short, Full: [][]key.Binding{actions, without(k.Movement(), actions), k.Global()}}
}

// without drops from group the keys a screen already lists among its actions (y copy id), so the full
// help names each key once.
func without(group, listed []key.Binding) []key.Binding {
	seen := map[string]bool{}
	for _, b := range listed {
		seen[b.Help().Key] = true
	}
	var out []key.Binding
	for _, b := range group {
		if !seen[b.Help().Key] {
			out = append(out, b)
		}
	}
	return out
}

// FormHelp is the help of a screen whose focus is in a form; onLast says the last field is focused,
// where enter saves instead of moving on. enter comes first: a narrow bar drops bindings from the
// right and keeps the last two (save, back), so enter, the key admins press, stays at 80 columns.
func (k *KeyMap) FormHelp(onLast bool) Help {
	advance := k.Advance
	if onLast {
		advance.SetHelp(advance.Help().Key, "save")
	}
	b := []key.Binding{advance, k.NextField, k.PrevField, k.Toggle, k.Submit, k.Back}
	return Help{Short: b, Full: [][]key.Binding{b}}
}
