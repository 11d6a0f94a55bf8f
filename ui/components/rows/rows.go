// Package rows is an in-memory list for the smaller screens (modules, services, tasks, catalog,
// tariffs): it filters with `/`, keeps the selection on the same record across reloads, and draws
// through the virtual table, so only visible rows are formatted.
package rows

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/ui/common"
	"vmmpm/ui/components/table"
)

// Model lists items of type T.
type Model[T any] struct {
	Table table.Model
	all   []T
	vis   []int
	// ID identifies an item, to keep the cursor on it when the list reloads.
	ID func(T) uint64
	// Cells formats column col of an item; Text is what the filter matches (lower-cased).
	Cells func(T, int) string
	Text  func(T) string
	// Style optionally styles a cell; nil means plain.
	Style func(T, int) *lipgloss.Style
	// Noun names one item in messages ("task"); the default is "record".
	Noun string
	// Multi lets space and ctrl+a mark items for an action on several at once.
	Multi  bool
	marked map[uint64]bool
	// acted is the record an action of this screen just changed: its leaving is no news.
	acted uint64
	// takenAt is when Set last got the items: the time of the picture the list shows.
	takenAt time.Time
	ctx     *common.Context
}

// New builds the list with its columns.
func New[T any](ctx *common.Context, id func(T) uint64, cells func(T, int) string, text func(T) string,
	cols ...table.Column) *Model[T] {
	return &Model[T]{Table: table.New(ctx, cols...), ID: id, Cells: cells, Text: text, Noun: "record",
		marked: map[uint64]bool{}, ctx: ctx}
}

// Set replaces the items, keeping the cursor on the previously selected one when it is still there.
// When it is gone the cursor stays on the same row, and the returned command says so, so that an
// action meant for the old record is not taken for the one now under the cursor. Marks of items that
// are gone are dropped.
func (m *Model[T]) Set(items []T) tea.Cmd {
	prev, had := m.Selected()
	m.all, m.takenAt = items, m.ctx.Now()
	m.refilter()
	present := make(map[uint64]bool, len(items))
	for _, it := range items {
		present[m.ID(it)] = true
	}
	for id := range m.marked {
		if !present[id] {
			delete(m.marked, id)
		}
	}
	if !had {
		return nil
	}
	for row, i := range m.vis {
		if m.ID(m.all[i]) == m.ID(prev) {
			m.Table.SetCursor(row)
			return nil
		}
	}
	if m.ID(prev) == m.acted {
		return nil
	}
	msg := fmt.Sprintf("%s %d left this list", m.Noun, m.ID(prev))
	if now, ok := m.Selected(); ok {
		msg += fmt.Sprintf("; the cursor is on %s %d", m.Noun, m.ID(now))
	}
	return common.Info(msg)
}

// TakenAt is when the items shown were read (zero before the first Set).
func (m *Model[T]) TakenAt() time.Time { return m.takenAt }

// Acted notes that an action of this screen changed the selected record, so that the reload which
// follows does not report it leaving.
func (m *Model[T]) Acted() { m.acted, _ = m.SelectedID() }

// Marked are the marked items still shown (after the filter), in list order; none are marked unless
// Multi is set.
func (m *Model[T]) Marked() []T {
	var out []T
	for _, i := range m.vis {
		if m.marked[m.ID(m.all[i])] {
			out = append(out, m.all[i])
		}
	}
	return out
}

// Targets are what an action applies to: the marked items, or else the selected one.
func (m *Model[T]) Targets() []T {
	if out := m.Marked(); len(out) > 0 {
		return out
	}
	if it, ok := m.Selected(); ok {
		return []T{it}
	}
	return nil
}

// ClearMarks drops every mark (after the action on them ran).
func (m *Model[T]) ClearMarks() { clear(m.marked) }

// mark toggles the selected item and moves down, so space can run down a list; markAll marks every
// shown item, or clears them when all already are.
func (m *Model[T]) mark() {
	if id, ok := m.SelectedID(); ok {
		m.marked[id] = !m.marked[id]
		if !m.marked[id] {
			delete(m.marked, id)
		}
		m.Table.SetCursor(m.Table.Cursor() + 1)
	}
}

func (m *Model[T]) markAll() {
	all := len(m.vis) > 0
	for _, i := range m.vis {
		all = all && m.marked[m.ID(m.all[i])]
	}
	for _, i := range m.vis {
		if all {
			delete(m.marked, m.ID(m.all[i]))
		} else {
			m.marked[m.ID(m.all[i])] = true
		}
	}
}

func (m *Model[T]) refilter() {
	q := strings.ToLower(m.Table.FilterValue())
	m.vis = m.vis[:0]
	for i, it := range m.all {
		if q == "" || strings.Contains(strings.ToLower(m.Text(it)), q) {
			m.vis = append(m.vis, i)
		}
	}
	m.Table.SetTotal(len(m.vis))
}

// Len is the number of items shown (after the filter).
func (m *Model[T]) Len() int { return len(m.vis) }

// Items are all items, unfiltered.
func (m *Model[T]) Items() []T { return m.all }

// Selected is the item under the cursor.
func (m *Model[T]) Selected() (T, bool) {
	var zero T
	c := m.Table.Cursor()
	if c < 0 || c >= len(m.vis) {
		return zero, false
	}
	return m.all[m.vis[c]], true
}

// SelectedID is the id of the item under the cursor.
func (m *Model[T]) SelectedID() (uint64, bool) {
	it, ok := m.Selected()
	if !ok {
		return 0, false
	}
	return m.ID(it), true
}

// Update handles movement and filter keys; handled is false for keys it leaves to the screen.
func (m *Model[T]) Update(msg tea.Msg) (handled bool, cmd tea.Cmd) {
	switch msg := msg.(type) {
	case table.FilterChangedMsg:
		m.refilter()
		return true, nil
	case tea.KeyMsg:
		if m.Multi && !m.Table.Filtering() {
			switch {
			case key.Matches(msg, m.ctx.Keys.Mark):
				m.mark()
				return true, nil
			case key.Matches(msg, m.ctx.Keys.MarkAll):
				m.markAll()
				return true, nil
			}
		}
		return m.Table.Update(msg)
	}
	return false, nil
}

// Capturing is true while the filter field is being typed in.
func (m *Model[T]) Capturing() bool { return m.Table.Filtering() }

// SetSize fits the list in width×height.
func (m *Model[T]) SetSize(width, height int) { m.Table.SetSize(width, height) }

// View draws the visible rows.
func (m *Model[T]) View() string { return m.Table.View(source[T]{m}) }

type source[T any] struct{ m *Model[T] }

func (s source[T]) Cell(row, col int) string { return s.m.Cells(s.m.all[s.m.vis[row]], col) }

func (s source[T]) Marked(row int) bool { return s.m.marked[s.m.ID(s.m.all[s.m.vis[row]])] }

func (s source[T]) Style(row, col int) *lipgloss.Style {
	if s.m.Style == nil {
		return nil
	}
	return s.m.Style(s.m.all[s.m.vis[row]], col)
}
