// Package listscreen is the frame the list screens (modules, services, tasks, catalog, tariffs) share:
// their rows lists, the form or yes/no question that replaces them, reloading when the data version
// moves, key routing and help. A screen embeds *Base and keeps only its columns, rows, actions and
// records; Base keeps nothing of the screen's data.
package listscreen

import (
	"strconv"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/confirm"
	"vmmpm/ui/components/form"
	"vmmpm/ui/keys"
)

// List is what the frame needs of a list, whatever its item type; *rows.Model[T] is one.
type List interface {
	// Update handles movement and filter keys (and the filter's messages); handled is false for keys
	// it leaves to the screen.
	Update(msg tea.Msg) (handled bool, cmd tea.Cmd)
	Capturing() bool
	SetSize(width, height int)
	View() string
	SelectedID() (uint64, bool)
	// Acted notes that an action of the screen just changed the selected record.
	Acted()
}

// Spec is what a screen adds to the frame.
type Spec struct {
	// Load re-reads the screen's records: on Activate, on DataChangedMsg, and on a tick after the data
	// version moved.
	Load func() tea.Cmd
	// Key handles a key that no form, question or list took.
	Key func(tea.KeyMsg) tea.Cmd
	// Actions are the screen's own bindings, first in its help. A func, so help reads the live keymap.
	Actions func(*keys.KeyMap) []key.Binding
	// Focus is the list that takes movement keys and names the selection; nil means the first list.
	Focus func() List
	// Body draws the lists in width×height; nil draws the first list over the whole body.
	Body func(width, height int) string
	// Module is the selected record's module, for the status line; nil when records have none.
	Module func() *store.Module
}

// Base is the shared state of a list screen: a form, a question, or a question over the form it came from.
type Base struct {
	ctx     *common.Context
	spec    Spec
	lists   []List
	form    *form.Model
	submit  func(*form.Model) tea.Cmd
	confirm *confirm.Model
	version uint64
	styles  styles
}

// New builds the frame over the screen's lists (at least one).
func New(ctx *common.Context, spec Spec, lists ...List) *Base {
	if spec.Focus == nil {
		spec.Focus = func() List { return lists[0] }
	}
	return &Base{ctx: ctx, spec: spec, lists: lists, styles: newStyles(ctx.Theme)}
}

// doneMsg reports an action started with Run; to keeps one screen from acting on another's result,
// since the app hands results to every screen.
type doneMsg struct {
	to   *Base
	info string
	err  error
}

// Run runs do off the UI goroutine. Its info goes to the status line after a DataChangedMsg to every
// screen, and the form closes; its error stays in the open form, or goes to the status line.
func (b *Base) Run(do func() (info string, err error)) tea.Cmd {
	return func() tea.Msg {
		info, err := do()
		return doneMsg{to: b, info: info, err: err}
	}
}

// Ask opens a yes/no question; yes runs do as Run does.
func (b *Base) Ask(question string, do func() (info string, err error)) tea.Cmd {
	return b.AskThen(question, nil, do)
}

// AskThen is Ask where yes also runs then at once on the UI goroutine (to drop the marks it used).
func (b *Base) AskThen(question string, then func(), do func() (info string, err error)) tea.Cmd {
	b.confirm = confirm.New(b.ctx, question, b.Run(do))
	b.confirm.Then = then
	return nil
}

// AskTyped is AskThen for what cannot be undone: yes is want typed and enter, never a single key. An
// open form stays under the question: esc goes back to it as it was filled.
func (b *Base) AskTyped(question, want string, then func(), do func() (info string, err error)) tea.Cmd {
	b.confirm = confirm.NewTyped(b.ctx, question, want, b.Run(do))
	b.confirm.Then = then
	return nil
}

// AskCmd opens a yes/no question in place of the lists (or of the open form, which it closes); yes
// runs cmd, whose message goes to the screens like any result, so the screen itself reads the outcome.
func (b *Base) AskCmd(question string, cmd tea.Cmd) tea.Cmd {
	b.form = nil
	b.confirm = confirm.New(b.ctx, question, cmd)
	return nil
}

