// Package theme holds the TUI's colours and shared styles. Components build their own styles from it.
package theme

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Theme is the palette plus the few styles every component shares.
type Theme struct {
	NoColor bool

	Accent  lipgloss.TerminalColor
	Muted   lipgloss.TerminalColor
	Warning lipgloss.TerminalColor
	Danger  lipgloss.TerminalColor
	Success lipgloss.TerminalColor
	Info    lipgloss.TerminalColor

	Title    lipgloss.Style
	Faint    lipgloss.Style
	Warn     lipgloss.Style
	Err      lipgloss.Style
	OK       lipgloss.Style
	Selected lipgloss.Style
	Key      lipgloss.Style
	Box      lipgloss.Style

	// Cursor marks the selected row, so selection shows even without colour.
	Cursor string
	// Spinner frames for running rows, advanced by the app's single tick.
	Spinner []string

	states map[string]lipgloss.Style
}

// Setup fixes the colour profile for the whole process (NO_COLOR / --no-color give none at all) and
// returns the theme. It is called once, before any style renders.
func Setup(noColor bool) *Theme {
	if noColor {
		lipgloss.SetColorProfile(termenv.Ascii)
		lipgloss.SetHasDarkBackground(true) // colours are off: no need to ask the terminal
	}
	// Ask the terminal for its background now, before the program reads keys: asked later, from the
	// first render, the query reads stdin beside Bubble Tea and swallows the first keys typed.
	_ = lipgloss.HasDarkBackground()
	return New(noColor)
}

// New builds the theme with the current colour profile.
func New(noColor bool) *Theme {
	t := &Theme{
		NoColor: noColor,
		Accent:  lipgloss.AdaptiveColor{Light: "#5A56E0", Dark: "#7D79F6"},
		Muted:   lipgloss.AdaptiveColor{Light: "#8A8A8A", Dark: "#767676"},
		Warning: lipgloss.AdaptiveColor{Light: "#B8860B", Dark: "#E5C07B"},
		Danger:  lipgloss.AdaptiveColor{Light: "#C0392B", Dark: "#E06C75"},
		Success: lipgloss.AdaptiveColor{Light: "#2E8B57", Dark: "#98C379"},
		Info:    lipgloss.AdaptiveColor{Light: "#1F75B5", Dark: "#61AFEF"},
		Cursor:  "›",
		Spinner: []string{"⣾", "⣽", "⣻", "⢿", "⡿", "⣟", "⣯", "⣷"},
	}
	t.Title = lipgloss.NewStyle().Bold(true).Foreground(t.Accent)
	t.Faint = lipgloss.NewStyle().Foreground(t.Muted)
	t.Warn = lipgloss.NewStyle().Foreground(t.Warning).Bold(true)
	t.Err = lipgloss.NewStyle().Foreground(t.Danger).Bold(true)
	t.OK = lipgloss.NewStyle().Foreground(t.Success)
	t.Selected = lipgloss.NewStyle().Bold(true).Foreground(t.Accent)
	t.Key = lipgloss.NewStyle().Bold(true)
	t.Box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.Accent).Padding(0, 1)
	t.buildStates()
	return t
}

// State styles a job or service state word.
func (t *Theme) State(state string) lipgloss.Style {
	if s, ok := t.states[state]; ok {
		return s
	}
	return t.Faint
}

func (t *Theme) buildStates() {
	fg := func(c lipgloss.TerminalColor) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }
	t.states = map[string]lipgloss.Style{
		"running": fg(t.Info), "processing": fg(t.Info),
		"retrying": fg(t.Warning), "suspended": fg(t.Warning),
		"failed": fg(t.Danger),
		"done":   fg(t.Success), "active": fg(t.Success),
	}
}
