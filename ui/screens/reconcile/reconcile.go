// Package reconcile is the Reconcile screen (R on Modules): a read-only scan of every module's cluster
// with a progress bar and an estimate (esc cancels it), the findings by class and module with the
// selected one's evidence, marks, and the actions on them, each asked before it runs and queued as a job
// in the service's lane. A finding acted on leaves the list; ctrl+r scans again.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	rc "vmmpm/reconcile"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
)

// row is one finding and the name of its module.
type row struct {
	f      *rc.Finding
	module string
}

// scan is one scan in flight; its messages carry it, so a cancelled scan's late answer is ignored.
type scan struct {
	ch     chan tea.Msg    // progress; sends never wait (a busy screen drops one, the next says more)
	done   chan scannedMsg // the answer; room for it, so the scan ends even when nobody reads it
	cancel context.CancelFunc
	last   rc.Progress
}

type progressMsg struct {
	s *scan
	p rc.Progress
}

type scannedMsg struct {
	s   *scan
	rep *rc.Report
	err error
}

// actedMsg is an action's answer: the findings it took out of the list.
type actedMsg struct {
	keys []string
	out  *rc.Acted
	err  error
}

// Model is the Reconcile screen.
type Model struct {
	*listscreen.Base
	ctx     *common.Context
	list    *rows.Model[row]
	scan    *scan
	rep     *rc.Report
	at      time.Time
	acted   map[string]bool
	tariffs []*store.Tariff
	bar     progress.Model
	styles  styles
}

const (
	colClass = iota
	colModule
	colService
	colVM
	colFinding
)

// New builds the screen; it scans when it first comes to the front.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, acted: map[string]bool{}, styles: newStyles(ctx.Theme)}
	m.bar = progress.New(progress.WithSolidFill("#7D79F6"), progress.WithoutPercentage())
	m.list = rows.New(ctx, func(r row) uint64 { return keyID(r.f.Key) }, m.cell, text,
		table.Column{Title: "CLASS", Width: 12},
		table.Column{Title: "MODULE", Width: 12, Give: 1},
		table.Column{Title: "SERVICE", Width: 7, Right: true},
		table.Column{Title: "VM", Width: 6, Right: true},
		table.Column{Title: "FINDING", Min: 30},
	)
	m.list.Noun, m.list.Multi = "finding", true
	m.list.Style = m.cellStyle
	m.list.Table.SetEmpty("nothing to reconcile: VMmanager and vmmpm agree (ctrl+r scans again)")
	m.list.Table.SetNoun("findings")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: m.load,
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{act(k), other(k), k.Mark, k.MarkAll, rescan(k), cancelScan(k)}
		},
		Body: m.body,
	}, m.list)
	return m
}

// keyID is a finding's key as the list's id (stable across scans, as the key is).
func keyID(k string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(k))
	return h.Sum64()
}

func act(k *keys.KeyMap) key.Binding {
	b := k.Open
	b.SetHelp("enter", "usual action")
	return b
}

func other(k *keys.KeyMap) key.Binding {
	b := k.Operation
	b.SetHelp("o", "other action")
	return b
}

func rescan(k *keys.KeyMap) key.Binding {
	b := k.Refresh
	b.SetHelp("ctrl+r", "scan again")
	return b
}

func cancelScan(k *keys.KeyMap) key.Binding {
	b := k.Back
	b.SetHelp("esc", "cancel scan / back")
	return b
}

func (m *Model) Title() string { return "Reconcile" }

// Activate scans the first time; later it only redraws what the last scan found.
func (m *Model) Activate() tea.Cmd {
	if m.rep == nil && m.scan == nil {
		return m.startScan()
	}
	return m.Base.Activate()
}

// Selected is the finding's key: what y copies.
func (m *Model) Selected() common.Selection {
	if r, ok := m.list.Selected(); ok {
		return common.Selection{ID: r.f.Key}
	}
	return common.Selection{}
}

func (m *Model) startScan() tea.Cmd {
	if m.scan != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &scan{ch: make(chan tea.Msg, 16), done: make(chan scannedMsg, 1), cancel: cancel}
	m.scan = s
	data := m.ctx.Data
	go func() {
		rep, err := data.ReconcileScan(ctx, 0, func(p rc.Progress) {
			select {
			case s.ch <- progressMsg{s: s, p: p}:
			default:
			}
		})
		s.done <- scannedMsg{s: s, rep: rep, err: err}
	}()
	return tea.Batch(wait(s), m.loadTariffs)
}

func wait(s *scan) tea.Cmd {
	return func() tea.Msg {
		select {
		case msg := <-s.ch:
			return msg
		case msg := <-s.done:
			return msg
		}
	}
}

type tariffsMsg struct{ ts []*store.Tariff }

