package params

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct {
	label, preview, err, faint lipgloss.Style
}

func newStyles(t *theme.Theme) styles {
	return styles{label: t.Key, preview: t.OK, err: t.Err, faint: t.Faint}
}
