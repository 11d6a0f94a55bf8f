// Package rows is an in-memory list for the smaller screens (modules, services, tasks, catalog,
// tariffs): it filters with `/`, keeps the selection on the same record across reloads, and draws
// through the virtual table, so only visible rows are formatted.
package rows

import (
	"strings"

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
}

// New builds the list with its columns.
func New[T any](ctx *common.Context, id func(T) uint64, cells func(T, int) string, text func(T) string,
	cols ...table.Column) *Model[T] {
	return &Model[T]{Table: table.New(ctx, cols...), ID: id, Cells: cells, Text: text}
}

// Set replaces the items, keeping the cursor on the previously selected one when it is still there.
func (m *Model[T]) Set(items []T) {
	prev, had := m.Selected()
	m.all = items
	m.refilter()
	if !had {
		return
	}
	for row, i := range m.vis {
		if m.ID(m.all[i]) == m.ID(prev) {
			m.Table.SetCursor(row)
			return
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

func (s source[T]) Style(row, col int) *lipgloss.Style {
	if s.m.Style == nil {
		return nil
	}
	return s.m.Style(s.m.all[s.m.vis[row]], col)
}
