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

// colour gives one colour its value on every kind of terminal, for light and dark backgrounds: truecolor,
// the 256-colour cube and the 16 ANSI colours. lipgloss would derive the last two from the first by
// nearest match, and that turns #E06C75 into colour 232, near black on a dark background.
func colour(light, dark [3]string) lipgloss.CompleteAdaptiveColor {
	return lipgloss.CompleteAdaptiveColor{
		Light: lipgloss.CompleteColor{TrueColor: light[0], ANSI256: light[1], ANSI: light[2]},
		Dark:  lipgloss.CompleteColor{TrueColor: dark[0], ANSI256: dark[1], ANSI: dark[2]},
	}
}

// Palette is every colour the TUI draws with, light and dark, as truecolor, 256-colour and ANSI values.
var Palette = struct {
	Accent, Muted, Warning, Danger, Success, Info, Rule lipgloss.CompleteAdaptiveColor
}{
	Accent:  colour([3]string{"#5A56E0", "62", "4"}, [3]string{"#7D79F6", "105", "12"}),
	Muted:   colour([3]string{"#767676", "243", "8"}, [3]string{"#8A8A8A", "245", "8"}),
	Warning: colour([3]string{"#946C00", "136", "3"}, [3]string{"#E5C07B", "180", "11"}),
	Danger:  colour([3]string{"#C0392B", "160", "1"}, [3]string{"#E06C75", "167", "9"}),
	Success: colour([3]string{"#2E8B57", "29", "2"}, [3]string{"#98C379", "114", "10"}),
	Info:    colour([3]string{"#1F75B5", "25", "6"}, [3]string{"#61AFEF", "75", "14"}),
	Rule:    colour([3]string{"#B2B2B2", "249", "8"}, [3]string{"#585858", "240", "8"}),
}

// New builds the theme with the current colour profile.
func New(noColor bool) *Theme {
	t := &Theme{
		NoColor: noColor,
		Accent:  Palette.Accent,
		Muted:   Palette.Muted,
		Warning: Palette.Warning,
		Danger:  Palette.Danger,
		Success: Palette.Success,
		Info:    Palette.Info,
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
