package wizardform

import (
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

// styles of the wizard's own chrome; the fields use huh's Charm theme. Colours drop out on their own
// under NO_COLOR because the caller sets lipgloss's profile to Ascii.
type styles struct {
	title, stepOn, stepOff, rule, label, value, muted, good, warn, bad, help lipgloss.Style
}

func defaultStyles() styles {
	p := theme.Palette
	fg := func(c lipgloss.TerminalColor) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }
	return styles{
		title:   fg(p.Accent).Bold(true),
		stepOn:  fg(p.Accent).Bold(true),
		stepOff: fg(p.Muted),
		rule:    fg(p.Rule),
		label:   fg(p.Muted),
		value:   lipgloss.NewStyle(),
		muted:   fg(p.Muted),
		good:    fg(p.Success),
		warn:    fg(p.Warning),
		bad:     fg(p.Danger),
		help:    lipgloss.NewStyle(),
	}
}

// formTheme is huh's Charm theme with the chosen button bracketed, so a yes/no switch still reads
// correctly without colour (NO_COLOR, or a screen reader reading the screen).
func formTheme() *huh.Theme {
	t := huh.ThemeCharm()
	on := func(s string) string { return "[" + s + "]" }
	off := func(s string) string { return " " + s + " " }
	t.Focused.FocusedButton = t.Focused.FocusedButton.Transform(on)
	t.Focused.BlurredButton = t.Focused.BlurredButton.Transform(off)
	t.Blurred.FocusedButton = t.Blurred.FocusedButton.Transform(on)
	t.Blurred.BlurredButton = t.Blurred.BlurredButton.Transform(off)
	return t
}
