package ui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct {
	brand, tab, tabActive, rule, faint, ok, warn, err lipgloss.Style
	helpBox, helpTitle                                lipgloss.Style
	help                                              help.Styles
}

func newStyles(t *theme.Theme) styles {
	key := lipgloss.NewStyle().Bold(true).Foreground(t.Accent)
	desc := lipgloss.NewStyle().Foreground(t.Muted)
	return styles{
		brand:     lipgloss.NewStyle().Bold(true).Reverse(true).Foreground(t.Accent),
		tab:       lipgloss.NewStyle().Foreground(t.Muted),
		tabActive: lipgloss.NewStyle().Bold(true).Foreground(t.Accent),
		rule:      lipgloss.NewStyle().Foreground(t.Muted),
		faint:     t.Faint,
		ok:        t.OK,
		warn:      t.Warn,
		err:       t.Err,
		helpBox:   t.Box.Padding(1, 2),
		helpTitle: t.Title,
		help: help.Styles{
			ShortKey: key, ShortDesc: desc, ShortSeparator: desc, Ellipsis: desc,
			FullKey: key, FullDesc: desc, FullSeparator: desc,
		},
	}
}
