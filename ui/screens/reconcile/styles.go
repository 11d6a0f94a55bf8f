package reconcile

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct{ bad, warn, info, faint, title lipgloss.Style }

func newStyles(t *theme.Theme) styles {
	return styles{bad: t.Err, warn: t.Warn, info: lipgloss.NewStyle().Foreground(t.Info), faint: t.Faint, title: t.Title}
}
