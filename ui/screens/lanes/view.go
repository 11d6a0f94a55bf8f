package lanes

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"vmmpm/stats"
	"vmmpm/ui/common"
)

// A running operation is slow past twice its type's p95 (at least SlowAfter), stuck past five times
// it (at least StuckAfter): the lane's row says so in colour and in words.
const (
	SlowAfter  = 10 * time.Second
	StuckAfter = 10 * time.Minute
)

// column widths of the lanes table (the timeline takes what is left, up to stats.LaneHistory)
const (
	wKey   = 14
	wRun   = 26
	wFor   = 7
	wWait  = 5
	wFlag  = 6
	wName  = 16
	wState = 8
)

func (m *Model) View() string {
	w, h := m.ctx.Width, m.ctx.BodyHeight()
	switch {
	case m.snap == nil && m.err != nil:
		return m.styles.err.Render(common.Sentence(m.err))
	case m.snap == nil:
		return m.styles.faint.Render("reading the figures…")
	case m.ask != nil:
		return m.ask.View()
	}
	top := m.modulesView(w)
	panel := m.panelView(w)
	lanes := m.lanesView(w, m.fit(len(top), len(panel)))
	out := make([]string, 0, h)
	out = append(out, top...)
	out = append(out, "")
	out = append(out, lanes...)
	out = append(out, "")
	out = append(out, panel...)
	if m.err != nil && !common.Unreachable(m.err) { // the stale mark and the status line say that one
		out = append(out, m.styles.err.Render(common.Sentence(m.err)))
	}
	for i := range out {
		out[i] = ansi.Truncate(out[i], w, "…")
	}
	if len(out) > h {
		out = out[:h]
	}
	return strings.Join(out, "\n")
}

// laneRows is how many lane rows fit beside the modules and the panel (one fewer when the lanes
// do not all fit: a line then says which are shown).
func (m *Model) laneRows() int {
	if m.snap == nil {
		return 1
	}
	return m.fit(len(m.modulesView(m.ctx.Width)), len(m.panelView(m.ctx.Width)))
}

func (m *Model) fit(top, panel int) int {
	rows := max(m.ctx.BodyHeight()-top-panel-3, 1)
	if len(m.snap.Lanes) > rows {
		rows = max(rows-1, 1)
	}
	return rows
}

func sparkWidth(w int) int { return max(min(stats.Spark, w-49), 10) }

// modulesView: one row per module with its health and operations per minute over the last hour.
func (m *Model) modulesView(w int) []string {
	s := m.styles
	sw := sparkWidth(w)
	head := fmt.Sprintf("  %-*s %-*s %-*s %s", wName, "MODULE", wState, "HEALTH", sw, fmt.Sprintf("OPS/MIN, LAST %d MIN", sw),
		"  PEAK   ERR  ANSWER")
	out := []string{s.head.Render(head)}
	if m.snap.Engine != "" {
		out = append([]string{s.faint.Render(m.holderLine())}, out...)
	}
	if len(m.snap.Modules) == 0 {
		return append(out, s.faint.Render("  no modules yet: add one on Modules (1)"))
	}
	for i := range m.snap.Modules {
		mod := &m.snap.Modules[i]
		state := s.ok.Render(pad("ok", wState))
		switch {
		case mod.Flagged:
			state = s.err.Render(pad("FLAGGED", wState))
		case mod.Paused != nil:
			state = s.warn.Render(pad("PAUSED", wState))
		}
		vals := last(mod.PerMinute, sw)
		peak := 0
		for _, v := range vals {
			peak = max(peak, v)
		}
		errPct := fmt.Sprintf("%3.0f%%", 100*mod.Hour.ErrorRate())
		errStyle := s.faint
		if r := mod.Hour.ErrorRate(); r >= 0.25 {
			errStyle = s.err
		} else if r > 0 {
			errStyle = s.warn
		}
		out = append(out, fmt.Sprintf("  %s %s %s %6s %s %7s", s.name.Render(pad(mod.Name, wName)), state,
			m.spark(vals, last(mod.ErrorsPerMinute, sw)), strconv.Itoa(peak)+"/m",
			errStyle.Render(" "+errPct), stats.Short(mod.AnswerP50)))
	}
	return out
}

// last is the newest n values, zeros in front when fewer are known.
func last(vals []int, n int) []int {
	if len(vals) >= n {
		return vals[len(vals)-n:]
	}
	return append(make([]int, n-len(vals)), vals...)
}

// spark draws operations per minute; a minute with errors is drawn in the danger colour. Runs of one
// colour are styled together: a frame costs a few style renders per row, not one per cell.
func (m *Model) spark(vals, errs []int) string {
	line := []rune(stats.Sparkline(vals))
	var b, run strings.Builder
	bad := false
	for i, r := range line {
		e := errs[i] > 0
		if e && r == ' ' {
			r = '▁' // a minute of errors only still shows
		}
		if i > 0 && e != bad {
			b.WriteString(m.sparkStyle(bad).Render(run.String()))
			run.Reset()
		}
		bad = e
		run.WriteRune(r)
	}
	b.WriteString(m.sparkStyle(bad).Render(run.String()))
	return b.String()
}

