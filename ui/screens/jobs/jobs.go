// Package jobs is the live jobs pane (spec §10): per-module counts and lanes, tabs by state, and a
// table of the visible page only. It refreshes on the app's tick when engine events arrived (many events
// between two ticks cost one page read), never once per event.
package jobs

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
)

// Tabs are the state filters, "" meaning every state.
var Tabs = []string{"", store.JobQueued, store.JobRunning, store.JobRetrying, store.JobFailed, store.JobDone,
	store.JobCancelled}

// Refresh bounds: a page is re-read when events arrived, and at least this often so ages move.
const idleRefresh = time.Second

// Model is the Jobs screen.
type Model struct {
	ctx   *common.Context
	table table.Model
	tab   int

	page    page
	modules map[uint64]string
	counts  map[uint64]common.ModuleCounts
	order   []uint64 // module ids in header order

	version   uint64
	fetchedAt time.Time
	fetching  bool
	want      window // the window the table shows now; a page for another is stale

	styles styles
}

// window is what a page was read for.
type window struct {
	state  string
	offset int
	limit  int
	filter string
}

// page is the visible slice of the history.
type page struct {
	window
	jobs  []store.Job
	pos   []lanePos
	total int
	err   error
	// scanned is, for filtered pages, how many of the newest jobs were searched.
	scanned int
}

// lanePos is a job's queue key and its 1-based place in that lane (0: finished or unknown).
type lanePos struct {
	key string
	pos int
}

type pageMsg struct {
	page   page
	counts map[uint64]common.ModuleCounts
	names  map[uint64]string
}

type actionMsg struct {
	info string
	err  error
}

// New builds the pane.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
	m.table = table.New(ctx, columns...)
	m.table.SetEmpty("no jobs in this tab")
	m.table.SetNoun("jobs")
	return m
}

func (m *Model) Title() string { return "Jobs" }

func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	return k.ScreenHelp(k.Open, k.Retry, k.Cancel, k.Left, k.Right)
}

func (m *Model) Capturing() bool { return m.table.Filtering() }

func (m *Model) Selected() common.Selection {
	j := m.selectedJob()
	if j == nil {
		return common.Selection{}
	}
	return common.Selection{ID: strconv.FormatUint(j.ID, 10)}
}

func (m *Model) selectedJob() *store.Job {
	i := m.table.Cursor() - m.page.offset
	if m.table.Cursor() < 0 || i < 0 || i >= len(m.page.jobs) {
		return nil
	}
	return &m.page.jobs[i]
}

// Activate reads the page at once.
func (m *Model) Activate() tea.Cmd { return m.fetch(true) }

// State is the selected tab's state ("" for all).
func (m *Model) State() string { return Tabs[m.tab] }

// layout sizes the table for the current terminal.
func (m *Model) layout() {
	m.table.SetSize(m.ctx.Width, max(m.ctx.BodyHeight()-m.headerLines(), 3))
}

func (m *Model) current() window {
	m.layout()
	return window{state: m.State(), offset: m.table.Offset(), limit: m.table.VisibleRows(),
		filter: m.table.FilterValue()}
}

// fetch reads the visible page in the background; force skips the idle check.
func (m *Model) fetch(force bool) tea.Cmd {
	w := m.current()
	v := m.ctx.Data.Version()
	stale := w != m.page.window || v != m.version || time.Since(m.fetchedAt) >= idleRefresh
	if m.fetching || (!force && !stale) {
		return nil
	}
	if w.filter != "" && !force && w == m.page.window && time.Since(m.fetchedAt) < searchRefresh {
		return nil
	}
	m.fetching, m.version, m.want = true, v, w
	return func() tea.Msg { return m.read(w) }
}

