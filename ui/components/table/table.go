// Package table is a virtual table: it keeps a cursor and a window over rows it does not own, and asks
// for the cells of the visible rows only. Lists of any length cost the same to draw.
package table

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"vmmpm/ui/common"
)

// Column describes one column. Width 0 means flexible: flexible columns share what fixed ones leave.
type Column struct {
	Title string
	Width int
	Min   int
	Right bool
	// Keep stops a narrow terminal from cutting the column (addresses: a cut IP is a wrong IP).
	Keep bool
	// Give makes the column give way first on a narrow terminal, before columns without it; a higher
	// Give gives way sooner. For what the admin can read elsewhere (department, last check).
	Give int
	// Tail cuts the column from the left, keeping its end: a URL's port, a queue's ×3.
	Tail bool
}

// Source gives the cells of absolute row i. Style may return nil for the default look.
type Source interface {
	Cell(row, col int) string
	Style(row, col int) *lipgloss.Style
}

// Marker is an optional part of a Source: rows marked for an action on several records at once.
type Marker interface {
	Marked(row int) bool
}

// markSign flags a marked row in the cell after the cursor, so marks show without colour.
const markSign = "•"

// Model is the table state: columns, total row count, cursor, window and the filter field.
type Model struct {
	ctx    *common.Context
	cols   []Column
	widths []int
	width  int
	rows   int // visible data rows
	total  int
	cursor int
	offset int
	styles styles

	filter    textinput.Model
	filtering bool
	empty     string
	noun      string
}

// New returns a table with the given columns.
func New(ctx *common.Context, cols ...Column) Model {
	f := textinput.New()
	f.Cursor.SetMode(cursor.CursorStatic)
	f.Prompt = "/"
	f.Placeholder = "filter"
	f.CharLimit = 64
	return Model{ctx: ctx, cols: cols, styles: newStyles(ctx.Theme), filter: f, empty: "nothing here yet",
		noun: "rows"}
}

// SetEmpty sets the line shown when there are no rows.
func (m *Model) SetEmpty(s string) { m.empty = s }

// SetNoun names the rows ("services") for the line a filter without a match shows.
func (m *Model) SetNoun(noun string) { m.noun = noun }

// SetSize fits the table in width×height, one line of which is the header and one the filter line.
func (m *Model) SetSize(width, height int) {
	m.width = width
	m.rows = max(height-2, 1)
	m.widths = layout(m.cols, width-2)
	m.clamp()
}

// VisibleRows is how many rows fit.
func (m *Model) VisibleRows() int { return m.rows }

// SetTotal sets the row count, keeping the cursor inside it.
func (m *Model) SetTotal(n int) {
	m.total = n
	m.clamp()
}

// Total is the row count.
func (m *Model) Total() int { return m.total }

// Cursor is the selected absolute row, or -1 when empty.
func (m *Model) Cursor() int {
	if m.total == 0 {
		return -1
	}
	return m.cursor
}

// Offset is the first visible absolute row.
func (m *Model) Offset() int { return m.offset }

// SetCursor moves the selection to row i.
func (m *Model) SetCursor(i int) {
	m.cursor = i
	m.clamp()
}

func (m *Model) clamp() {
	m.cursor = min(max(m.cursor, 0), max(m.total-1, 0))
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+m.rows {
		m.offset = m.cursor - m.rows + 1
	}
	m.offset = min(max(m.offset, 0), max(m.total-m.rows, 0))
}

// Filtering reports whether the filter field has the keyboard.
func (m *Model) Filtering() bool { return m.filtering }

// FilterValue is the current filter text ("" for none).
func (m *Model) FilterValue() string { return strings.TrimSpace(m.filter.Value()) }

// ClearFilter drops the filter.
func (m *Model) ClearFilter() {
	m.filter.SetValue("")
	m.filter.Blur()
	m.filtering = false
}

