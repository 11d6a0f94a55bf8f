package wizardform

import (
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
)

// styles of the wizard's own chrome; the fields use huh's Charm theme. Colours drop out on their own
// under NO_COLOR because the caller sets lipgloss's profile to Ascii.
type styles struct {
	title, stepOn, stepOff, rule, label, value, muted, good, warn, bad, help lipgloss.Style
}

func defaultStyles() styles {
	indigo := lipgloss.AdaptiveColor{Light: "#5A56E0", Dark: "#7571F9"}
	return styles{
		title:   lipgloss.NewStyle().Bold(true).Foreground(indigo),
		stepOn:  lipgloss.NewStyle().Bold(true).Foreground(indigo),
		stepOff: lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "245", Dark: "243"}),
		rule:    lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "250", Dark: "238"}),
		label:   lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "241", Dark: "246"}),
		value:   lipgloss.NewStyle(),
		muted:   lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "245", Dark: "243"}),
		good:    lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#02BA84", Dark: "#02BF87"}),
		warn:    lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#B7791F", Dark: "#F6C177"}),
		bad:     lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "#FF4672", Dark: "#ED567A"}),
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
