package lanes

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/stats"
	"vmmpm/ui/theme"
)

type styles struct {
	head, name, faint, ok, warn, err, spark, errSpark, cursor lipgloss.Style
	cell                                                      map[byte]lipgloss.Style
}

// glyphs of the timeline: distinct shapes, so outcomes read without colour too.
var glyphs = map[byte]string{
	stats.OutDone: "█", stats.OutRetrying: "▒", stats.OutFailed: "╳", stats.OutCancelled: "·",
}

func newStyles(t *theme.Theme) styles {
	return styles{
		head:     lipgloss.NewStyle().Bold(true).Foreground(t.Muted),
		name:     t.Key,
		faint:    t.Faint,
		ok:       t.OK,
		warn:     t.Warn,
		err:      t.Err,
		spark:    lipgloss.NewStyle().Foreground(t.Info),
		errSpark: lipgloss.NewStyle().Foreground(t.Danger),
		cursor:   t.Selected,
		cell: map[byte]lipgloss.Style{
			stats.OutDone: t.State("done"), stats.OutRetrying: t.State("retrying"),
			stats.OutFailed: t.State("failed"), stats.OutCancelled: t.Faint,
		},
	}
}