// FilterChangedMsg is returned when the filter text changes, so the owner recomputes its rows.
type FilterChangedMsg struct{}

func filterChanged() tea.Msg { return FilterChangedMsg{} }

// Update moves the cursor or edits the filter. handled is false for keys the table does not use.
func (m *Model) Update(msg tea.KeyMsg) (handled bool, cmd tea.Cmd) {
	k := m.ctx.Keys
	if m.filtering {
		return true, m.updateFilter(msg)
	}
	if c, ok := k.Move(msg, m.cursor, m.total, m.rows); ok {
		m.cursor = c
		m.clamp()
		return true, nil
	}
	switch {
	case key.Matches(msg, k.Filter):
		m.filtering = true
		return true, m.filter.Focus()
	case key.Matches(msg, k.Back) && m.FilterValue() != "":
		m.ClearFilter()
		return true, filterChanged
	}
	return false, nil
}

func (m *Model) updateFilter(msg tea.KeyMsg) tea.Cmd {
	switch msg.String() {
	case "esc", "ctrl+c":
		m.ClearFilter()
		return filterChanged
	case "enter":
		m.filtering = false
		m.filter.Blur()
		return nil
	}
	before := m.filter.Value()
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	if m.filter.Value() != before {
		m.cursor, m.offset = 0, 0
		return tea.Batch(cmd, filterChanged)
	}
	return cmd
}

// layout gives fixed columns their width and splits the rest among flexible ones.
func layout(cols []Column, width int) []int {
	w := make([]int, len(cols))
	used, flex := 0, 0
	for i, c := range cols {
		w[i] = c.Width
		used += c.Width + 1
		if c.Width == 0 {
			flex++
		}
	}
	if flex > 0 {
		share := max((width-used)/flex, 0)
		for i, c := range cols {
			if c.Width == 0 {
				w[i] = max(share, c.Min)
			}
		}
	}
	shrink(cols, w, width)
	return w
}

// minText is the narrowest a text column gets on a small terminal: two characters and the ellipsis.
const minText = 3

// shrink fits the row in width on a small terminal. Columns that Give way narrow first (to two
// characters and the ellipsis), then leave the row, highest Give first, and whatever room that frees
// beyond what was needed goes back to those that stay; only then does the widest of the other text
// columns narrow. Right-aligned (numeric) and Keep columns keep their width: a cut number is worse than
// a short name. A column of width 0 is not drawn.
func shrink(cols []Column, w []int, width int) {
	over := func() int {
		n, shown := 0, 0
		for _, x := range w {
			if x > 0 {
				n += x
				shown++
			}
		}
		return n + shown - 1 - width
	}
	narrow := func(giving bool) {
		for over() > 0 {
			next := -1
			for i, c := range cols {
				if c.Right || c.Keep || w[i] <= minText || (giving && c.Give == 0) {
					continue
				}
				if next < 0 || c.Give > cols[next].Give || (c.Give == cols[next].Give && w[i] > w[next]) {
					next = i
				}
			}
			if next < 0 {
				return
			}
			w[next]--
		}
	}
	narrow(true)
	for over() > 0 {
		drop := -1
		for i, c := range cols {
			if c.Give > 0 && w[i] > 0 && (drop < 0 || c.Give >= cols[drop].Give) {
				drop = i
			}
		}
		if drop < 0 {
			break
		}
		w[drop] = 0
	}
	for grew := true; grew && over() < 0; {
		grew = false
		for i, c := range cols {
			if c.Give > 0 && w[i] > 0 && w[i] < max(c.Width, c.Min) && over() < 0 {
				w[i]++
				grew = true
			}
		}
	}
	narrow(false)
}

