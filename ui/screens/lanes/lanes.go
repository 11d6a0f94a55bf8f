// Package lanes is the queue at a glance: one row per queue key with what it runs, for how long and
// how many wait, a timeline of its last operations as coloured cells, and each module's throughput,
// error rate, durations and VMmanager answer time, with a module VMmanager keeps refusing flagged.
// It draws only from the last stats.Snapshot it read: a frame costs no database read.
package lanes

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/stats"
	"vmmpm/ui/common"
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
}

// New builds the screen.
func New(ctx *common.Context) *Model {
	return &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
}

func (m *Model) Title() string   { return "Lanes" }
func (m *Model) Capturing() bool { return false }

func (m *Model) Selected() common.Selection {
	if l := m.lane(); l != nil {
		return common.Selection{ID: l.Key}
	}
	return common.Selection{}
}

func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	return keys.Help{
		Short: []key.Binding{k.Up, k.Down, k.CopyID, k.Help, k.Quit},
		Full:  [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom, k.HalfUp, k.HalfDown, k.PageUp, k.PageDown, k.CopyID}, k.Global()},
	}
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
	b := m.ctx.Data.B
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
	case tea.KeyMsg:
		m.key(msg)
	}
	return nil
}

func (m *Model) key(msg tea.KeyMsg) {
	n := 0
	if m.snap != nil {
		n = len(m.snap.Lanes)
	}
	m.cursor, _ = m.ctx.Keys.Move(msg, m.cursor, n, m.laneRows())
	m.clamp()
}

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
