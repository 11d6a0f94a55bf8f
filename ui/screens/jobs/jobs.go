// Package jobs is the live jobs pane (spec §10): per-module counts and lanes, tabs by state, and a
// table of the visible page only. It refreshes on the app's tick when engine events arrived (many events
// between two ticks cost one page read), never once per event.
package jobs

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/confirm"
	"vmmpm/ui/components/reason"
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
	takenAt   time.Time // when the counts and page shown were read
	fetching  bool
	want      window // the window the table shows now; a page for another is stale

	// pin is the selected job: when rows are added or removed above it the cursor follows it, so an
	// action hits the job the admin chose, not whatever row now sits under the cursor.
	pin uint64
	// marked are the jobs space and ctrl+a chose for one action on several at once.
	marked map[uint64]store.Job
	ask    *confirm.Model
	// acted are the jobs the last confirmed action was for: their leaving the tab is no news.
	acted map[uint64]bool

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
	// pinRow is the pinned job's row when it was not on the page but found near it (-1: not looked
	// for or not found); pinGone is its state when it left this tab altogether.
	pinRow  int
	pinGone string
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
	m := &Model{ctx: ctx, styles: newStyles(ctx.Theme), marked: map[uint64]store.Job{}}
	m.table = table.New(ctx, columns...)
	m.table.SetEmpty("no jobs in this tab")
	m.table.SetNoun("jobs")
	return m
}

func (m *Model) Title() string { return "Jobs" }

func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	if m.ask != nil {
		return m.ask.Help()
	}
	return k.ScreenHelp(k.Open, k.Retry, k.Cancel, k.Mark, k.MarkAll, k.Left, k.Right)
}

func (m *Model) Capturing() bool { return m.table.Filtering() || m.ask != nil }

func (m *Model) Selected() common.Selection {
	j := m.selectedJob()
	if j == nil {
		return common.Selection{}
	}
	return common.Selection{ID: strconv.FormatUint(j.ID, 10)}
}

func (m *Model) selectedJob() *store.Job {
	i := m.table.Cursor() - m.page.offset
	if m.table.Cursor() < 0 || m.page.state != m.State() || i < 0 || i >= len(m.page.jobs) {
		return nil
	}
	return &m.page.jobs[i]
}

// Activate reads the page at once.
func (m *Model) Activate() tea.Cmd { return m.fetch(true) }

// TakenAt is when the counts and the page shown were read.
func (m *Model) TakenAt() time.Time { return m.takenAt }

// State is the selected tab's state ("" for all).
func (m *Model) State() string { return Tabs[m.tab] }

// layout sizes the table for the current terminal, giving the selected job's reason its lines.
func (m *Model) layout() {
	m.table.SetSize(m.ctx.Width, max(m.ctx.BodyHeight()-m.headerLines()-len(m.reasonLines()), 3))
}

// current is the window to read: as many rows as fit with no reason shown, so a reason that grows or
// goes as the cursor moves never makes another read.
func (m *Model) current() window {
	m.layout()
	limit := max(m.ctx.BodyHeight()-m.headerLines(), 3) - 2 // the table's header and filter line
	return window{state: m.State(), offset: m.table.Offset(), limit: max(limit, m.table.VisibleRows()),
		filter: m.table.FilterValue()}
}

// reasonLines are the selected job's whole error, wrapped to the width, for under the table.
func (m *Model) reasonLines() []string {
	j := m.selectedJob()
	if j == nil || j.Error == "" {
		return nil
	}
	label := j.State + ":"
	switch j.State {
	case store.JobRetrying:
		label = "last attempt:"
	case store.JobFailed:
		if refusedForGood(j) {
			label = "refused for good:"
		}
	}
	return reason.Lines(label, j.Error, m.ctx.Width, reason.Most(m.ctx.BodyHeight()), m.styles.label, m.styles.err)
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
	pin := m.pin
	return func() tea.Msg { return m.readPinned(w, pin) }
}

// read runs off the UI goroutine: the window's view, one backend call.
func (m *Model) read(w window) tea.Msg { return m.readPinned(w, 0) }

// readPinned is read that also finds job pin when it is not on the page (rows come and go between
// two reads), or else its state, to say why it left the tab. Still one call.
func (m *Model) readPinned(w window, pin uint64) tea.Msg {
	v, err := m.ctx.Data.Engine.JobsView(backend.JobsQuery{State: w.state, Offset: w.offset, Limit: w.limit,
		Filter: w.filter, Pin: pin})
	p := page{window: w, pinRow: -1, err: err}
	if err != nil {
		return pageMsg{page: p}
	}
	p.jobs, p.total, p.scanned, p.pinRow, p.pinGone = v.Jobs, v.Total, v.Scanned, v.PinRow, v.PinState
	p.pos = make([]lanePos, len(v.Jobs))
	for i, l := range v.Lanes {
		p.pos[i] = lanePos{key: l.Lane, pos: l.Ahead + 1}
	}
	return pageMsg{page: p, counts: v.Counts, names: v.Modules}
}

