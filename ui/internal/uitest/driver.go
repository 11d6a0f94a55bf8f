package uitest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
)

// Driver runs a model's Update loop synchronously: each message's commands run at once and their
// messages are fed back, as the Bubble Tea runtime would, until nothing is left. Timers (spinners,
// blinking cursors) are dropped so a test never waits on them.
type Driver struct {
	tb    testing.TB
	Model tea.Model
	Quit  bool
}

// Drive starts a driver on m, running its Init.
func Drive(tb testing.TB, m tea.Model) *Driver {
	d := &Driver{tb: tb, Model: m}
	d.run(m.Init())
	return d
}

// Send delivers msg and everything it causes.
func (d *Driver) Send(msgs ...tea.Msg) *Driver {
	for _, msg := range msgs {
		d.deliver(msg)
	}
	return d
}

// Keys sends key names (see Key) one after another; a name of several runes is typed as text.
func (d *Driver) Keys(names ...string) *Driver {
	for _, n := range names {
		d.deliver(Key(n))
	}
	return d
}

// Type types text one rune at a time.
func (d *Driver) Type(text string) *Driver {
	for _, r := range text {
		d.deliver(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	return d
}

// View is the model's view with ANSI removed.
func (d *Driver) View() string { return Strip(d.Model.View()) }

const maxSteps = 10000

func (d *Driver) deliver(msg tea.Msg) {
	pending := []tea.Msg{msg}
	for steps := 0; len(pending) > 0; steps++ {
		if steps > maxSteps {
			d.tb.Fatalf("the model did not settle after %d messages", maxSteps)
		}
		m := pending[0]
		pending = pending[1:]
		if _, ok := m.(tea.QuitMsg); ok {
			d.Quit = true
			continue
		}
		var cmd tea.Cmd
		d.Model, cmd = d.Model.Update(m)
		pending = append(pending, d.exec(cmd)...)
	}
}

func (d *Driver) run(cmd tea.Cmd) { d.deliverAll(d.exec(cmd)) }

func (d *Driver) deliverAll(msgs []tea.Msg) {
	for _, m := range msgs {
		d.deliver(m)
	}
}

// exec runs a command; one that does not answer within a short while is a timer and is dropped.
func (d *Driver) exec(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(commandWait):
		return nil
	}
	switch msg := msg.(type) {
	case nil:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, d.exec(c)...)
		}
		return out
	}
	if isTimer(msg) {
		return nil
	}
	return []tea.Msg{msg}
}

// isTimer spots the spinner and cursor timers, whose messages would come back forever.
func isTimer(msg tea.Msg) bool {
	if _, ok := msg.(spinner.TickMsg); ok {
		return true
	}
	t := fmt.Sprintf("%T", msg)
	return strings.HasPrefix(t, "cursor.") || strings.HasPrefix(t, "spinner.")
}

// commandWait is how long a command may run before it is taken for a timer. Database reads and engine
// calls in fixtures finish well within it.
const commandWait = 2 * time.Second
