// Package catalog is the Data centers and departments screen: two lists, add/edit/delete on the focused
// one, with the records' own validation.
package catalog

import (
	"fmt"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/confirm"
	"vmmpm/ui/components/form"
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
	ctx     *common.Context
	dcs     *rows.Model[*store.DataCenter]
	depts   *rows.Model[*store.Department]
	pane    int
	form    *form.Model
	editing uint64 // id being edited, 0 when adding
	confirm *confirm.Model
	version uint64
	styles  styles
}

type loadedMsg struct {
	dcs   []*store.DataCenter
	depts []*store.Department
	err   error
}

type doneMsg struct {
	info string
	err  error
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
	m.dcs.Table.SetEmpty("no data centers: press a to add one")
	m.depts = rows.New(ctx, func(d *store.Department) uint64 { return d.ID }, deptCell,
		func(d *store.Department) string { return strconv.FormatUint(d.ID, 10) + " " + d.Name },
		table.Column{Title: "ID", Width: 4, Right: true},
		table.Column{Title: "NAME", Min: 20},
	)
	m.depts.Table.SetEmpty("no departments: press a to add one")
	return m
}

func (m *Model) Title() string { return "Data centers and departments" }

func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	switch {
	case m.form != nil:
		return k.FormHelp()
	case m.confirm != nil:
		return keys.Help{Short: []key.Binding{k.Yes, k.No}}
	}
	h := k.ScreenHelp(k.Add, k.Edit, k.Delete, k.Left, k.Right)
	return h
}

func (m *Model) Capturing() bool {
	return m.form != nil || m.confirm != nil || m.dcs.Capturing() || m.depts.Capturing()
}

func (m *Model) Selected() common.Selection {
	if m.pane == paneDC {
		if d, ok := m.dcs.Selected(); ok {
			return common.Selection{ID: strconv.FormatUint(d.ID, 10)}
		}
		return common.Selection{}
	}
	if d, ok := m.depts.Selected(); ok {
		return common.Selection{ID: strconv.FormatUint(d.ID, 10)}
	}
	return common.Selection{}
}

func (m *Model) Activate() tea.Cmd { return m.load }

func (m *Model) load() tea.Msg {
	dcs, err := store.All[store.DataCenter](m.ctx.Data.DB)
	if err != nil {
		return loadedMsg{err: err}
	}
	depts, err := store.All[store.Department](m.ctx.Data.DB)
	return loadedMsg{dcs: dcs, depts: depts, err: err}
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			return common.Fail(msg.err)
		}
		m.dcs.Set(msg.dcs)
		m.depts.Set(msg.depts)
		return nil
	case common.TickMsg:
		if v := m.ctx.Data.Version(); v != m.version {
			m.version = v
			return m.load
		}
		return nil
	case common.DataChangedMsg:
		return m.load
	case doneMsg:
		if msg.err != nil {
			if m.form != nil {
				m.form.Err = common.Sentence(msg.err)
				return nil
			}
			return common.Fail(msg.err)
		}
		m.form = nil
		return tea.Batch(common.Changed, common.Info(msg.info))
	case tea.KeyMsg:
		return m.key(msg)
	}
	if m.form != nil {
		_, cmd := m.form.Update(msg)
		return cmd
	}
	_, c1 := m.dcs.Update(msg)
	_, c2 := m.depts.Update(msg)
	return tea.Batch(c1, c2)
}

func (m *Model) focused() interface {
	Update(tea.Msg) (bool, tea.Cmd)
} {
	if m.pane == paneDC {
		return m.dcs
	}
	return m.depts
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	switch {
	case m.confirm != nil:
		done, cmd := m.confirm.Update(msg)
		if done {
			m.confirm = nil
		}
		return cmd
	case m.form != nil:
		return m.formKey(msg)
	}
	if handled, cmd := m.focused().Update(msg); handled {
		return cmd
	}
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.Left), key.Matches(msg, k.Right):
		m.pane = 1 - m.pane
	case key.Matches(msg, k.Add):
		return m.openForm(0)
	case key.Matches(msg, k.Edit):
		if sel := m.Selected(); sel.ID != "" {
			id, _ := strconv.ParseUint(sel.ID, 10, 64)
			return m.openForm(id)
		}
	case key.Matches(msg, k.Delete):
		return m.askDelete()
	}
	return nil
}

