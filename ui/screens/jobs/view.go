package jobs

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/table"
)

const (
	colID = iota
	colService
	colType
	colModule
	colKey
	colPos
	colState
	colAttempt
	colAge
	colLog
)

var columns = []table.Column{
	{Title: "ID", Width: 7, Right: true},
	{Title: "SERVICE", Width: 7, Right: true},
	{Title: "TYPE", Width: 11},
	{Title: "MODULE", Width: 12},
	{Title: "QUEUE KEY", Width: 16},
	{Title: "POS", Width: 3, Right: true},
	{Title: "STATE", Width: 10},
	{Title: "TRY", Width: 4, Right: true},
	{Title: "AGE", Width: 4, Right: true},
	{Title: "LAST LOG", Min: 16},
}

// maxModuleLines caps the header; further modules are summed into the total line.
const maxModuleLines = 4

func (m *Model) moduleLines() int { return min(len(m.order), maxModuleLines) }

// headerLines: the counts title, a line per module, the total, the tabs.
func (m *Model) headerLines() int { return 1 + m.moduleLines() + 1 + 1 }

// View draws the header, the tabs and the table; only the rows on screen are formatted.
func (m *Model) View() string {
	m.layout()
	var b strings.Builder
	m.writeHeader(&b)
	m.writeTabs(&b)
	if m.ask != nil {
		b.WriteString(lipgloss.Place(m.ctx.Width, max(m.ctx.BodyHeight()-m.headerLines(), 3),
			lipgloss.Center, lipgloss.Center, m.ask.View()))
		return b.String()
	}
	switch {
	case m.page.err != nil && common.Unreachable(m.page.err) && m.page.window == (window{}):
		// A tab chosen after the server went: nothing of it was read, and "no jobs" would be wrong.
		b.WriteString(m.styles.faint.Render("  this tab was not read before the server went; it shows once vmmpm serve answers again"))
		return b.String()
	case m.page.err != nil && !common.Unreachable(m.page.err): // out of reach: the status line says so
		b.WriteString(m.styles.err.Render(common.Sentence(m.page.err)) + "\n")
	}
	b.WriteString(m.table.View(source{m}))
	for _, l := range m.reasonLines() {
		b.WriteString("\n" + l)
	}
	if m.page.filter != "" {
		b.WriteString(m.styles.faint.Render("  (searched the newest " + strconv.Itoa(m.page.scanned) + " jobs of this tab)"))
	}
	return b.String()
}

func (m *Model) writeHeader(b *strings.Builder) {
	b.WriteString(m.styles.head.Render(countLine(m.nameWidth(), "MODULE", "QUEUED", "RUNNING", "RETRYING", "FAILED", "DONE", "LANES")))
	b.WriteByte('\n')
	var total common.ModuleCounts
	for i, id := range m.order {
		c := m.counts[id]
		addCounts(&total, c)
		if i < maxModuleLines {
			name := strconv.FormatUint(id, 10) + " " + m.modules[id]
			if id == 0 {
				name = "(no module yet)"
			}
			b.WriteString(m.countRow(name, c) + "\n")
		}
	}
	label := "all modules"
	if extra := len(m.order) - maxModuleLines; extra > 0 {
		label = "all (" + strconv.Itoa(extra) + " more not shown)"
	}
	b.WriteString(m.styles.total.Render(m.countRow(label, total)) + "\n")
}

func addCounts(t *common.ModuleCounts, c common.ModuleCounts) {
	t.Queued += c.Queued
	t.Running += c.Running
	t.Retrying += c.Retrying
	t.Failed += c.Failed
	t.Done += c.Done
	t.Cancelled += c.Cancelled
	t.LanesBusy += c.LanesBusy
	t.LanesTotal += c.LanesTotal
}

func (m *Model) countRow(name string, c common.ModuleCounts) string {
	lanes := strconv.Itoa(c.LanesBusy) + "/" + strconv.Itoa(c.LanesTotal)
	if c.LanesTotal == 0 {
		lanes = strconv.Itoa(c.LanesBusy) + "/-"
	}
	return countLine(m.nameWidth(), name, strconv.Itoa(c.Queued), strconv.Itoa(c.Running), strconv.Itoa(c.Retrying),
		strconv.Itoa(c.Failed), strconv.Itoa(c.Done), lanes)
}

