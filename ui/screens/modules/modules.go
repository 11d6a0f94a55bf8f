// Package modules is the home screen: the processing modules, with the wizard to add (a) or edit (e)
// one, parameters (enter), a connection test (t) and delete (d).
package modules

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"vmmpm/queue"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
	"vmmpm/ui/screens/params"
	rcscreen "vmmpm/ui/screens/reconcile"
	"vmmpm/ui/wizardform"
)

// row is a module with the names of what it points at, and its last reconcile scan.
type row struct {
	m        *store.Module
	dc, dept string
	scan     *reconcile.Summary
}

// Model is the Modules screen.
type Model struct {
	*listscreen.Base
	ctx     *common.Context
	list    *rows.Model[row]
	testing map[uint64]bool
	styles  styles
	// room is each module's free room from the figures (read after the records, so they never wait
	// for VMmanager); reading is set while a read is in flight.
	room    map[uint64]*stats.Module
	reading bool
}

// roomMsg carries the modules' free room.
type roomMsg struct {
	byID map[uint64]*stats.Module
}

// OpenWizardMsg asks the app to open the Add wizard.
type OpenWizardMsg struct{}

type loadedMsg struct {
	rows []row
	err  error
}

type checkedMsg struct {
	id   uint64
	err  error
	info string // the success sentence, when not the plain connection test's
}

const (
	colID = iota
	colName
	colCluster
	colDC
	colDept
	colURL
	colTLS
	colQueue
	colSort
	colCheck
)

// New builds the screen.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, testing: map[uint64]bool{}, styles: newStyles(ctx.Theme)}
	m.list = rows.New(ctx, func(r row) uint64 { return r.m.ID }, m.cell, text,
		table.Column{Title: "ID", Width: 3, Right: true},
		table.Column{Title: "NAME", Width: 13},
		table.Column{Title: "CLUSTER", Width: 14, Give: 1},
		table.Column{Title: "DATA CENTER", Width: 11, Give: 2},
		table.Column{Title: "DEPARTMENT", Width: 12, Give: 2},
		table.Column{Title: "URL", Width: 22, Tail: true},
		table.Column{Title: "TLS", Width: 8},
		table.Column{Title: "QUEUE", Width: 17, Tail: true},
		table.Column{Title: "SORT", Width: 4, Right: true},
		table.Column{Title: "LAST CHECK", Width: 10, Give: 2},
	)
	m.list.Noun = "module"
	m.list.Style = m.cellStyle
	m.list.Table.SetEmpty("no modules yet: press a to add one with the wizard")
	m.list.Table.SetNoun("modules")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: func() tea.Cmd { return m.load },
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{k.Add, k.Edit, k.Open, k.Test, k.Deep, k.Reconcile, k.Pause, k.Delete}
		},
		Module: func() *store.Module { r, _ := m.list.Selected(); return r.m },
		Body:   m.body,
	}, m.list)
	return m
}

func (m *Model) Title() string { return "Modules" }

func (m *Model) load() tea.Msg {
	d := m.ctx.Data
	dcs, err1 := common.All[store.DataCenter](d)
	depts, err2 := common.All[store.Department](d)
	mods, err3 := common.All[store.Module](d)
	if err := errors.Join(err1, err2, err3); err != nil {
		return loadedMsg{err: err}
	}
	dcName := common.Names(dcs, func(d *store.DataCenter) string { return d.Name })
	deptName := common.Names(depts, func(d *store.Department) string { return d.Name })
	scans, err := d.ReconcileLast()
	if err != nil {
		return loadedMsg{err: err}
	}
	out := make([]row, 0, len(mods))
	for _, mod := range mods {
		r := row{m: mod, dc: dcName[mod.DataCenterID], dept: deptName[mod.DepartmentID]}
		for i := range scans {
			if scans[i].ModuleID == mod.ID {
				r.scan = &scans[i]
			}
		}
		out = append(out, r)
	}
	return loadedMsg{rows: out}
}

