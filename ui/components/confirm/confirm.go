// Package confirm is a yes/no question that guards destructive actions.
package confirm

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/common"
)

// Model asks Question and runs OnYes when the answer is yes.
type Model struct {
	ctx      *common.Context
	Question string
	OnYes    tea.Cmd
	// Then, if set, runs on the UI goroutine when the answer is yes (to drop marks the action used).
	Then func()
	box  lipgloss.Style
}

// New builds the question; onYes runs only on an explicit yes.
func New(ctx *common.Context, question string, onYes tea.Cmd) *Model {
	return &Model{ctx: ctx, Question: question, OnYes: onYes,
		box: ctx.Theme.Box.BorderForeground(ctx.Theme.Danger)}
}

// Update returns done when the question is answered (yes or no) and the command to run.
func (m *Model) Update(msg tea.KeyMsg) (done bool, cmd tea.Cmd) {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Yes):
		if m.Then != nil {
			m.Then()
		}
		return true, m.OnYes
	case key.Matches(msg, k.No), msg.String() == "ctrl+c":
		return true, nil
	}
	return false, nil
}

// View draws the question in a box.
func (m *Model) View() string {
	return m.box.Render(m.Question + "\n\n" + m.ctx.Theme.Key.Render("y") + " yes   " +
		m.ctx.Theme.Key.Render("n/esc") + " no")
}