func (m *Model) loadTariffs() tea.Msg {
	ts, _ := common.All[store.Tariff](m.ctx.Data)
	return tariffsMsg{ts: ts}
}

// load rebuilds the rows from the last report, leaving out what was acted on.
func (m *Model) load() tea.Cmd {
	if m.rep == nil {
		return nil
	}
	names := map[uint64]string{}
	for _, mr := range m.rep.Modules {
		names[mr.ModuleID] = mr.Name
	}
	var out []row
	for i := range m.rep.Findings {
		f := &m.rep.Findings[i]
		if !m.acted[f.Key] {
			out = append(out, row{f: f, module: names[f.ModuleID]})
		}
	}
	// By class in the contract's order, then module: the list reads as the report's counts do.
	slices.SortStableFunc(out, func(a, b row) int {
		if c := slices.Index(rc.Classes, a.f.Class) - slices.Index(rc.Classes, b.f.Class); c != 0 {
			return c
		}
		return int(a.f.ModuleID) - int(b.f.ModuleID)
	})
	return m.list.Set(out)
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case progressMsg:
		if msg.s != m.scan {
			return nil
		}
		m.scan.last = msg.p
		return wait(msg.s)
	case scannedMsg:
		if msg.s != m.scan {
			return nil
		}
		m.scan = nil
		switch {
		case errors.Is(msg.err, context.Canceled):
			return common.Info("scan cancelled; ctrl+r scans again")
		case msg.err != nil:
			return common.Fail(msg.err)
		}
		m.rep, m.at, m.acted = msg.rep, m.ctx.Now(), map[string]bool{}
		return tea.Batch(m.load(), common.Info(m.summary()))
	case tariffsMsg:
		m.tariffs = msg.ts
		return nil
	case actedMsg:
		if msg.err != nil {
			return common.Fail(msg.err)
		}
		for _, k := range msg.keys {
			m.acted[k] = true
		}
		m.list.ClearMarks()
		m.list.Acted() // the selected finding leaving is what was asked for, not news
		return tea.Batch(m.load(), common.Changed, common.Info(actedText(msg.out)))
	}
	return m.Base.Update(msg)
}

func (m *Model) summary() string {
	if m.rep == nil {
		return ""
	}
	n := len(m.rep.Findings)
	s := fmt.Sprintf("scan done: %d findings in %d modules", n, len(m.rep.Modules))
	if m.rep.Failed() {
		s += "; some modules could not be read (see above the list)"
	}
	return s
}

func actedText(out *rc.Acted) string {
	if out == nil || len(out.Steps) == 0 {
		return "nothing was queued"
	}
	first := out.Steps[0].Text
	if len(out.Steps) == 1 {
		return first
	}
	return fmt.Sprintf("%d queued, e.g. %s", len(out.Steps), first)
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Back):
		if m.scan != nil {
			m.scan.cancel()
			return nil
		}
		return common.Pop
	case m.scan != nil:
		return nil
	case key.Matches(msg, k.Refresh):
		return m.startScan()
	case key.Matches(msg, k.Open):
		return m.usual()
	case key.Matches(msg, k.Operation):
		return m.chooseOther()
	}
	return nil
}

// usual asks before the selected (or marked) findings' first action.
func (m *Model) usual() tea.Cmd {
	targets := m.list.Targets()
	if len(targets) == 0 {
		return nil
	}
	action := targets[0].f.Actions[0]
	for _, t := range targets {
		if t.f.Actions[0] != action || t.f.ModuleID != targets[0].f.ModuleID {
			return common.Info("the marked findings need different actions or modules; mark findings of one class and module")
		}
	}
	return m.prepare(action, targets)
}

// chooseOther opens a form with the other actions of the selected finding.
func (m *Model) chooseOther() tea.Cmd {
	r, ok := m.list.Selected()
	if !ok {
		return nil
	}
	var opts []form.Option
	for _, a := range r.f.Actions {
		opts = append(opts, form.Option{Label: strings.ReplaceAll(a, "_", " "), Value: a})
	}
	f := form.New(m.ctx, "Action on "+describe(r.f)).AddChoice("action", "Action", opts, r.f.Actions[0], "what to do; asked once more before it runs")
	return m.OpenForm(f, func(f *form.Model) tea.Cmd { return m.prepare(f.Value("action"), []row{r}) })
}

// prepare gathers what the action needs (an import's tariff) and then asks.
func (m *Model) prepare(action string, targets []row) tea.Cmd {
	if action == rc.ActImport && slices.ContainsFunc(targets, func(r row) bool { return r.f.Tariff == 0 }) {
		return m.chooseTariff(targets)
	}
	return m.ask(action, targets, "")
}

