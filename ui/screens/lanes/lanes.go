// Package lanes is the queue at a glance: one row per queue key with what it runs, for how long and
// how many wait, a timeline of its last operations as coloured cells, and each module's throughput,
// error rate, durations and VMmanager answer time, with a module VMmanager keeps refusing flagged.
// It draws only from the last stats.Snapshot it read: a frame costs no database read.
package lanes

import (
	"context"
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/stats"
	"vmmpm/ui/common"
	"vmmpm/ui/components/confirm"
	"vmmpm/ui/keys"
)

// The figures are read again at most every MinReread while events move the data version (a busy
// engine moves it on every tick), and every Reread when none does (the minute axis moves on its own).
const (
	MinReread = time.Second
	Reread    = 5 * time.Second
)

// LoadedMsg carries a snapshot read off the UI goroutine.
type LoadedMsg struct {
	Snapshot *stats.Snapshot
	Err      error
}

// Model is the Lanes screen.
type Model struct {
	ctx     *common.Context
	styles  styles
	snap    *stats.Snapshot
	err     error
	cursor  int
	top     int // first lane row shown
	version uint64
	readAt  time.Time
	takenAt time.Time // when snap was read
	loading bool
	ask     *confirm.Model // the question before a stuck job is cancelled
}

// cancelledMsg is the end of a stuck job's cancel.
type cancelledMsg struct {
	job uint64
	err error
}

// New builds the screen.
func New(ctx *common.Context) *Model {
	return &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
}

func (m *Model) Title() string   { return "Lanes" }
func (m *Model) Capturing() bool { return m.ask != nil }

func (m *Model) Selected() common.Selection {
	if l := m.lane(); l != nil {
		return common.Selection{ID: l.Key}
	}
	return common.Selection{}
}

func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	if m.ask != nil {
		return keys.Help{Short: []key.Binding{k.Yes, k.No}}
	}
	stuck := cancelStuck(k)
	return keys.Help{
		Short: []key.Binding{k.Up, k.Down, stuck, k.CopyID, k.Help, k.Quit},
		Full:  [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom, k.HalfUp, k.HalfDown, k.PageUp, k.PageDown, stuck, k.CopyID}, k.Global()},
	}
}

// cancelStuck is the keymap's cancel, said as what it does here.
func cancelStuck(k *keys.KeyMap) key.Binding {
	return key.NewBinding(key.WithKeys(k.Cancel.Keys()...), key.WithHelp(k.Cancel.Help().Key, "cancel stuck job"))
}

// TakenAt is when the figures shown were read (zero before the first read).
func (m *Model) TakenAt() time.Time { return m.takenAt }

// Activate reads the figures.
func (m *Model) Activate() tea.Cmd { return m.load() }

func (m *Model) load() tea.Cmd {
	if m.loading || m.ctx.Data == nil {
		return nil
	}
	m.loading, m.version, m.readAt = true, m.ctx.Data.Version(), m.ctx.Now()
	b := m.ctx.Data.Backend()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), common.ReadTimeout)
		defer cancel()
		s, err := b.Stats(ctx)
		return LoadedMsg{Snapshot: s, Err: err}
	}
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case LoadedMsg:
		m.loading = false
		m.err = msg.Err
		if msg.Err == nil {
			m.snap, m.takenAt = msg.Snapshot, m.ctx.Now()
			m.clamp()
		}
	case common.TickMsg:
		if m.ctx.Data == nil {
			return nil
		}
		if age := m.ctx.Now().Sub(m.readAt); age >= Reread || (age >= MinReread && m.ctx.Data.Version() != m.version) {
			return m.load()
		}
	case common.DataChangedMsg:
		return m.load()
	case cancelledMsg:
		if msg.err != nil {
			return common.Fail(msg.err)
		}
		return tea.Batch(m.load(), common.Info(fmt.Sprintf("job %d cancelled; its record names what VMmanager may still run, and its department has a task", msg.job)))
	case tea.KeyMsg:
		return m.key(msg)
	}
	return nil
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if cmd, took := confirm.Route(&m.ask, msg); took {
		return cmd
	}
	if key.Matches(msg, m.ctx.Keys.Cancel) {
		return m.askCancel()
	}
	n := 0
	if m.snap != nil {
		n = len(m.snap.Lanes)
	}
	m.cursor, _ = m.ctx.Keys.Move(msg, m.cursor, n, m.laneRows())
	m.clamp()
	return nil
}

// askCancel asks before cancelling the job of the selected lane, when the lane is STUCK.
func (m *Model) askCancel() tea.Cmd {
	l := m.lane()
	if l == nil || l.Running == nil || m.pace(l, m.ctx.Now().Sub(l.Running.Since)) < 2 {
		return common.Info("only a lane marked STUCK offers a cancel here; vmmpm jobs cancel ID cancels any job")
	}
	r, b := l.Running, m.ctx.Data.Backend()
	q := fmt.Sprintf("Cancel job %d (%s of service %d), running for %s on lane %s?\n"+
		"The engine stops waiting for VMmanager, which may still run its task: the job's record names it,\n"+
		"the service is flagged for a reconcile look and its department gets a task.",
		r.Job, r.Type, r.Service, stats.Short(m.ctx.Now().Sub(r.Since)), l.Key)
	m.ask = confirm.New(m.ctx, q, func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
		defer cancel()
		return cancelledMsg{job: r.Job, err: b.Cancel(ctx, r.Job)}
	})
	return nil
}

// cancelWait bounds how long the screen waits for the engine to record a cancel.
const cancelWait = time.Minute

func (m *Model) clamp() {
	n := 0
	if m.snap != nil {
		n = len(m.snap.Lanes)
	}
	m.cursor = max(min(m.cursor, n-1), 0)
	rows := m.laneRows()
	if m.cursor < m.top {
		m.top = m.cursor
	}
	if m.cursor >= m.top+rows {
		m.top = m.cursor - rows + 1
	}
	m.top = max(min(m.top, n-rows), 0)
}

func (m *Model) lane() *stats.Lane {
	if m.snap == nil || m.cursor >= len(m.snap.Lanes) {
		return nil
	}
	return &m.snap.Lanes[m.cursor]
}
