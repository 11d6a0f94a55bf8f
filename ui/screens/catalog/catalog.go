// Package catalog is the Data centers and departments screen: two lists, add/edit/delete on the focused
// one, with the records' own validation.
package catalog

import (
	"fmt"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
)

const (
	paneDC = iota
	paneDept
)

// Model is the Catalog screen.
type Model struct {
	*listscreen.Base
	ctx    *common.Context
	dcs    *rows.Model[*store.DataCenter]
	depts  *rows.Model[*store.Department]
	pane   int
	styles styles
}

type loadedMsg struct {
	dcs   []*store.DataCenter
	depts []*store.Department
	err   error
}

// New builds the screen.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
	m.dcs = rows.New(ctx, func(d *store.DataCenter) uint64 { return d.ID }, dcCell,
		func(d *store.DataCenter) string {
			return strconv.FormatUint(d.ID, 10) + " " + d.Name + " " + d.ExternalID
		},
		table.Column{Title: "ID", Width: 4, Right: true},
		table.Column{Title: "NAME", Min: 20},
		table.Column{Title: "EXTERNAL ID", Width: 40},
	)
	m.dcs.Noun = "data center"
	m.dcs.Table.SetEmpty("no data centers: press a to add one")
	m.dcs.Table.SetNoun("data centers")
	m.depts = rows.New(ctx, func(d *store.Department) uint64 { return d.ID }, deptCell,
		func(d *store.Department) string { return strconv.FormatUint(d.ID, 10) + " " + d.Name },
		table.Column{Title: "ID", Width: 4, Right: true},
		table.Column{Title: "NAME", Min: 20},
	)
	m.depts.Noun = "department"
	m.depts.Table.SetEmpty("no departments: press a to add one")
	m.depts.Table.SetNoun("departments")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: func() tea.Cmd { return m.load },
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{k.Add, k.Edit, k.Delete, k.Left, k.Right}
		},
		Focus: m.focused,
		Body:  m.body,
	}, m.dcs, m.depts)
	return m
}

func (m *Model) Title() string { return "Data centers and departments" }

func (m *Model) load() tea.Msg {
	dcs, err := common.All[store.DataCenter](m.ctx.Data)
	if err != nil {
		return loadedMsg{err: err}
	}
	depts, err := common.All[store.Department](m.ctx.Data)
	return loadedMsg{dcs: dcs, depts: depts, err: err}
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	if msg, ok := msg.(loadedMsg); ok {
		if msg.err != nil {
			return common.ReadFailed(msg.err)
		}
		return tea.Batch(m.dcs.Set(msg.dcs), m.depts.Set(msg.depts))
	}
	return m.Base.Update(msg)
}

func (m *Model) focused() listscreen.List {
	if m.pane == paneDC {
		return m.dcs
	}
	return m.depts
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Left), key.Matches(msg, k.Right):
		m.pane = 1 - m.pane
	case key.Matches(msg, k.Add):
		return m.openForm(0)
	case key.Matches(msg, k.Edit):
		if id, ok := m.focused().SelectedID(); ok {
			return m.openForm(id)
		}
	case key.Matches(msg, k.Delete):
		return m.askDelete()
	}
	return nil
}

func (m *Model) openForm(id uint64) tea.Cmd {
	var f *form.Model
	if m.pane == paneDC {
		d := &store.DataCenter{}
		if s, ok := m.dcs.Selected(); ok && id != 0 {
			d = s
		}
		f = form.New(m.ctx, formTitle("data center", id)).
			AddText("name", "Name", d.Name, "1–64 characters", false).
			AddText("external_id", "External id", d.ExternalID, "leave empty for a data center VMmanager 6 modules can use", false)
	} else {
		d := &store.Department{}
		if s, ok := m.depts.Selected(); ok && id != 0 {
			d = s
		}
		f = form.New(m.ctx, formTitle("department", id)).
			AddText("name", "Name", d.Name, "1–64 characters", false)
	}
	return m.OpenForm(f, func(f *form.Model) tea.Cmd { return m.save(f, id) })
}

func formTitle(what string, id uint64) string {
	if id == 0 {
		return "Add " + what
	}
	return fmt.Sprintf("Edit %s %d", what, id)
}

// save builds the record from the form and stores it through the record's own validation.
func (m *Model) save(f *form.Model, id uint64) tea.Cmd {
	data := m.ctx.Data
	var r store.Record
	what := "department"
	if m.pane == paneDC {
		r = &store.DataCenter{ID: id, Name: f.Value("name"), ExternalID: f.Value("external_id")}
		what = "data center"
	} else {
		r = &store.Department{ID: id, Name: f.Value("name")}
	}
	if err := r.Validate(); err != nil {
		f.Err = common.Sentence(err)
		return nil
	}
	return m.Run(func() (string, error) {
		if err := data.SaveCatalog(r); err != nil {
			return "", err
		}
		verb := "added"
		if id != 0 {
			verb = "saved"
		}
		return fmt.Sprintf("%s %s with id %d", what, verb, r.GetID()), nil
	})
}

func (m *Model) askDelete() tea.Cmd {
	var r store.Record
	var q, what string
	if m.pane == paneDC {
		d, ok := m.dcs.Selected()
		if !ok {
			return nil
		}
		r, what = d, fmt.Sprintf("data center %d %q", d.ID, d.Name)
	} else {
		d, ok := m.depts.Selected()
		if !ok {
			return nil
		}
		r, what = d, fmt.Sprintf("department %d %q", d.ID, d.Name)
	}
	q = "Delete " + what + "?"
	data := m.ctx.Data
	return m.Ask(q, func() (string, error) {
		if err := data.DeleteCatalog(r); err != nil {
			return "", err
		}
		return what + " deleted", nil
	})
}

// body stacks the two lists.
func (m *Model) body(w, h int) string {
	top := (h - 2) / 2
	m.dcs.SetSize(w, top)
	m.depts.SetSize(w, h-2-top)
	return m.title("Data centers", paneDC) + "\n" + m.dcs.View() + "\n" +
		m.title("Departments", paneDept) + "\n" + m.depts.View()
}

func (m *Model) title(s string, pane int) string {
	if m.pane == pane {
		return m.styles.active.Render(m.ctx.Theme.Cursor + " " + s)
	}
	return m.styles.inactive.Render("  " + s + "  (←/→ to switch)")
}

func dcCell(d *store.DataCenter, col int) string {
	switch col {
	case 0:
		return strconv.FormatUint(d.ID, 10)
	case 1:
		return d.Name
	}
	if d.ExternalID == "" {
		return "-"
	}
	return d.ExternalID + " (no VMmanager 6 modules)"
}

func deptCell(d *store.Department, col int) string {
	if col == 0 {
		return strconv.FormatUint(d.ID, 10)
	}
	return d.Name
}