// Update handles the screen's data messages; the frame the rest.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			return common.ReadFailed(msg.err)
		}
		return tea.Batch(m.list.Set(msg.rows), m.loadRoom())
	case roomMsg:
		m.reading = false
		if msg.byID != nil {
			m.room = msg.byID
		}
		return nil
	case checkedMsg:
		delete(m.testing, msg.id)
		if msg.err != nil {
			return tea.Batch(m.load, common.Fail(msg.err))
		}
		if msg.info == "" {
			msg.info = fmt.Sprintf("module %d: connection works, the account is an administrator", msg.id)
		}
		return tea.Batch(m.load, common.Info(msg.info))
	}
	return m.Base.Update(msg)
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Add):
		return func() tea.Msg { return OpenWizardMsg{} }
	case key.Matches(msg, k.Reconcile):
		return common.Push(rcscreen.New(m.ctx))
	}
	r, ok := m.list.Selected()
	if !ok {
		return nil
	}
	switch {
	case key.Matches(msg, k.Open):
		return common.Push(params.New(m.ctx, r.m))
	case key.Matches(msg, k.Edit):
		return common.Push(wizardform.NewScreen(m.ctx, wizardform.Options{Edit: r.m}))
	case key.Matches(msg, k.Test):
		if m.testing[r.m.ID] {
			return nil
		}
		m.testing[r.m.ID] = true
		id := r.m.ID
		return tea.Batch(common.Info(fmt.Sprintf("testing the connection of module %d…", id)), func() tea.Msg {
			return checkedMsg{id: id, err: m.ctx.Data.CheckModule(id)}
		})
	case key.Matches(msg, k.Deep):
		if m.testing[r.m.ID] {
			return nil
		}
		m.testing[r.m.ID] = true
		id := r.m.ID
		return tea.Batch(common.Info(fmt.Sprintf("deep check of module %d: reading every endpoint vmmpm relies on…", id)),
			func() tea.Msg {
				verdict, err := m.ctx.Data.DeepCheck(id)
				return checkedMsg{id: id, err: err, info: verdict}
			})
	case key.Matches(msg, k.Pause):
		return m.askPause(r.m)
	case key.Matches(msg, k.Delete):
		id, name := r.m.ID, r.m.Name
		return m.Ask(fmt.Sprintf("Delete module %d %q and its stored password?\n"+
			"Tariffs that list it keep their other modules.", id, name), func() (string, error) {
			warnings, err := m.ctx.Data.DeleteModule(id)
			if err != nil {
				return "", err
			}
			return strings.Join(append([]string{fmt.Sprintf("module %q deleted with its stored password", name)}, warnings...), "; "), nil
		})
	}
	return nil
}

// paused is module id's pause as the figures last said, nil when it runs.
func (m *Model) paused(id uint64) *queue.ModulePause {
	if sm := m.room[id]; sm != nil {
		return sm.Paused
	}
	return nil
}

// askPause asks before pausing a running module or resuming a paused one.
func (m *Model) askPause(mod *store.Module) tea.Cmd {
	id, name, p := mod.ID, mod.Name, m.paused(mod.ID)
	q := fmt.Sprintf("Pause module %d %q?\nNone of its operations starts until you resume it (p); running ones finish.", id, name)
	done := fmt.Sprintf("module %q paused: its queued operations wait; vmmpm module drain %d waits for the running ones", name, id)
	if p != nil {
		q = fmt.Sprintf("Resume module %d %q (%s)?\nIts queued operations start again.", id, name, p)
		done = fmt.Sprintf("module %q runs again", name)
	}
	b := m.ctx.Data.Backend()
	return m.Ask(q, func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), common.ReadTimeout)
		defer cancel()
		if _, err := b.PauseModule(ctx, id, p == nil); err != nil {
			return "", err
		}
		return done, nil
	})
}

// loadRoom reads the figures for the FREE column: what each module's VMmanager has free, as the
// engine last read it.
func (m *Model) loadRoom() tea.Cmd {
	if m.reading || m.ctx.Data == nil || m.ctx.Data.Backend() == nil {
		return nil
	}
	m.reading = true
	b := m.ctx.Data.Backend()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), common.ReadTimeout)
		defer cancel()
		s, err := b.Stats(ctx)
		if err != nil {
			return roomMsg{}
		}
		out := map[uint64]*stats.Module{}
		for i := range s.Modules {
			out[s.Modules[i].ID] = &s.Modules[i]
		}
		return roomMsg{byID: out}
	}
}

