// Package common is the context shared by every TUI component: terminal size, theme, keys, clock and
// the domain handles. The app owns one *Context and hands the same pointer to every screen.
package common

import (
	"errors"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/ui/keys"
	"vmmpm/ui/theme"
)

// Context is the program context: read by components, written only by the app.
type Context struct {
	Width  int
	Height int
	Theme  *theme.Theme
	Keys   *keys.KeyMap
	// Now is the clock; tests fix it so ages in golden files do not move.
	Now func() time.Time
	// Frame counts app ticks; spinners derive their frame from it so nothing else needs a timer.
	Frame int
	Data  *Data
	// FlashLines is how many lines a long message takes above the status line beyond its own one; the
	// body gives them up while it shows.
	FlashLines int
}

// New returns a context with the default keymap and the real clock.
func New(t *theme.Theme, d *Data) *Context {
	return &Context{Theme: t, Keys: keys.Default(), Now: time.Now, Data: d}
}

// Spinner is the current spinner glyph.
func (c *Context) Spinner() string {
	f := c.Theme.Spinner
	return f[c.Frame%len(f)]
}

// BodyHeight is the room a screen has between the app's header and footer lines.
func (c *Context) BodyHeight() int { return max(c.Height-HeaderLines-FooterLines-c.FlashLines, 3) }

// Layout lines the app reserves: tabs and a rule on top, status and help below.
const (
	HeaderLines = 2
	FooterLines = 3
)

// Flash is a one-line message for the status line, from any component.
type Flash struct {
	Text string
	Err  bool
}

// FlashMsg asks the app to show a message in the status line.
type FlashMsg Flash

// Info and Fail build flash commands.
func Info(text string) tea.Cmd { return func() tea.Msg { return FlashMsg{Text: text} } }
func Fail(err error) tea.Cmd {
	return func() tea.Msg { return FlashMsg{Text: Sentence(err), Err: true} }
}

// Sentence turns an error into the one sentence the status line shows.
func Sentence(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if s != "" && s[len(s)-1] != '.' {
		s += "."
	}
	return s
}

// DataChangedMsg tells every screen that records may have changed (after a save or delete).
type DataChangedMsg struct{}

// Changed is the command that broadcasts DataChangedMsg.
func Changed() tea.Msg { return DataChangedMsg{} }

// Age is a compact age: 42s, 5m, 3h, 2d.
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(int(d/time.Second), 0)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// Unreachable reports whether err says the server is out of reach (gone, or answering nothing),
// rather than what a read or an action was refused for.
func Unreachable(err error) bool {
	return errors.Is(err, server.ErrServerGone) || errors.Is(err, backend.ErrNotAnswering)
}

// ReadFailed is the message for a screen's read that failed; none when the server is out of reach:
// the status line says so already, and the screen keeps its last picture.
func ReadFailed(err error) tea.Cmd {
	if Unreachable(err) {
		return nil
	}
	return Fail(err)
}
