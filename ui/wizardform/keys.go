package wizardform

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/huh"
)

// KeyMap holds the wizard's own bindings; the focused field adds its own to the help bar.
type KeyMap struct {
	Back key.Binding
	Quit key.Binding
	// QuitOutsideText is q, honoured only when the focused field is not a text input (spec §10).
	QuitOutsideText key.Binding
	Cancel          key.Binding
	Yes             key.Binding
	No              key.Binding
	// Trust, CAFile and Skip answer a certificate that does not verify, in that order of preference.
	Trust  key.Binding
	CAFile key.Binding
	Skip   key.Binding
	// ScrollUp and ScrollDown move the Review page's summary when it is taller than the screen.
	ScrollUp   key.Binding
	ScrollDown key.Binding
}

// DefaultKeyMap: esc steps back, ctrl+c asks before leaving (q is a letter inside text fields).
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Back:            key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Quit:            key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		QuitOutsideText: key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Cancel:          key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel the check")),
		Yes:             key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:              key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no")),
		Trust:           key.NewBinding(key.WithKeys("t", "T"), key.WithHelp("t", "trust this certificate")),
		CAFile:          key.NewBinding(key.WithKeys("c", "C"), key.WithHelp("c", "CA file")),
		Skip:            key.NewBinding(key.WithKeys("s", "S"), key.WithHelp("s", "skip verification")),
		ScrollUp:        key.NewBinding(key.WithKeys("up", "k", "pgup"), key.WithHelp("↑/↓", "scroll")),
		ScrollDown:      key.NewBinding(key.WithKeys("down", "j", "pgdown")),
	}
}

// formKeyMap is huh's map without its own quit (the wizard asks first) and without select filtering
// (its esc would clash with stepping back).
func formKeyMap() *huh.KeyMap {
	km := huh.NewDefaultKeyMap()
	km.Quit = key.NewBinding(key.WithDisabled())
	km.Select.Filter.SetEnabled(false)
	km.Select.SetFilter.SetEnabled(false)
	km.Select.ClearFilter.SetEnabled(false)
	km.Select.Filter = key.NewBinding(key.WithDisabled())
	km.Select.Prev.SetHelp("shift+tab", "prev field")
	km.Input.Prev.SetHelp("shift+tab", "prev field")
	km.Confirm.Prev.SetHelp("shift+tab", "prev field")
	return km
}
