package catalog

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct{ active, inactive lipgloss.Style }

func newStyles(t *theme.Theme) styles {
	return styles{active: t.Title, inactive: t.Faint}
}
