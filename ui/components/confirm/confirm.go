// Package confirm is the question that guards destructive actions: a yes/no, or, for what cannot be
// undone (deleting a VM, wiping its disk, an action over many services), one that needs a word typed.
package confirm

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"vmmpm/ui/common"
	"vmmpm/ui/keys"
)

// Model asks Question and runs OnYes when the answer is yes.
type Model struct {
	ctx      *common.Context
	Question string
	OnYes    tea.Cmd
	// Then, if set, runs on the UI goroutine when the answer is yes (to drop marks the action used).
	Then func()
	// typed, when set, is what must be typed (and enter pressed) for a yes; y does not do.
	typed string
	input textinput.Model
	wrong string
	box   lipgloss.Style
}

// New builds the question; onYes runs only on an explicit yes.
func New(ctx *common.Context, question string, onYes tea.Cmd) *Model {
	return &Model{ctx: ctx, Question: question, OnYes: onYes,
		box: ctx.Theme.Box.BorderForeground(ctx.Theme.Danger)}
}

// NewTyped builds a question answered yes only by typing want and pressing enter, so a stray y (or a
// key meant for the list behind it) can never say yes to what cannot be undone.
func NewTyped(ctx *common.Context, question, want string, onYes tea.Cmd) *Model {
	m := New(ctx, question, onYes)
	m.typed = want
	m.input = textinput.New()
	m.input.Prompt = "> "
	m.input.CharLimit = 64
	m.input.Cursor.SetMode(cursor.CursorStatic) // no blink timer to route through the screens
	m.input.Focus()
	return m
}

// Update returns done when the question is answered (yes or no) and the command to run.
func (m *Model) Update(msg tea.KeyMsg) (done bool, cmd tea.Cmd) {
	if m.typed != "" {
		return m.updateTyped(msg)
	}
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Yes):
		return m.yes()
	case key.Matches(msg, k.No), msg.String() == "ctrl+c":
		return true, nil
	}
	return false, nil
}

func (m *Model) yes() (bool, tea.Cmd) {
	if m.Then != nil {
		m.Then()
	}
	return true, m.OnYes
}

// updateTyped: enter with the word typed is yes, esc or ctrl+c is no; every other key is typing.
func (m *Model) updateTyped(msg tea.KeyMsg) (bool, tea.Cmd) {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Back), msg.String() == "ctrl+c":
		return true, nil
	case key.Matches(msg, k.Confirm):
		if strings.TrimSpace(m.input.Value()) == m.typed {
			return m.yes()
		}
		m.wrong = "that is not " + m.typed + "; type " + m.typed + " and press enter, or esc to leave it"
		return false, nil
	}
	m.wrong = ""
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return false, cmd
}

// Help is the question's keys.
func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	b := []key.Binding{k.Yes, k.No}
	if m.typed != "" {
		b = []key.Binding{k.Confirm, k.Back}
	}
	return keys.Help{Short: b, Full: [][]key.Binding{b}}
}

// View draws the question in a box no wider than the screen; the question wraps inside it.
func (m *Model) View() string {
	room := max(min(m.ctx.Width-6, 76), 20)
	q := ansi.Wrap(m.Question, room, " ")
	th := m.ctx.Theme
	if m.typed == "" {
		return m.box.Render(q + "\n\n" + th.Key.Render("y") + " yes   " + th.Key.Render("n/esc") + " no")
	}
	m.input.Width = min(room-3, 40)
	foot := ansi.Wrap("type "+th.Key.Render(m.typed)+" and press "+th.Key.Render("enter")+" to go ahead; "+
		th.Key.Render("esc")+" leaves it, nothing done", room, " ")
	if m.wrong != "" {
		foot = th.Err.Render(ansi.Wrap(m.wrong, room, " "))
	}
	return m.box.Render(q + "\n\n" + m.input.View() + "\n\n" + foot)
}

// Route gives msg to the open question *ask, if any, and reports whether it took it; an answered
// question is cleared. Screens call it first in their key handling.
func Route(ask **Model, msg tea.KeyMsg) (tea.Cmd, bool) {
	if *ask == nil {
		return nil, false
	}
	done, cmd := (*ask).Update(msg)
	if done {
		*ask = nil
	}
	return cmd, true
}