func (m *Model) chooseTariff(targets []row) tea.Cmd {
	module := targets[0].f.ModuleID
	var opts []form.Option
	for _, t := range m.tariffs {
		if slices.Contains(t.ModuleIDs, module) {
			opts = append(opts, form.Option{Label: fmt.Sprintf("%s (%d CPU, %d MiB RAM, %d MiB disk)", t.Name, t.CPU, t.RAMMiB, t.DiskMiB), Value: t.Name})
		}
	}
	if len(opts) == 0 {
		return common.Info(fmt.Sprintf("no tariff is served by module %d; add one (Tariffs, a) and import then", module))
	}
	what := "VM " + strconv.FormatUint(targets[0].f.VMID, 10)
	if len(targets) > 1 {
		what = fmt.Sprintf("%d VMs", len(targets))
	}
	f := form.New(m.ctx, "Import "+what+": choose the tariff").AddChoice("tariff", "Tariff", opts, opts[0].Value,
		"the services' tariff; the sizes VMmanager reports are recorded with each service")
	return m.OpenForm(f, func(f *form.Model) tea.Cmd { return m.ask(rc.ActImport, targets, f.Value("tariff")) })
}

// ask names the action and its findings, and on yes queues it.
func (m *Model) ask(action string, targets []row, tariff string) tea.Cmd {
	first := targets[0].f
	a := rc.Action{Module: first.ModuleID, Action: action, Tariff: tariff, Confirm: true}
	var q string
	switch action {
	case rc.ActImport, rc.ActMarkSystem:
		for _, t := range targets {
			a.VMs = append(a.VMs, t.f.VMID)
		}
		verb := map[string]string{rc.ActImport: "Import", rc.ActMarkSystem: "Mark as system (never reported again)"}[action]
		q = fmt.Sprintf("%s %s?", verb, describeAll(targets))
		if action == rc.ActImport {
			t := tariff
			if t == "" {
				t = "the one matching its sizes"
			}
			q = fmt.Sprintf("Import %s as new services of tariff %s?\nThe client comes from each VM's account, the status from its state.", describeAll(targets), t)
		}
	default:
		if len(targets) > 1 {
			return common.Info(strings.ReplaceAll(action, "_", " ") + " acts on one finding at a time")
		}
		a.Service = first.ServiceID
		if first.Class == rc.DuplicateVM || first.Class == rc.State {
			a.VMs = []uint64{first.VMID}
		}
		q = fmt.Sprintf("%s: %s?", strings.ReplaceAll(action, "_", " "), describe(first))
		if action == rc.ActRemoveDup {
			q = fmt.Sprintf("Delete VM %d %q of service %d? VM %d stays.", first.VMID, first.VM.Name, first.ServiceID, first.KeepVMID)
		}
	}
	keysOf := make([]string, len(targets))
	for i, t := range targets {
		keysOf[i] = t.f.Key
	}
	data := m.ctx.Data
	return m.AskCmd(q, func() tea.Msg {
		out, err := data.ReconcileAct(a)
		return actedMsg{keys: keysOf, out: out, err: err}
	})
}

func describe(f *rc.Finding) string {
	switch {
	case f.ServiceID != 0 && f.VMID != 0:
		return fmt.Sprintf("service %d, VM %d", f.ServiceID, f.VMID)
	case f.ServiceID != 0:
		return fmt.Sprintf("service %d", f.ServiceID)
	case f.VM != nil:
		return fmt.Sprintf("VM %d %q", f.VMID, f.VM.Name)
	}
	return fmt.Sprintf("VM %d", f.VMID)
}

func describeAll(targets []row) string {
	if len(targets) == 1 {
		return describe(targets[0].f)
	}
	return fmt.Sprintf("%d VMs", len(targets))
}

func text(r row) string {
	return strings.Join([]string{r.f.Class, r.module, strconv.FormatUint(r.f.ServiceID, 10), strconv.FormatUint(r.f.VMID, 10), r.f.Summary}, " ")
}