// countCols is how many count columns follow the module name, each countWidth wide.
const countCols, countWidth = 6, 9

// nameWidth is the module-name column of the counts: 28 cells, narrower when the terminal is, so LANES
// stays on an 80-column screen.
func (m *Model) nameWidth() int {
	return min(max(m.ctx.Width-2-countCols*countWidth, 12), 28)
}

func countLine(nameW int, name string, cols ...string) string {
	var b strings.Builder
	b.WriteString("  ")
	b.WriteString(padRight(name, nameW))
	for _, c := range cols {
		b.WriteString(padLeft(c, countWidth))
	}
	return b.String()
}

func padRight(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return truncate(s, w)
}

func padLeft(s string, w int) string {
	if n := lipgloss.Width(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

func truncate(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	return string(r[:w-1]) + "…"
}

// writeTabs draws the state tabs with their counts.
func (m *Model) writeTabs(b *strings.Builder) {
	var t common.ModuleCounts
	for _, c := range m.counts {
		addCounts(&t, c)
	}
	n := map[string]int{"": t.Queued + t.Running + t.Retrying + t.Failed + t.Done + t.Cancelled,
		store.JobQueued: t.Queued, store.JobRunning: t.Running, store.JobRetrying: t.Retrying,
		store.JobFailed: t.Failed, store.JobDone: t.Done, store.JobCancelled: t.Cancelled}
	b.WriteString("  ")
	for i, s := range Tabs {
		label := tabName(s) + " " + strconv.Itoa(n[s])
		if i == m.tab {
			b.WriteString(m.styles.tabOn.Render("[" + label + "]"))
		} else {
			b.WriteString(m.styles.tabOff.Render(" " + label + " "))
		}
		b.WriteByte(' ')
	}
	b.WriteString(m.styles.faint.Render(" ←/→ state"))
	b.WriteByte('\n')
}

func tabName(s string) string {
	if s == "" {
		return "All"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// source feeds the table the cells of the loaded page.
type source struct{ m *Model }

func (s source) job(row int) (*store.Job, int) {
	i := row - s.m.page.offset
	if i < 0 || i >= len(s.m.page.jobs) {
		return nil, -1
	}
	return &s.m.page.jobs[i], i
}

func (s source) Cell(row, col int) string {
	j, i := s.job(row)
	if j == nil {
		if col == colLog {
			return "…"
		}
		return ""
	}
	m := s.m
	switch col {
	case colID:
		return strconv.FormatUint(j.ID, 10)
	case colService:
		return strconv.FormatUint(j.ServiceID, 10)
	case colType:
		return j.Type
	case colModule:
		if j.ModuleID == 0 {
			return "-"
		}
		if n := m.modules[j.ModuleID]; n != "" {
			return n
		}
		return strconv.FormatUint(j.ModuleID, 10)
	case colKey:
		if k := m.page.pos[i].key; k != "" {
			return k
		}
		if j.QueueKey == "" {
			return "-"
		}
		return j.QueueKey
	case colPos:
		if p := m.page.pos[i].pos; p > 0 {
			return strconv.Itoa(p)
		}
		return "-"
	case colState:
		if j.State == store.JobRunning {
			return m.ctx.Spinner() + " running"
		}
		return j.State
	case colAttempt:
		return strconv.Itoa(j.Attempt) + "/" + strconv.Itoa(j.MaxAttempts)
	case colAge:
		return common.Age(m.ctx.Now(), j.EnqueuedAt)
	case colLog:
		return backend.LastLine(j)
	}
	return ""
}

func (s source) Marked(row int) bool {
	j, _ := s.job(row)
	if j == nil {
		return false
	}
	_, ok := s.m.marked[j.ID]
	return ok
}

func (s source) Style(row, col int) *lipgloss.Style {
	if col != colState {
		return nil
	}
	if j, _ := s.job(row); j != nil {
		return s.m.styles.state[j.State]
	}
	return nil
}
