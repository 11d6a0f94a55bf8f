package jobs

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/theme"
)

type styles struct {
	head, total, tabOn, tabOff, faint, err, label lipgloss.Style
	state                                         map[string]*lipgloss.Style
}

func newStyles(t *theme.Theme) styles {
	s := styles{
		head:   lipgloss.NewStyle().Bold(true).Foreground(t.Muted),
		total:  lipgloss.NewStyle().Bold(true),
		tabOn:  lipgloss.NewStyle().Bold(true).Foreground(t.Accent),
		tabOff: t.Faint,
		faint:  t.Faint,
		err:    t.Err,
		label:  t.Key,
		state:  map[string]*lipgloss.Style{},
	}
	for _, st := range store.JobStates {
		style := t.State(st)
		s.state[st] = &style
	}
	s.state[queue.JobUnreadable] = &s.err // Page's placeholder for a record that does not decode
	return s
}