func id(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

func (m *Model) cell(r row, col int) string {
	switch col {
	case colClass:
		return r.f.Class
	case colModule:
		if r.module == "" {
			return id(r.f.ModuleID)
		}
		return r.module
	case colService:
		return id(r.f.ServiceID)
	case colVM:
		return id(r.f.VMID)
	case colFinding:
		return r.f.Summary
	}
	return ""
}

func (m *Model) cellStyle(r row, col int) *lipgloss.Style {
	if col != colClass {
		return nil
	}
	switch r.f.Class {
	case rc.MissingVM, rc.DuplicateVM:
		return &m.styles.bad
	case rc.UnknownVM:
		return &m.styles.info
	}
	return &m.styles.warn
}

// detailLines is the room under the list for the selected finding.
const detailLines = 5

// body draws the scan's state (progress, or what each module's scan compared), the list and the
// selected finding's detail.
func (m *Model) body(w, h int) string {
	head := m.head(w)
	headH := lipgloss.Height(head)
	listH := max(h-headH-detailLines, 3)
	m.list.SetSize(w, listH)
	parts := []string{head, m.list.View()}
	if d := m.detail(w); d != "" && h-headH-listH > 0 {
		parts = append(parts, d)
	}
	return lipgloss.JoinVertical(lipgloss.Left, parts...)
}

func (m *Model) head(w int) string {
	if s := m.scan; s != nil {
		p := s.last
		m.bar.Width = max(min(w-2, 60), 10)
		line := fmt.Sprintf("scanning… %s", p.Step)
		if p.Module != "" {
			line = fmt.Sprintf("scanning %s: %s, %d of %d", p.Module, p.Step, p.Done, p.Total)
		}
		if p.Left >= 0 {
			line += fmt.Sprintf(" · about %s left", time.Duration(p.Left*float64(time.Second)).Round(time.Second))
		}
		line += " · esc cancels"
		return m.bar.ViewAs(p.Fraction()) + "\n" + m.styles.faint.Render(line)
	}
	if m.rep == nil {
		return m.styles.faint.Render("no scan yet: ctrl+r scans")
	}
	lines := m.flagLines()
	for _, mr := range m.rep.Modules {
		if mr.Error != "" {
			lines = append(lines, m.styles.bad.Render(fmt.Sprintf("module %d %s: not read: %s", mr.ModuleID, mr.Name, mr.Error)))
			continue
		}
		var counts []string
		for _, c := range rc.Classes {
			if n := mr.Counts[c]; n > 0 {
				counts = append(counts, fmt.Sprintf("%s %d", c, n))
			}
		}
		if len(counts) == 0 {
			counts = []string{"no findings"}
		}
		line := fmt.Sprintf("module %d %s: %d VMs, %d services compared · %s · %d system", mr.ModuleID, mr.Name,
			mr.Compared.VMs, mr.Compared.Services, strings.Join(counts, " · "), mr.Compared.System)
		if len(mr.Unreadable) > 0 {
			line = m.styles.bad.Render(line + " · read only in part: " + mr.Unreadable[0])
		}
		lines = append(lines, line)
	}
	lines = append(lines, m.styles.faint.Render(fmt.Sprintf("scanned %s ago · read-only: nothing was changed in VMmanager", common.Age(m.ctx.Now(), m.at))))
	return lipgloss.NewStyle().Width(w).Render(strings.Join(lines, "\n"))
}

// maxFlagLines bounds the flagged services drawn above the modules, so the findings keep their room.
const maxFlagLines = 4

// flagLines are the services flagged for a reconcile look, first: why, and what the scan made of it.
func (m *Model) flagLines() []string {
	var lines []string
	for i, f := range m.rep.Flagged {
		if i == maxFlagLines {
			lines = append(lines, m.styles.faint.Render(fmt.Sprintf("… and %d more flagged (vmmpm reconcile lists them all)", len(m.rep.Flagged)-i)))
			break
		}
		who, style := "flagged: service "+id(f.ServiceID), m.styles.warn
		if f.Looked {
			who, style = "looked at: service "+id(f.ServiceID), m.styles.faint
		}
		lines = append(lines, style.Render(fmt.Sprintf("%s: %s; %s", who, f.Reason, f.Note)))
	}
	return lines
}

func (m *Model) detail(w int) string {
	r, ok := m.list.Selected()
	if !ok {
		return ""
	}
	f := r.f
	var ev []string
	for _, e := range f.Evidence {
		ev = append(ev, fmt.Sprintf("%s: vmmpm %s, VMmanager %s", e.Field, e.VMmpm, e.VMmanager))
	}
	lines := []string{m.styles.title.Render(f.Summary)}
	if len(ev) > 0 {
		lines = append(lines, strings.Join(ev, " · "))
	}
	if v := f.VM; v != nil {
		lines = append(lines, fmt.Sprintf("VM %d %q: %s, %d CPU, %d MiB RAM, %d MiB disk, IPv4 %s, owner %s", v.ID, v.Name, v.State,
			v.CPU, v.RAMMiB, v.DiskMiB, dash(strings.Join(v.IPv4, ",")), dash(v.Account)))
	}
	acts := make([]string, len(f.Actions))
	for i, a := range f.Actions {
		acts[i] = strings.ReplaceAll(a, "_", " ")
	}
	lines = append(lines, m.styles.faint.Render("actions: "+strings.Join(acts, ", ")+" (enter: the first; o: choose)"))
	return lipgloss.NewStyle().Width(w).MaxHeight(detailLines).Render(strings.Join(lines, "\n"))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