// View draws the header, the visible rows and the filter line; src is asked for visible cells only.
func (m *Model) View(src Source) string {
	var b strings.Builder
	b.Grow((m.rows + 2) * (m.width + 16))
	b.WriteString(m.styles.header.Render(m.headerLine()))
	b.WriteByte('\n')
	end := min(m.offset+m.rows, m.total)
	for i := m.offset; i < end; i++ {
		m.writeRow(&b, src, i)
		b.WriteByte('\n')
	}
	if m.total == 0 {
		empty := m.empty
		if f := m.FilterValue(); f != "" {
			empty = "no " + m.noun + " match " + strconv.Quote(f) + " (esc clears the filter)"
		}
		b.WriteString("  " + m.styles.faint.Render(empty) + "\n")
		end++
	}
	for i := end - m.offset; i < m.rows; i++ {
		b.WriteByte('\n')
	}
	b.WriteString(m.footer())
	return b.String()
}

func (m *Model) headerLine() string {
	var b strings.Builder
	b.WriteString("  ")
	for c, col := range m.cols {
		if m.widths[c] == 0 {
			continue
		}
		col.Tail = false // a title reads from its start
		writeFit(&b, col.Title, m.widths[c], col)
		b.WriteByte(' ')
	}
	return strings.TrimRight(b.String(), " ")
}

func (m *Model) writeRow(b *strings.Builder, src Source, i int) {
	mark := " "
	if mk, ok := src.(Marker); ok && mk.Marked(i) {
		mark = markSign
	}
	if i == m.cursor {
		var line strings.Builder
		line.WriteString(m.ctx.Theme.Cursor + mark)
		for c, col := range m.cols {
			if m.widths[c] == 0 {
				continue
			}
			writeFit(&line, src.Cell(i, c), m.widths[c], col)
			line.WriteByte(' ')
		}
		b.WriteString(m.styles.selected.Render(strings.TrimRight(line.String(), " ")))
		return
	}
	b.WriteByte(' ')
	b.WriteString(mark)
	for c, col := range m.cols {
		if m.widths[c] == 0 {
			continue
		}
		if st := src.Style(i, c); st != nil {
			b.WriteString(st.Render(fit(src.Cell(i, c), m.widths[c], col)))
		} else {
			writeFit(b, src.Cell(i, c), m.widths[c], col)
		}
		if c < len(m.cols)-1 {
			b.WriteByte(' ')
		}
	}
}

func (m *Model) footer() string {
	if m.filtering {
		return m.filter.View()
	}
	pos := ""
	if m.total > 0 {
		pos = strconv.Itoa(m.cursor+1) + "/" + strconv.Itoa(m.total)
	}
	if f := m.FilterValue(); f != "" {
		return m.styles.faint.Render("filter: "+f+"  (esc clears)") + "  " + m.styles.faint.Render(pos)
	}
	return m.styles.faint.Render(pos)
}

// spaces is padding sliced without allocating.
var spaces = strings.Repeat(" ", 512)

// fit truncates or pads s to exactly w cells.
func fit(s string, w int, col Column) string {
	var b strings.Builder
	writeFit(&b, s, w, col)
	return b.String()
}

// writeFit writes s truncated (from the end, or from the start for a Tail column) or padded to exactly
// w cells; plain ASCII, the usual case, takes a path that allocates nothing.
func writeFit(b *strings.Builder, s string, w int, col Column) {
	if w <= 0 {
		return
	}
	sw, ascii := width(s)
	if sw > w {
		switch {
		case col.Tail:
			s = "…" + ansi.TruncateLeft(s, sw-w+1, "")
		case ascii:
			b.WriteString(s[:w-1])
			b.WriteString("…")
			return
		default:
			s = ansi.Truncate(s, w, "…")
		}
		sw = ansi.StringWidth(s)
	}
	pad := min(w-sw, len(spaces))
	if col.Right {
		b.WriteString(spaces[:pad])
		b.WriteString(s)
		return
	}
	b.WriteString(s)
	b.WriteString(spaces[:pad])
}

func width(s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return ansi.StringWidth(s), false
		}
	}
	return len(s), true
}
