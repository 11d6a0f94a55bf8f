package form

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct {
	title, label, focused, hint, err lipgloss.Style
}

func newStyles(t *theme.Theme) styles {
	return styles{
		title:   t.Title,
		label:   lipgloss.NewStyle(),
		focused: t.Selected,
		hint:    t.Faint,
		err:     t.Err,
	}
}