func (m *Model) sparkStyle(bad bool) lipgloss.Style {
	if bad {
		return m.styles.errSpark
	}
	return m.styles.spark
}

func timelineWidth(w int) int {
	return max(min(stats.LaneHistory, w-2-wKey-1-wRun-1-wFor-1-wWait-2-1-wFlag), 8)
}

func (m *Model) lanesView(w, rows int) []string {
	s := m.styles
	tw := timelineWidth(w)
	head := fmt.Sprintf("  %-*s %-*s %*s %*s  %-*s %s", wKey, "LANE", wRun, "RUNNING", wFor, "FOR", wWait, "WAIT", tw,
		"LAST OPERATIONS →", "")
	out := []string{s.head.Render(head)}
	if len(m.snap.Lanes) == 0 {
		return append(out, s.faint.Render("  no lanes: a module with queues on shows its lanes here (queue in the module's parameters)"))
	}
	now := m.ctx.Now()
	end := min(m.top+rows, len(m.snap.Lanes))
	for i := m.top; i < end; i++ {
		l := &m.snap.Lanes[i]
		cur := "  "
		if i == m.cursor {
			cur = s.cursor.Render(m.ctx.Theme.Cursor + " ")
		}
		run, age, flag := pad("idle", wRun), fmt.Sprintf("%*s", wFor, "-"), pad("", wFlag)
		runStyle := s.faint
		if r := l.Running; r != nil {
			desc := fmt.Sprintf("job %d %s svc %d", r.Job, r.Type, r.Service)
			if r.Attempt > 1 {
				desc += " try " + strconv.Itoa(r.Attempt)
			}
			d := now.Sub(r.Since)
			run, age, runStyle = pad(desc, wRun), fmt.Sprintf("%*s", wFor, stats.Short(d)), s.name
			switch m.pace(l, d) {
			case 2:
				flag, age = s.err.Render(pad("STUCK", wFlag)), s.err.Render(age)
			case 1:
				flag, age = s.warn.Render(pad("SLOW", wFlag)), s.warn.Render(age)
			}
		}
		if l.Running == nil {
			if text := m.retryText(l); text != "" {
				run, runStyle = pad(text, wRun), s.warn // the head backs off; the rest wait behind it
			}
		}
		if flag == pad("", wFlag) && m.modulePaused(l.Module) {
			flag = s.warn.Render(pad("PAUSED", wFlag))
		}
		wait := fmt.Sprintf("%*d", wWait, l.Waiting)
		if l.Waiting == 0 {
			wait = s.faint.Render(wait)
		}
		out = append(out, fmt.Sprintf("%s%s %s %s %s  %s %s", cur, s.name.Render(pad(l.Key, wKey)), runStyle.Render(run),
			age, wait, m.timeline(l.Recent, tw), flag))
	}
	if n := len(m.snap.Lanes); end-m.top < n {
		out = append(out, s.faint.Render(fmt.Sprintf("  lanes %d–%d of %d (j/k)", m.top+1, end, n)))
	}
	return out
}

// retryText says what of an idle lane waits out a retry's backoff: "retry 3 in 42s (job 7)", or, from
// figures that do not carry the job, "waiting to retry" when its last outcome was a retry.
func (m *Model) retryText(l *stats.Lane) string {
	if r := l.Retry; r != nil {
		when := "due"
		if d := r.At.Sub(m.ctx.Now()); d > 0 {
			when = "in " + stats.Short(d.Round(time.Second))
		}
		return fmt.Sprintf("retry %d %s (job %d)", r.Attempt, when, r.Job)
	}
	if l.Waiting > 0 && strings.HasSuffix(l.Recent, string(rune(stats.OutRetrying))) {
		return "waiting to retry"
	}
	return ""
}

// modulePaused says whether an admin paused module id (module pause).
func (m *Model) modulePaused(id uint64) bool {
	for i := range m.snap.Modules {
		if m.snap.Modules[i].ID == id {
			return m.snap.Modules[i].Paused != nil
		}
	}
	return false
}

// pace: 0 normal, 1 slow, 2 stuck, against the p95 of the operation's type on its module, or on the
// fastest module that has one when its own has none yet (a module that has finished nothing is the
// one most likely to be slow).
func (m *Model) pace(l *stats.Lane, d time.Duration) int {
	var own, fleet time.Duration
	for i := range m.snap.Modules {
		mod := &m.snap.Modules[i]
		for _, t := range mod.Types {
			if t.Type != l.Running.Type || t.P95 <= 0 {
				continue
			}
			if mod.ID == l.Module {
				own = t.P95
			}
			if fleet == 0 || t.P95 < fleet {
				fleet = t.P95
			}
		}
	}
	p95 := own
	if p95 == 0 {
		p95 = fleet
	}
	switch {
	case p95 == 0 && d < StuckAfter:
		return 0
	case d >= max(5*p95, StuckAfter):
		return 2
	case d >= max(2*p95, SlowAfter):
		return 1
	}
	return 0
}

