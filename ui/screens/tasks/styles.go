package tasks

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct{ open, closed, label, reason lipgloss.Style }

func newStyles(t *theme.Theme) styles {
	return styles{open: t.Warn, closed: t.Faint, label: t.Key, reason: t.Err}
}
