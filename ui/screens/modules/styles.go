package modules

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct {
	warn, bad, good, faint lipgloss.Style
}

func newStyles(t *theme.Theme) styles {
	return styles{warn: t.Warn, bad: t.Err, good: t.OK, faint: t.Faint}
}
