package wizardform

import (
	"github.com/charmbracelet/bubbles/help"
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

// newHelp is the help line on the palette: bubbles' own separator grey is near white on a light
// background.
func newHelp() help.Model {
	h := help.New()
	p := theme.Palette
	key := lipgloss.NewStyle().Foreground(p.Accent)
	desc := lipgloss.NewStyle().Foreground(p.Muted)
	h.Styles = help.Styles{ShortKey: key, ShortDesc: desc, ShortSeparator: desc, Ellipsis: desc,
		FullKey: key, FullDesc: desc, FullSeparator: desc}
	return h
}

// formTheme is huh's Charm theme on the app's palette (whose colours have explicit 256 and ANSI values,
// so none turns near black or white by nearest match), with the chosen button bracketed instead of on a
// coloured background, so a yes/no switch reads correctly without colour (NO_COLOR, a screen reader).
func formTheme() *huh.Theme {
	t := huh.ThemeCharm()
	p := theme.Palette
	f := &t.Focused
	f.Base = f.Base.BorderForeground(p.Accent)
	f.Card = f.Base
	f.Title = f.Title.Foreground(p.Accent)
	f.NoteTitle = f.NoteTitle.Foreground(p.Accent)
	f.Directory = f.Directory.Foreground(p.Accent)
	f.Description = f.Description.Foreground(p.Muted)
	f.ErrorIndicator = f.ErrorIndicator.Foreground(p.Danger)
	f.ErrorMessage = f.ErrorMessage.Foreground(p.Danger)
	for _, s := range []*lipgloss.Style{&f.SelectSelector, &f.NextIndicator, &f.PrevIndicator, &f.MultiSelectSelector,
		&f.TextInput.Prompt} {
		*s = s.Foreground(p.Accent)
	}
	f.Option = f.Option.UnsetForeground()
	f.UnselectedOption = f.UnselectedOption.UnsetForeground()
	f.SelectedOption = f.SelectedOption.Foreground(p.Success)
	f.SelectedPrefix = f.SelectedPrefix.Foreground(p.Success)
	f.UnselectedPrefix = f.UnselectedPrefix.Foreground(p.Muted)
	f.TextInput.Cursor = f.TextInput.Cursor.Foreground(p.Success)
	f.TextInput.Placeholder = f.TextInput.Placeholder.Foreground(p.Muted)
	on := func(s string) string { return "[" + s + "]" }
	off := func(s string) string { return " " + s + " " }
	f.FocusedButton = f.FocusedButton.UnsetBackground().Bold(true).Foreground(p.Accent).Transform(on)
	f.Next = f.FocusedButton
	f.BlurredButton = f.BlurredButton.UnsetBackground().Foreground(p.Muted).Transform(off)

	t.Blurred = t.Focused
	t.Blurred.Base = t.Focused.Base.BorderStyle(lipgloss.HiddenBorder())
	t.Blurred.Card = t.Blurred.Base
	t.Blurred.NextIndicator = lipgloss.NewStyle()
	t.Blurred.PrevIndicator = lipgloss.NewStyle()
	t.Group.Title = t.Focused.Title
	t.Group.Description = t.Focused.Description
	return t
}