// OpenForm shows f in place of the lists; ctrl+s, or enter on its last field, calls submit; esc closes it.
func (b *Base) OpenForm(f *form.Model, submit func(*form.Model) tea.Cmd) tea.Cmd {
	b.form, b.submit = f, submit
	return f.Init()
}

// Activate loads the records.
func (b *Base) Activate() tea.Cmd { return b.spec.Load() }

// Update handles the messages every list screen treats alike; the screen handles its own first.
func (b *Base) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case common.TickMsg:
		if v := b.ctx.Data.Version(); v != b.version {
			b.version = v
			return b.spec.Load()
		}
		return nil
	case common.DataChangedMsg:
		return b.spec.Load()
	case doneMsg:
		if msg.to == b {
			return b.done(msg)
		}
		return nil
	case tea.KeyMsg:
		return b.key(msg)
	}
	if b.form != nil {
		_, cmd := b.form.Update(msg)
		return cmd
	}
	cmds := make([]tea.Cmd, len(b.lists))
	for i, l := range b.lists {
		_, cmds[i] = l.Update(msg)
	}
	return tea.Batch(cmds...)
}

func (b *Base) done(msg doneMsg) tea.Cmd {
	if msg.err != nil {
		if b.form != nil {
			b.form.Err = common.Sentence(msg.err)
			return nil
		}
		return common.Fail(msg.err)
	}
	b.form = nil
	for _, l := range b.lists {
		l.Acted()
	}
	return tea.Batch(common.Changed, common.Info(msg.info))
}

// key routes a key: to the question, else the form, else the focused list, else the screen.
func (b *Base) key(msg tea.KeyMsg) tea.Cmd {
	switch {
	case b.confirm != nil:
		done, cmd := b.confirm.Update(msg)
		if done {
			b.confirm = nil
		}
		return cmd
	case b.form != nil:
		res, cmd := b.form.Update(msg)
		switch res {
		case form.Cancelled:
			b.form = nil
			return nil
		case form.Submitted:
			return b.submit(b.form)
		}
		return cmd
	}
	if handled, cmd := b.spec.Focus().Update(msg); handled {
		return cmd
	}
	return b.spec.Key(msg)
}

// Help is the form's or the question's keys while one is open, else the screen's actions.
func (b *Base) Help() keys.Help {
	k := b.ctx.Keys
	switch {
	case b.confirm != nil:
		return b.confirm.Help()
	case b.form != nil:
		return b.form.Help()
	}
	return k.ScreenHelp(b.spec.Actions(k)...)
}

// Capturing is true while a form, a question or a list's filter has the keyboard.
func (b *Base) Capturing() bool {
	if b.form != nil || b.confirm != nil {
		return true
	}
	for _, l := range b.lists {
		if l.Capturing() {
			return true
		}
	}
	return false
}

// TakenAt is when the oldest of the lists was read (zero while one was never read), for the stale
// mark the app puts on the picture once the server is gone.
func (b *Base) TakenAt() time.Time {
	var oldest time.Time
	for _, l := range b.lists {
		d, ok := l.(common.Dated)
		if !ok {
			continue
		}
		at := d.TakenAt()
		if at.IsZero() {
			return at
		}
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
	}
	return oldest
}

// Selected names the focused list's selected record and its module.
func (b *Base) Selected() common.Selection {
	id, ok := b.spec.Focus().SelectedID()
	if !ok {
		return common.Selection{}
	}
	sel := common.Selection{ID: strconv.FormatUint(id, 10)}
	if b.spec.Module != nil {
		sel.Module = b.spec.Module()
	}
	return sel
}

// View draws the question centred, else the open form, else the lists.
func (b *Base) View() string {
	w, h := b.ctx.Width, b.ctx.BodyHeight()
	switch {
	case b.confirm != nil:
		return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, b.confirm.View())
	case b.form != nil:
		return b.styles.form.Render(b.form.View())
	case b.spec.Body != nil:
		return b.spec.Body(w, h)
	}
	b.lists[0].SetSize(w, h)
	return b.lists[0].View()
}