// timeline draws the newest w outcomes, right-aligned so the newest is always in the last column;
// runs of one outcome are styled together.
func (m *Model) timeline(recent string, w int) string {
	if len(recent) > w {
		recent = recent[len(recent)-w:]
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", w-len(recent)))
	for i := 0; i < len(recent); {
		c, j := recent[i], i+1
		for j < len(recent) && recent[j] == c {
			j++
		}
		b.WriteString(m.styles.cell[c].Render(strings.Repeat(glyphs[c], j-i)))
		i = j
	}
	return b.String()
}

// panelView details the module of the selected lane (the first module when no lane is selected), then
// the other modules while every lane still fits above them.
func (m *Model) panelView(w int) []string {
	if len(m.snap.Modules) == 0 {
		return nil
	}
	sel := 0
	if l := m.lane(); l != nil {
		for i := range m.snap.Modules {
			if m.snap.Modules[i].ID == l.Module {
				sel = i
			}
		}
	}
	out := m.modulePanel(w, &m.snap.Modules[sel])
	room := m.ctx.BodyHeight() - len(m.snap.Modules) - 1 - len(m.snap.Lanes) - 1 - 3
	for i := range m.snap.Modules {
		if i == sel {
			continue
		}
		p := m.modulePanel(w, &m.snap.Modules[i])
		if len(out)+len(p) > room {
			break
		}
		out = append(out, p...)
	}
	return out
}

func (m *Model) modulePanel(w int, mod *stats.Module) []string {
	s := m.styles
	title := fmt.Sprintf("── %s (module %d) · logins %s ", mod.Name, mod.ID, stats.LoginsText(mod.Logins))
	out := []string{s.head.Render(title + strings.Repeat("─", max(w-ansi.StringWidth(title), 0)))}
	if mod.Flagged {
		out = append(out, s.err.Render("  FLAGGED: "+mod.Flag))
	}
	if p := mod.Paused; p != nil {
		out = append(out, s.warn.Render(fmt.Sprintf("  PAUSED by %s since %s: nothing of it starts · p on Modules resumes it", p.By, p.At.Format("2006-01-02 15:04"))))
	}
	h := mod.Hour
	out = append(out, fmt.Sprintf("  hour: %d done, %d failed, %d retried, %.0f%% errors · 24 h: %d done, %d failed",
		h.Done, h.Failed, h.Retried, 100*h.ErrorRate(), mod.Day.Done, mod.Day.Failed))
	out = append(out, fmt.Sprintf("  VMmanager answer p50 %s · p95 %s · last %s · last check %s", stats.Short(mod.AnswerP50),
		stats.Short(mod.AnswerP95), stats.Short(mod.AnswerLast), m.check(mod)))
	if c := mod.Capacity; c != nil {
		out = append(out, fmt.Sprintf("  free: %s (read %s ago)", stats.RoomText(c), common.Age(m.ctx.Now(), c.At)))
		for _, low := range mod.Low[:min(len(mod.Low), 2)] {
			out = append(out, s.warn.Render(fmt.Sprintf("  low (under %d%% free): %s", mod.CapacityWarn, low)))
		}
	}
	if len(mod.Types) > 0 {
		out = append(out, s.head.Render(fmt.Sprintf("  %-12s %6s %6s %6s %8s %8s", "OPERATION", "DONE", "FAILED", "RETRY", "P50", "P95")))
		for _, t := range mod.Types[:min(len(mod.Types), 4)] {
			out = append(out, fmt.Sprintf("  %-12s %6d %6d %6d %8s %8s", t.Type, t.Done, t.Failed, t.Retried, stats.Short(t.P50), stats.Short(t.P95)))
		}
	}
	errs := mod.Errors
	if len(errs) > 2 {
		errs = errs[len(errs)-2:]
	}
	for i := len(errs) - 1; i >= 0; i-- {
		e := errs[i]
		out = append(out, s.warn.Render(fmt.Sprintf("  %s ago job %d %s: ", common.Age(m.ctx.Now(), e.At), e.Job, e.Type))+e.Message)
	}
	return out
}

func (m *Model) check(mod *stats.Module) string {
	c := mod.LastCheck
	switch {
	case c == nil:
		return m.styles.faint.Render("never")
	case c.OK:
		return m.styles.ok.Render("ok") + " " + common.Age(m.ctx.Now(), c.At) + " ago"
	}
	return m.styles.err.Render("FAILED") + " " + common.Age(m.ctx.Now(), c.At) + " ago: " + c.Message
}

// pad cuts or pads s to w cells.
func pad(s string, w int) string {
	s = ansi.Truncate(s, w, "…")
	return s + strings.Repeat(" ", max(w-ansi.StringWidth(s), 0))
}

// holderLine names the host whose engine lease runs every lane of a shared database, and how long
// ago it renewed the lease (a holder that stopped renewing is about to lose it).
func (m *Model) holderLine() string {
	line := "  every lane runs on " + m.snap.Engine + ", the engine lease's holder"
	if at := m.snap.EngineRenewed; !at.IsZero() {
		line = "  every lane runs on " + m.snap.Engine + ", engine lease renewed " + common.Age(m.snap.At, at) + " ago"
	}
	return line
}