// body is the list and, under it, what the selected module's VMmanager has free (once the figures
// hold it, what is under the module's threshold in the warning colour) and its last reconcile scan.
func (m *Model) body(w, h int) string {
	var lines []string
	if r, ok := m.list.Selected(); ok {
		if sm := m.room[r.m.ID]; sm != nil && sm.Capacity != nil {
			line := fmt.Sprintf("%s free in VMmanager: %s (read %s ago)", r.m.Name, stats.RoomText(sm.Capacity), common.Age(m.ctx.Now(), sm.Capacity.At))
			if len(sm.Low) > 0 {
				line = m.styles.warn.Render(fmt.Sprintf("%s · low (under %d%% free): %s", line, sm.CapacityWarn, strings.Join(sm.Low, "; ")))
			}
			lines = append(lines, line)
		}
		line := scanText(m.ctx, r.m, r.scan)
		if r.scan != nil && (r.scan.Failed || r.scan.Total() > 0) {
			line = m.styles.warn.Render(line)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 || h < 3+len(lines) {
		m.list.SetSize(w, h)
		return m.list.View()
	}
	m.list.SetSize(w, h-1-len(lines))
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return m.list.View() + "\n\n" + strings.Join(lines, "\n")
}

func text(r row) string {
	return strings.Join([]string{strconv.FormatUint(r.m.ID, 10), r.m.Name, r.m.Cluster.Name,
		r.m.Cluster.Virtualization, r.dc, r.dept, r.m.URL}, " ")
}

func (m *Model) cell(r row, col int) string {
	mod := r.m
	switch col {
	case colID:
		return strconv.FormatUint(mod.ID, 10)
	case colName:
		if !mod.Enabled {
			return mod.Name + " (off)"
		}
		return mod.Name
	case colCluster:
		return fmt.Sprintf("%s (%s)", mod.Cluster.Name, strings.ToUpper(mod.Cluster.Virtualization))
	case colDC:
		return r.dc
	case colDept:
		return r.dept
	case colURL:
		return strings.TrimPrefix(mod.URL, "https://") // the TLS column says how it is reached
	case colTLS:
		state, _ := common.TLSState(mod)
		return state
	case colQueue:
		q := "off"
		if mod.Params.Queue {
			q = fmt.Sprintf("%s ×%d", mod.Params.QueueKey, mod.Params.QueueCount)
		}
		if m.paused(mod.ID) != nil {
			q += " PAUSED" // the column keeps its end: the mark is never cut
		}
		return q
	case colSort:
		return strconv.Itoa(mod.Sort)
	case colCheck:
		if m.testing[mod.ID] {
			return m.ctx.Spinner() + " testing"
		}
		return checkText(m.ctx, mod.LastCheck)
	}
	return ""
}

// scanText says what module mod's last reconcile scan found, with its counts and age.
func scanText(ctx *common.Context, mod *store.Module, s *reconcile.Summary) string {
	head := fmt.Sprintf("reconcile of module %d: ", mod.ID)
	switch {
	case s == nil:
		return head + "never scanned; R scans every module"
	case s.Error != "":
		return head + "could not read it " + common.Age(ctx.Now(), s.At) + " ago: " + s.Error
	case s.Total() == 0:
		return fmt.Sprintf("%sclean %s ago (%d VMs, %d services compared); R scans again", head, common.Age(ctx.Now(), s.At), s.VMs, s.Services)
	}
	var counts []string
	for _, c := range reconcile.Classes {
		if n := s.Counts[c]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", c, n))
		}
	}
	part := ""
	if s.Failed {
		part = ", read only in part"
	}
	return fmt.Sprintf("%s%d findings %s ago%s: %s; R to see them", head, s.Total(), common.Age(ctx.Now(), s.At), part, strings.Join(counts, " · "))
}

func checkText(ctx *common.Context, c *store.Check) string {
	if c == nil {
		return "never"
	}
	word := "ok"
	if !c.OK {
		word = "FAILED"
	}
	return word + " " + common.Age(ctx.Now(), c.At)
}

func (m *Model) cellStyle(r row, col int) *lipgloss.Style {
	_, tlsWarn := common.TLSState(r.m)
	switch {
	case col == colTLS && tlsWarn:
		return &m.styles.warn
	case col == colCheck && r.m.LastCheck != nil && !r.m.LastCheck.OK:
		return &m.styles.bad
	case col == colCheck && r.m.LastCheck != nil:
		return &m.styles.good
	case col == colQueue && m.paused(r.m.ID) != nil:
		return &m.styles.warn
	case col == colName && !r.m.Enabled:
		return &m.styles.faint
	}
	return nil
}
