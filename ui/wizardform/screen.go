package wizardform

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/ui/common"
	"vmmpm/ui/keys"
)

// screen embeds the wizard in the TUI as a sub-screen of Modules: Add (a) and edit (e) alike.
type screen struct {
	ctx     *common.Context
	m       *Model
	title   string
	cancel  context.CancelFunc
	started bool
	w, h    int
}

// NewScreen builds the wizard as a TUI screen with opt (Prefill for Add, Edit for a module's edit);
// the size, context and help bar come from the app.
func NewScreen(ctx *common.Context, opt Options) common.Screen {
	c, cancel := context.WithCancel(context.Background())
	opt.Width, opt.Height, opt.Context, opt.Embedded = ctx.Width, ctx.BodyHeight(), c, true
	title := "Add module"
	if opt.Edit != nil {
		title = "Edit module"
	}
	return &screen{ctx: ctx, m: New(ctx.Data.Backend(), opt), title: title, cancel: cancel}
}

func (s *screen) Title() string              { return s.title }
func (s *screen) Capturing() bool            { return true }
func (s *screen) Selected() common.Selection { return common.Selection{} }

// Help is the wizard's own, phase by phase (y/n during a question, esc cancelling a check), in the app's bar.
func (s *screen) Help() keys.Help {
	b := s.m.HelpBindings()
	return keys.Help{Short: b, Full: [][]key.Binding{b}}
}

func (s *screen) Activate() tea.Cmd {
	if s.started {
		return nil
	}
	s.started = true
	return tea.Batch(s.resize(), s.m.Init())
}

// resize tells the wizard the room it has when the terminal changed.
func (s *screen) resize() tea.Cmd {
	w, h := s.ctx.Width, s.ctx.BodyHeight()
	if w == s.w && h == s.h {
		return nil
	}
	s.w, s.h = w, h
	_, cmd := s.m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return cmd
}

func (s *screen) Update(msg tea.Msg) tea.Cmd {
	s.m.UseBackend(s.ctx.Data.Backend())
	switch msg := msg.(type) {
	case SavedMsg:
		s.cancel()
		info := fmt.Sprintf("module %d %q saved; its password is in %s", msg.Module.ID, msg.Module.Name,
			secretsOf(s.ctx.Data))
		if len(msg.Warnings) > 0 {
			info += "; " + strings.Join(msg.Warnings, "; ")
		}
		return tea.Batch(common.Pop, common.Changed, common.Info(info))
	case CancelledMsg:
		s.cancel()
		return tea.Batch(common.Pop, common.Info("the wizard was left; nothing was saved"))
	case common.TickMsg:
		return s.resize()
	}
	_, cmd := s.m.Update(msg)
	return cmd
}

func (s *screen) View() string { return s.m.View() }

// secretsOf says where the side holding the database keeps passwords.
func secretsOf(d *common.Data) string {
	info, _, _ := d.Link()
	return info.Secrets
}
