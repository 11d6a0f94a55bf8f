package listscreen

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/theme"
)

type styles struct{ form lipgloss.Style }

func newStyles(*theme.Theme) styles {
	return styles{form: lipgloss.NewStyle().Padding(1, 2)}
}