// Update handles keys, the tick and fetched pages.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pageMsg:
		m.fetching, m.fetchedAt = false, time.Now()
		m.apply(msg)
		left := m.follow(msg.page)
		// The cursor may have moved while the page was read: fetch the window it shows now.
		return tea.Batch(left, m.fetch(false))
	case common.TickMsg:
		return m.fetch(false)
	case common.DataChangedMsg:
		return m.fetch(true)
	case table.FilterChangedMsg:
		m.pin = 0
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
	if msg.page.err != nil { // the last picture stays: counts and names are not wiped by a failed read
		m.page.err = msg.page.err
		return
	}
	m.counts, m.modules, m.takenAt = msg.counts, msg.names, m.ctx.Now()
	m.order = m.order[:0]
	for id := range m.counts {
		m.order = append(m.order, id)
	}
	slices.Sort(m.order)
	m.page = msg.page
	m.table.SetTotal(m.page.total)
}

// follow keeps the cursor on the pinned job as rows move, or says the job left the tab; a page read
// for another window or tab changes nothing.
func (m *Model) follow(p page) tea.Cmd {
	if p.err != nil || p.window != m.want {
		return nil
	}
	var left tea.Cmd
	if m.pin != 0 {
		switch i := index(p.jobs, m.pin); {
		case i >= 0:
			m.table.SetCursor(p.offset + i)
		case p.pinRow >= 0:
			m.table.SetCursor(p.pinRow) // the page for the new window follows
			return nil
		case m.acted[m.pin]:
			m.pin = 0
		default:
			text := fmt.Sprintf("job %d left this tab (it is %s now)", m.pin, p.pinGone)
			m.pin = 0
			if j := m.selectedJob(); j != nil {
				text += fmt.Sprintf("; the cursor is on job %d", j.ID)
			}
			left = common.Info(text)
		}
	}
	if j := m.selectedJob(); j != nil {
		m.pin = j.ID
	}
	for i := range p.jobs { // marks show the state the question will name
		if _, ok := m.marked[p.jobs[i].ID]; ok {
			m.marked[p.jobs[i].ID] = p.jobs[i]
		}
	}
	return left
}

func index(jobs []store.Job, id uint64) int {
	for i := range jobs {
		if jobs[i].ID == id {
			return i
		}
	}
	return -1
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if cmd, took := confirm.Route(&m.ask, msg); took {
		return cmd
	}
	before := m.table.Offset()
	if handled, cmd := m.table.Update(msg); handled {
		return tea.Batch(cmd, m.moved(before))
	}
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Mark):
		if j := m.selectedJob(); j != nil {
			m.toggle(*j)
			m.table.SetCursor(m.table.Cursor() + 1)
			return m.moved(before)
		}
	case key.Matches(msg, k.MarkAll):
		m.markShown()
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

// moved pins the job now under the cursor (none until its page is read) and reads the page when the
// window scrolled from offset before.
func (m *Model) moved(before int) tea.Cmd {
	m.pin = 0
	if j := m.selectedJob(); j != nil {
		m.pin = j.ID
	}
	if m.table.Offset() != before {
		return m.fetch(true)
	}
	return nil
}

func (m *Model) setTab(i int) tea.Cmd {
	m.tab = i
	m.pin = 0
	clear(m.marked)
	m.table.SetCursor(0)
	m.page = page{}
	return m.fetch(true)
}

func (m *Model) toggle(j store.Job) {
	if _, ok := m.marked[j.ID]; ok {
		delete(m.marked, j.ID)
		return
	}
	m.marked[j.ID] = j
}

// markShown marks every job on screen, or clears them when all already are.
func (m *Model) markShown() {
	first, end := m.table.Offset()-m.page.offset, m.table.Offset()-m.page.offset+m.table.VisibleRows()
	shown := m.page.jobs[max(first, 0):min(max(end, 0), len(m.page.jobs))]
	all := len(shown) > 0
	for i := range shown {
		_, ok := m.marked[shown[i].ID]
		all = all && ok
	}
	for i := range shown {
		if all {
			delete(m.marked, shown[i].ID)
		} else {
			m.marked[shown[i].ID] = shown[i]
		}
	}
}

func (m *Model) retry() tea.Cmd {
	failed := func(state string) bool { return state == store.JobFailed }
	return m.act("retry", failed, "only failed jobs can be retried", "queued again", m.ctx.Data.Engine.Retry)
}

func (m *Model) cancel() tea.Cmd {
	return m.act("cancel", cancellable, "only unfinished jobs can be cancelled", "cancelled", m.ctx.Data.Engine.Cancel)
}