// read runs off the UI goroutine: one page, its lane positions, the counts, module names.
func (m *Model) read(w window) tea.Msg {
	eng := m.ctx.Data.Engine
	var p page
	if w.filter != "" {
		p = search(eng, w, m.names())
	} else {
		p.window = w
		p.jobs, p.total, p.err = eng.Page(w.state, w.offset, w.limit)
	}
	p.pos = make([]lanePos, len(p.jobs))
	for i := range p.jobs {
		if !store.Finished(p.jobs[i].State) {
			key, ahead := eng.LanePosition(p.jobs[i].ID)
			p.pos[i] = lanePos{key: key, pos: ahead + 1}
		}
	}
	return pageMsg{page: p, counts: eng.Counts(), names: m.names()}
}

// names maps module ids to names; modules are few, so this read is cheap.
func (m *Model) names() map[uint64]string {
	out := map[uint64]string{}
	mods, _ := common.All[store.Module](m.ctx.Data)
	for _, mod := range mods {
		out[mod.ID] = mod.Name
	}
	return out
}

// Update handles keys, the tick and fetched pages.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pageMsg:
		m.fetching, m.fetchedAt = false, time.Now()
		m.apply(msg)
		// The cursor may have moved while the page was read: fetch the window it shows now.
		return m.fetch(false)
	case common.TickMsg:
		return m.fetch(false)
	case common.DataChangedMsg:
		return m.fetch(true)
	case table.FilterChangedMsg:
		return m.fetch(true)
	case actionMsg:
		if msg.err != nil {
			return common.Fail(msg.err)
		}
		return tea.Batch(m.fetch(true), common.Info(msg.info))
	case tea.KeyMsg:
		return m.key(msg)
	}
	return nil
}

func (m *Model) apply(msg pageMsg) {
	m.counts, m.modules = msg.counts, msg.names
	m.order = m.order[:0]
	for id := range m.counts {
		m.order = append(m.order, id)
	}
	slices.Sort(m.order)
	if msg.page.err != nil {
		m.page.err = msg.page.err
		return
	}
	m.page = msg.page
	m.table.SetTotal(m.page.total)
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	before := m.table.Offset()
	if handled, cmd := m.table.Update(msg); handled {
		if m.table.Offset() != before {
			return tea.Batch(cmd, m.fetch(true))
		}
		return cmd
	}
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Left):
		return m.setTab((m.tab + len(Tabs) - 1) % len(Tabs))
	case key.Matches(msg, k.Right):
		return m.setTab((m.tab + 1) % len(Tabs))
	case key.Matches(msg, k.Open):
		if j := m.selectedJob(); j != nil {
			return common.Push(NewDetail(m.ctx, j.ID))
		}
	case key.Matches(msg, k.Retry):
		return m.retry()
	case key.Matches(msg, k.Cancel):
		return m.cancel()
	}
	return nil
}

func (m *Model) setTab(i int) tea.Cmd {
	m.tab = i
	m.table.SetCursor(0)
	m.page = page{}
	return m.fetch(true)
}

func (m *Model) retry() tea.Cmd {
	failed := func(state string) bool { return state == store.JobFailed }
	return m.act(failed, "only failed jobs can be retried", "queued again", m.ctx.Data.Engine.Retry)
}

func (m *Model) cancel() tea.Cmd {
	queued := func(state string) bool { return state == store.JobQueued || state == store.JobRetrying }
	return m.act(queued, "only queued jobs can be cancelled", "cancelled", m.ctx.Data.Engine.Cancel)
}

// act runs do on the selected job off the UI goroutine if allowed takes its state, else says rule.
func (m *Model) act(allowed func(state string) bool, rule, did string, do func(id uint64) error) tea.Cmd {
	j := m.selectedJob()
	if j == nil {
		return nil
	}
	if !allowed(j.State) {
		return common.Info(fmt.Sprintf("job %d is %s; %s", j.ID, j.State, rule))
	}
	id := j.ID
	return func() tea.Msg {
		if err := do(id); err != nil {
			return actionMsg{err: err}
		}
		return actionMsg{info: fmt.Sprintf("job %d %s", id, did)}
	}
}
