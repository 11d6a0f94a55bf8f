// Package tasks is the department work list: what automation could not finish, with the reason.
package tasks

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/reason"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
	"vmmpm/ui/screens/jobs"
)

type row struct {
	t      *store.Task
	dept   string
	module string
}

// Model is the Tasks screen.
type Model struct {
	*listscreen.Base
	ctx    *common.Context
	list   *rows.Model[row]
	all    bool
	styles styles
}

type loadedMsg struct {
	rows []row
	err  error
}

const (
	colID = iota
	colState
	colDept
	colModule
	colService
	colJob
	colTitle
	colReason
	colAge
)

// New builds the screen.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
	m.list = rows.New(ctx, func(r row) uint64 { return r.t.ID }, m.cell, text,
		table.Column{Title: "ID", Width: 4, Right: true},
		table.Column{Title: "STATE", Width: 6},
		table.Column{Title: "DEPARTMENT", Width: 12},
		table.Column{Title: "MODULE", Width: 12},
		table.Column{Title: "SERVICE", Width: 7, Right: true},
		table.Column{Title: "JOB", Width: 6, Right: true},
		table.Column{Title: "TITLE", Width: 27},
		table.Column{Title: "REASON", Min: 20},
		table.Column{Title: "AGE", Width: 4, Right: true},
	)
	m.list.Noun, m.list.Multi = "task", true
	m.list.Style = m.cellStyle
	m.list.Table.SetEmpty("no open tasks: failed jobs open one here for their module's department")
	m.list.Table.SetNoun("tasks")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: m.load,
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{k.CloseTask, k.Mark, k.MarkAll, k.ShowAll, openJob(k), k.CopyID}
		},
		Body: m.body,
	}, m.list)
	return m
}

func (m *Model) Title() string {
	if m.all {
		return "Tasks (all)"
	}
	return "Tasks (open)"
}

// load reads the tasks, newest first, open ones only unless `A` asked for all. The choice is taken
// here, on the UI goroutine; the read runs off it.
func (m *Model) load() tea.Cmd {
	all, d := m.all, m.ctx.Data
	return func() tea.Msg { return read(d, all) }
}

func read(d *common.Data, all bool) tea.Msg {
	deptList, err1 := common.All[store.Department](d)
	modList, err2 := common.All[store.Module](d)
	tasks, err3 := common.All[store.Task](d)
	if err := errors.Join(err1, err2, err3); err != nil {
		return loadedMsg{err: err}
	}
	depts := common.Names(deptList, func(d *store.Department) string { return d.Name })
	mods := common.Names(modList, func(m *store.Module) string { return m.Name })
	var out []row
	for _, t := range tasks {
		if all || t.ClosedAt.IsZero() {
			out = append(out, row{t: t, dept: depts[t.DepartmentID], module: mods[t.ModuleID]})
		}
	}
	slices.Reverse(out)
	return loadedMsg{rows: out}
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			return common.ReadFailed(msg.err)
		}
		return m.list.Set(msg.rows)
	}
	return m.Base.Update(msg)
}

// openJob is enter, described for this screen.
func openJob(k *keys.KeyMap) key.Binding {
	b := k.Open
	b.SetHelp("enter", "open its job")
	return b
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Open):
		if r, ok := m.list.Selected(); ok && r.t.JobID != 0 {
			return common.Push(jobs.NewDetail(m.ctx, r.t.JobID))
		}
	case key.Matches(msg, k.ShowAll):
		m.all = !m.all
		return m.load()
	case key.Matches(msg, k.CloseTask):
		return m.askClose()
	}
	return nil
}

// askClose asks before closing the marked tasks, or the selected one, naming them; tasks already
// closed are left out.
func (m *Model) askClose() tea.Cmd {
	var open []*store.Task
	for _, r := range m.list.Targets() {
		if r.t.ClosedAt.IsZero() {
			open = append(open, r.t)
		}
	}
	switch {
	case len(open) == 0 && len(m.list.Marked()) > 0:
		return common.Info("the marked tasks are already closed")
	case len(open) == 0:
		if r, ok := m.list.Selected(); ok {
			return common.Info(fmt.Sprintf("task %d is already closed", r.t.ID))
		}
		return nil
	}
	q := fmt.Sprintf("Close task %d (%s)?", open[0].ID, open[0].Title)
	if len(open) > 1 {
		ids := make([]uint64, len(open))
		for i, t := range open {
			ids[i] = t.ID
		}
		q = fmt.Sprintf("Close %d tasks (%s)?", len(open), store.IDList(ids))
	}
	data := m.ctx.Data
	return m.AskThen(q, m.list.ClearMarks, func() (string, error) {
		for i, t := range open {
			if err := data.CloseTask(t.ID); err != nil {
				return "", fmt.Errorf("closed %d of %d tasks; task %d: %w", i, len(open), t.ID, err)
			}
		}
		if len(open) == 1 {
			return fmt.Sprintf("task %d closed", open[0].ID), nil
		}
		return fmt.Sprintf("%d tasks closed", len(open)), nil
	})
}

// body is the list with the selected task's whole reason under it, wrapped to the width.
func (m *Model) body(w, h int) string {
	var lines []string
	if r, ok := m.list.Selected(); ok {
		lines = reason.Lines("reason:", r.t.Reason, w, reason.Most(h), m.styles.label, m.styles.reason)
	}
	return reason.Below(m.list, w, h, lines)
}

func text(r row) string {
	return strings.Join([]string{strconv.FormatUint(r.t.ID, 10), r.dept, r.module, r.t.Title, r.t.Reason,
		"svc " + strconv.FormatUint(r.t.ServiceID, 10), "job " + strconv.FormatUint(r.t.JobID, 10)}, " ")
}

func id(n uint64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(n, 10)
}

func (m *Model) cell(r row, col int) string {
	t := r.t
	switch col {
	case colID:
		return strconv.FormatUint(t.ID, 10)
	case colState:
		if t.ClosedAt.IsZero() {
			return "open"
		}
		return "closed"
	case colDept:
		return r.dept
	case colModule:
		if r.module == "" {
			return id(t.ModuleID)
		}
		return r.module
	case colService:
		return id(t.ServiceID)
	case colJob:
		return id(t.JobID)
	case colTitle:
		return t.Title
	case colReason:
		return t.Reason
	case colAge:
		return common.Age(m.ctx.Now(), t.CreatedAt)
	}
	return ""
}

func (m *Model) cellStyle(r row, col int) *lipgloss.Style {
	if col == colState && r.t.ClosedAt.IsZero() {
		return &m.styles.open
	}
	if !r.t.ClosedAt.IsZero() {
		return &m.styles.closed
	}
	return nil
}