func (m *Model) openForm(id uint64) tea.Cmd {
	m.editing = id
	if m.pane == paneDC {
		d := &store.DataCenter{}
		if s, ok := m.dcs.Selected(); ok && id != 0 {
			d = s
		}
		m.form = form.New(m.ctx, formTitle("data center", id)).
			AddText("name", "Name", d.Name, "1–64 characters", false).
			AddText("external_id", "External id", d.ExternalID, "leave empty for a data center VMmanager 6 modules can use", false)
	} else {
		d := &store.Department{}
		if s, ok := m.depts.Selected(); ok && id != 0 {
			d = s
		}
		m.form = form.New(m.ctx, formTitle("department", id)).
			AddText("name", "Name", d.Name, "1–64 characters", false)
	}
	return m.form.Init()
}

func formTitle(what string, id uint64) string {
	if id == 0 {
		return "Add " + what
	}
	return fmt.Sprintf("Edit %s %d", what, id)
}

func (m *Model) formKey(msg tea.KeyMsg) tea.Cmd {
	res, cmd := m.form.Update(msg)
	switch res {
	case form.Cancelled:
		m.form = nil
		return nil
	case form.Submitted:
		return m.save()
	}
	return cmd
}

// save builds the record from the form and stores it through the record's own validation.
func (m *Model) save() tea.Cmd {
	data, id := m.ctx.Data, m.editing
	var r store.Record
	what := "department"
	if m.pane == paneDC {
		r = &store.DataCenter{ID: id, Name: m.form.Value("name"), ExternalID: m.form.Value("external_id")}
		what = "data center"
	} else {
		r = &store.Department{ID: id, Name: m.form.Value("name")}
	}
	if err := r.Validate(); err != nil {
		m.form.Err = common.Sentence(err)
		return nil
	}
	return func() tea.Msg {
		if err := data.SaveCatalog(r); err != nil {
			return doneMsg{err: err}
		}
		verb := "added"
		if id != 0 {
			verb = "saved"
		}
		return doneMsg{info: fmt.Sprintf("%s %s with id %d", what, verb, r.GetID())}
	}
}

func (m *Model) askDelete() tea.Cmd {
	var r store.Record
	var q string
	if m.pane == paneDC {
		d, ok := m.dcs.Selected()
		if !ok {
			return nil
		}
		r, q = d, fmt.Sprintf("Delete data center %d %q?", d.ID, d.Name)
	} else {
		d, ok := m.depts.Selected()
		if !ok {
			return nil
		}
		r, q = d, fmt.Sprintf("Delete department %d %q?", d.ID, d.Name)
	}
	data := m.ctx.Data
	m.confirm = confirm.New(m.ctx, q, func() tea.Msg {
		if err := data.DeleteCatalog(r); err != nil {
			return doneMsg{err: err}
		}
		return doneMsg{info: fmt.Sprintf("deleted %s %d", r.Bucket(), r.GetID())}
	})
	return nil
}

// View stacks the two lists; a form or a question replaces them.
func (m *Model) View() string {
	w, h := m.ctx.Width, m.ctx.BodyHeight()
	if m.form != nil {
		return lipgloss.NewStyle().Padding(1, 2).Render(m.form.View())
	}
	if m.confirm != nil {
		return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, m.confirm.View())
	}
	top := (h - 2) / 2
	m.dcs.Table.SetSize(w, top)
	m.depts.Table.SetSize(w, h-2-top)
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
