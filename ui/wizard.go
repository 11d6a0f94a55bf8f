package ui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/ui/common"
	"vmmpm/ui/keys"
	"vmmpm/ui/wizardform"
)

// wizardScreen embeds the Add wizard (ui/wizardform) as a sub-screen of Modules.
type wizardScreen struct {
	ctx     *common.Context
	m       *wizardform.Model
	cancel  context.CancelFunc
	started bool
	w, h    int
}

func newWizard(ctx *common.Context, prefill wizardform.Prefill) common.Screen {
	c, cancel := context.WithCancel(context.Background())
	m := wizardform.New(ctx.Data.B, wizardform.Options{
		Width: ctx.Width, Height: ctx.BodyHeight(), Context: c, Prefill: prefill, Embedded: true})
	return &wizardScreen{ctx: ctx, m: m, cancel: cancel}
}

func (s *wizardScreen) Title() string              { return "Add module" }
func (s *wizardScreen) Capturing() bool            { return true }
func (s *wizardScreen) Selected() common.Selection { return common.Selection{} }

// Help is the wizard's own, phase by phase (y/n during a question, esc cancelling a check), in the app's bar.
func (s *wizardScreen) Help() keys.Help {
	b := s.m.HelpBindings()
	return keys.Help{Short: b, Full: [][]key.Binding{b}}
}

func (s *wizardScreen) Activate() tea.Cmd {
	if s.started {
		return nil
	}
	s.started = true
	return tea.Batch(s.resize(), s.m.Init())
}

// resize tells the wizard the room it has when the terminal changed.
func (s *wizardScreen) resize() tea.Cmd {
	w, h := s.ctx.Width, s.ctx.BodyHeight()
	if w == s.w && h == s.h {
		return nil
	}
	s.w, s.h = w, h
	_, cmd := s.m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return cmd
}

func (s *wizardScreen) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case wizardform.SavedMsg:
		s.cancel()
		info := fmt.Sprintf("module %d %q saved; its password is in %s", msg.Module.ID, msg.Module.Name,
			s.ctx.Data.Info.Secrets)
		if len(msg.Warnings) > 0 {
			info += "; " + strings.Join(msg.Warnings, "; ")
		}
		return tea.Batch(common.Pop, common.Changed, common.Info(info))
	case wizardform.CancelledMsg:
		s.cancel()
		return tea.Batch(common.Pop, common.Info("the wizard was left; nothing was saved"))
	case common.TickMsg:
		return s.resize()
	}
	_, cmd := s.m.Update(msg)
	return cmd
}

func (s *wizardScreen) View() string { return s.m.View() }
