package table

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct {
	header   lipgloss.Style
	selected lipgloss.Style
	faint    lipgloss.Style
}

func newStyles(t *theme.Theme) styles {
	return styles{
		header:   lipgloss.NewStyle().Bold(true).Foreground(t.Muted),
		selected: t.Selected,
		faint:    t.Faint,
	}
}