func cancellable(state string) bool {
	return state == store.JobQueued || state == store.JobRetrying || state == store.JobRunning
}

// stuckWork is what a cancel question adds for running jobs: VMmanager may go on with their task.
func stuckWork(jobs []store.Job) string {
	var running []store.Job
	for _, j := range jobs {
		if j.State == store.JobRunning {
			running = append(running, j)
		}
	}
	if len(running) == 0 {
		return ""
	}
	what := fmt.Sprintf("job %d is running", running[0].ID)
	if len(running) > 1 {
		what = fmt.Sprintf("%d of them are running", len(running))
	}
	if t := running[0].VMTask; len(running) == 1 && t != nil && t.ConsulID != "" {
		what += fmt.Sprintf(" (VMmanager task %s %s)", t.Name, t.ConsulID)
	}
	return "\n" + capital(what) + ": the engine stops waiting, but VMmanager may finish what it started; " +
		"a department task is opened and the service is marked for a reconcile look."
}

// targets are the marked jobs, newest first, or else the selected one.
func (m *Model) targets() []store.Job {
	if len(m.marked) > 0 {
		out := make([]store.Job, 0, len(m.marked))
		for _, j := range m.marked {
			out = append(out, j)
		}
		slices.SortFunc(out, func(a, b store.Job) int { return cmp.Compare(b.ID, a.ID) })
		return out
	}
	if j := m.selectedJob(); j != nil {
		return []store.Job{*j}
	}
	return nil
}

// act asks before running do on the targets whose state allowed takes, naming them; the others are
// left out, and rule says why when none is left.
func (m *Model) act(verb string, allowed func(state string) bool, rule, did string, do func(id uint64) error) tea.Cmd {
	targets := m.targets()
	var ids []uint64
	var chosen []store.Job
	for _, j := range targets {
		if allowed(j.State) {
			ids, chosen = append(ids, j.ID), append(chosen, j)
		}
	}
	switch {
	case len(targets) == 0:
		return nil
	case len(ids) == 0 && len(targets) == 1:
		return common.Info(fmt.Sprintf("job %d is %s; %s", targets[0].ID, targets[0].State, rule))
	case len(ids) == 0:
		return common.Info(fmt.Sprintf("none of the %d marked jobs can be: %s", len(targets), rule))
	}
	q := fmt.Sprintf("%s %d jobs (%s)?", capital(verb), len(ids), store.IDList(ids))
	if len(ids) == 1 {
		j := chosen[0]
		q = fmt.Sprintf("%s job %d (%s of service %d)?", capital(verb), j.ID, j.Type, j.ServiceID)
	}
	switch verb {
	case "retry":
		q += refusals(chosen)
	case "cancel":
		q += stuckWork(chosen)
	}
	if skipped := len(targets) - len(ids); skipped > 0 {
		q += fmt.Sprintf("\n%d marked job(s) are left out: %s.", skipped, rule)
	}
	m.ask = confirm.New(m.ctx, q, func() tea.Msg {
		for i, id := range ids {
			if err := do(id); err != nil {
				return actionMsg{err: fmt.Errorf("%s %d of %d jobs; job %d: %w", did, i, len(ids), id, err)}
			}
		}
		if len(ids) == 1 {
			return actionMsg{info: fmt.Sprintf("job %d %s", ids[0], did)}
		}
		return actionMsg{info: fmt.Sprintf("%d jobs %s", len(ids), did)}
	})
	m.ask.Then = func() {
		clear(m.marked)
		m.acted = make(map[uint64]bool, len(ids))
		for _, id := range ids {
			m.acted[id] = true
		}
	}
	return nil
}

// refusedForGood says VMmanager (or the engine) refused j so that another attempt cannot help: it
// failed before its attempts ran out, which the engine does only for an error it will not retry.
// Attempts spent on a transient error end the same way, but with Attempt at MaxAttempts.
func refusedForGood(j *store.Job) bool {
	// Refused is the engine's own mark; a job that failed before it was kept, with attempts left, was refused too.
	return j.State == store.JobFailed && (j.Refused || j.Attempt < j.MaxAttempts)
}

// refusals is what a retry question adds for jobs refused for good: the refusal quoted, and that the
// same request goes again.
func refusals(jobs []store.Job) string {
	var refused []store.Job
	for _, j := range jobs {
		if refusedForGood(&j) {
			refused = append(refused, j)
		}
	}
	switch {
	case len(refused) == 0:
		return ""
	case len(jobs) == 1:
		return fmt.Sprintf("\nIt was refused for good: “%s”.\nThe same request goes again: unless what was refused has been fixed, it fails again.",
			refused[0].Error)
	}
	return fmt.Sprintf("\n%d of them were refused for good; job %d: “%s”.\nThe same requests go again: unless what was refused "+
		"has been fixed, they fail again.", len(refused), refused[0].ID, refused[0].Error)
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
