package uitest

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/ui/common"
)

// screen runs one screen as a tea.Model: Init activates it, as the app does when it comes to the front.
type screen struct{ s common.Screen }

func (m screen) Init() tea.Cmd                           { return m.s.Activate() }
func (m screen) Update(msg tea.Msg) (tea.Model, tea.Cmd) { return m, m.s.Update(msg) }
func (m screen) View() string                            { return m.s.View() }

// DriveScreen drives one screen without the app around it (no tabs, header or flash line).
func DriveScreen(tb testing.TB, s common.Screen) *Driver { return Drive(tb, screen{s}) }
