package webhooks

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct{ label, err, warn lipgloss.Style }

func newStyles(t *theme.Theme) styles { return styles{label: t.Key, err: t.Err, warn: t.Warn} }
