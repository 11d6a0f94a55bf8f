package tasks

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct{ open, closed lipgloss.Style }

func newStyles(t *theme.Theme) styles { return styles{open: t.Warn, closed: t.Faint} }
