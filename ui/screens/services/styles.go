package services

import (
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/ui/theme"
)

type styles struct {
	status map[string]*lipgloss.Style
}

func newStyles(t *theme.Theme) styles {
	s := styles{status: map[string]*lipgloss.Style{}}
	for _, st := range []string{store.ServiceOrdered, store.ServiceProcessing, store.ServiceActive,
		store.ServiceSuspended, store.ServiceDeleted, store.ServiceFailed} {
		style := t.State(st)
		s.status[st] = &style
	}
	return s
}
