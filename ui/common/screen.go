package common

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/store"
	"vmmpm/ui/keys"
)

// Screen is one page of the app. Screens mutate themselves in Update; the app owns their order.
type Screen interface {
	// Activate is called when the screen comes to the front; it returns the fetch of fresh data.
	Activate() tea.Cmd
	Update(msg tea.Msg) tea.Cmd
	View() string
	Title() string
	Help() keys.Help
	// Capturing is true while a text field or dialog has the keyboard: global keys (q, digits) are off.
	Capturing() bool
	// Selected is the row under the cursor, for `y` and the status line.
	Selected() Selection
}

// Selection names the selected record. ID is what `y` copies.
type Selection struct {
	ID     string
	Module *store.Module
}

// PushMsg opens a sub-screen (module parameters, job detail, the wizard) over the current one.
type PushMsg struct{ Screen Screen }

// PopMsg closes the sub-screen on top.
type PopMsg struct{}

// Push and Pop build the commands.
func Push(s Screen) tea.Cmd { return func() tea.Msg { return PushMsg{Screen: s} } }
func Pop() tea.Msg          { return PopMsg{} }

// TickMsg is the app's single repaint tick; the frame counter is already advanced.
type TickMsg struct{}

// Dated is a screen (or list) that knows when the picture it shows was read: after the server goes,
// the app marks that picture stale with this time. Zero means nothing was read yet.
type Dated interface {
	TakenAt() time.Time
}
