// Package tariffs is the tariff plans screen: add, edit and delete with the command's validation.
package tariffs

import (
	"fmt"
	"strconv"
	"strings"

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

type row struct {
	t  *store.Tariff
	dc string
}

// Model is the Tariffs screen.
type Model struct {
	ctx     *common.Context
	list    *rows.Model[row]
	dcs     []*store.DataCenter
	form    *form.Model
	editing uint64
	confirm *confirm.Model
	version uint64
}

type loadedMsg struct {
	rows []row
	dcs  []*store.DataCenter
	err  error
}

type doneMsg struct {
	info string
	err  error
}

// New builds the screen.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx}
	m.list = rows.New(ctx, func(r row) uint64 { return r.t.ID }, cell, text,
		table.Column{Title: "ID", Width: 4, Right: true},
		table.Column{Title: "NAME", Min: 14},
		table.Column{Title: "DATA CENTER", Width: 14},
		table.Column{Title: "MODULES", Width: 10},
		table.Column{Title: "CPU", Width: 4, Right: true},
		table.Column{Title: "RAM MiB", Width: 8, Right: true},
		table.Column{Title: "DISK MiB", Width: 9, Right: true},
		table.Column{Title: "OS", Width: 4, Right: true},
		table.Column{Title: "RECIPE", Width: 6, Right: true},
		table.Column{Title: "IPV4", Width: 4, Right: true},
		table.Column{Title: "DOMAIN", Min: 14},
	)
	m.list.Table.SetEmpty("no tariffs: press a to add one")
	return m
}

func (m *Model) Title() string { return "Tariffs" }

func (m *Model) Help() keys.Help {
	k := m.ctx.Keys
	switch {
	case m.form != nil:
		return k.FormHelp()
	case m.confirm != nil:
		return keys.Help{Short: []key.Binding{k.Yes, k.No}}
	}
	return k.ScreenHelp(k.Add, k.Edit, k.Delete, k.CopyID)
}

func (m *Model) Capturing() bool { return m.form != nil || m.confirm != nil || m.list.Capturing() }

func (m *Model) Selected() common.Selection {
	if r, ok := m.list.Selected(); ok {
		return common.Selection{ID: strconv.FormatUint(r.t.ID, 10)}
	}
	return common.Selection{}
}

func (m *Model) Activate() tea.Cmd { return m.load }

func (m *Model) load() tea.Msg {
	var msg loadedMsg
	msg.err = m.ctx.Data.DB.View(func(tx *store.Tx) error {
		names := map[uint64]string{}
		if err := store.Each(tx, func(d *store.DataCenter) bool {
			names[d.ID] = d.Name
			msg.dcs = append(msg.dcs, d)
			return true
		}); err != nil {
			return err
		}
		return store.Each(tx, func(t *store.Tariff) bool {
			msg.rows = append(msg.rows, row{t: t, dc: names[t.DataCenterID]})
			return true
		})
	})
	return msg
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			return common.Fail(msg.err)
		}
		m.dcs = msg.dcs
		m.list.Set(msg.rows)
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
	_, cmd := m.list.Update(msg)
	return cmd
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
	if handled, cmd := m.list.Update(msg); handled {
		return cmd
	}
	k := m.ctx.Keys
	r, ok := m.list.Selected()
	switch {
	case key.Matches(msg, k.Add):
		return m.openForm(&store.Tariff{CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1})
	case key.Matches(msg, k.Edit) && ok:
		return m.openForm(r.t)
	case key.Matches(msg, k.Delete) && ok:
		id, name, data := r.t.ID, r.t.Name, m.ctx.Data
		m.confirm = confirm.New(m.ctx, fmt.Sprintf("Delete tariff %d %q?", id, name), func() tea.Msg {
			if err := data.DeleteTariff(id); err != nil {
				return doneMsg{err: err}
			}
			return doneMsg{info: fmt.Sprintf("tariff %d deleted", id)}
		})
	}
	return nil
}

func (m *Model) openForm(t *store.Tariff) tea.Cmd {
	m.editing = t.ID
	var opts []form.Option
	for _, d := range m.dcs {
		opts = append(opts, form.Option{Label: fmt.Sprintf("%d %s", d.ID, d.Name), Value: strconv.FormatUint(d.ID, 10)})
	}
	title := "Add tariff"
	if t.ID != 0 {
		title = fmt.Sprintf("Edit tariff %d", t.ID)
	}
	num := func(n int) string { return strconv.Itoa(n) }
	m.form = form.New(m.ctx, title).
		AddText("name", "Name", t.Name, "1–64 characters", false).
		AddChoice("datacenter", "Data center", opts, strconv.FormatUint(t.DataCenterID, 10), "").
		AddText("modules", "Modules", joinIDs(t.ModuleIDs), "module ids in order of preference, e.g. 1,2", false).
		AddText("cpu", "CPU", num(t.CPU), "1–256", true).
		AddText("ram_mib", "RAM, MiB", num(t.RAMMiB), "128–4194304", true).
		AddText("disk_mib", "Disk, MiB", num(t.DiskMiB), "1024–67108864", true).
		AddText("os_id", "OS image id", strconv.FormatUint(t.OSID, 10), "VMmanager OS id", true).
		AddText("recipe_id", "Recipe id", idOrEmpty(t.RecipeID), "optional", true).
		AddText("ipv4_count", "IPv4 addresses", num(t.IPv4Count), "0–16", true).
		AddText("domain_template", "Domain template", t.DomainTemplate, "macros @ID@ and @USERNAME@, optional", false)
	return m.form.Init()
}

// tariff reads the form into a record; parse errors name the field.
func (m *Model) tariff() (*store.Tariff, error) {
	t := &store.Tariff{ID: m.editing, Name: m.form.Value("name"), DomainTemplate: m.form.Value("domain_template")}
	var err error
	if t.DataCenterID, err = m.form.Uint("datacenter"); err != nil {
		return nil, err
	}
	if t.ModuleIDs, err = parseIDs(m.form.Value("modules")); err != nil {
		return nil, err
	}
	ints := []struct {
		key string
		dst *int
	}{{"cpu", &t.CPU}, {"ram_mib", &t.RAMMiB}, {"disk_mib", &t.DiskMiB}, {"ipv4_count", &t.IPv4Count}}
	for _, f := range ints {
		if *f.dst, err = m.form.Int(f.key); err != nil {
			return nil, err
		}
	}
	if t.OSID, err = m.form.Uint("os_id"); err != nil {
		return nil, err
	}
	if t.RecipeID, err = m.form.Uint("recipe_id"); err != nil {
		return nil, err
	}
	return t, nil
}

func (m *Model) save() tea.Cmd {
	t, err := m.tariff()
	if err == nil {
		err = t.Validate()
	}
	if err != nil {
		m.form.Err = common.Sentence(err)
		return nil
	}
	data := m.ctx.Data
	return func() tea.Msg {
		warning, err := data.SaveTariff(t)
		if err != nil {
			return doneMsg{err: err}
		}
		info := fmt.Sprintf("tariff %q saved with id %d", t.Name, t.ID)
		if warning != "" {
			info += "; warning: " + warning
		}
		return doneMsg{info: info}
	}
}

func (m *Model) View() string {
	if m.form != nil {
		return lipgloss.NewStyle().Padding(1, 2).Render(m.form.View())
	}
	if m.confirm != nil {
		return lipgloss.Place(m.ctx.Width, m.ctx.BodyHeight(), lipgloss.Center, lipgloss.Center, m.confirm.View())
	}
	m.list.Table.SetSize(m.ctx.Width, m.ctx.BodyHeight())
	return m.list.View()
}

func text(r row) string {
	return strconv.FormatUint(r.t.ID, 10) + " " + r.t.Name + " " + r.dc + " " + r.t.DomainTemplate
}

func cell(r row, col int) string {
	t := r.t
	switch col {
	case 0:
		return strconv.FormatUint(t.ID, 10)
	case 1:
		return t.Name
	case 2:
		return r.dc
	case 3:
		return joinIDs(t.ModuleIDs)
	case 4:
		return strconv.Itoa(t.CPU)
	case 5:
		return strconv.Itoa(t.RAMMiB)
	case 6:
		return strconv.Itoa(t.DiskMiB)
	case 7:
		return strconv.FormatUint(t.OSID, 10)
	case 8:
		if t.RecipeID == 0 {
			return "-"
		}
		return strconv.FormatUint(t.RecipeID, 10)
	case 9:
		return strconv.Itoa(t.IPv4Count)
	case 10:
		if t.DomainTemplate == "" {
			return "-"
		}
		return t.DomainTemplate
	}
	return ""
}

func joinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(s, ",")
}

func idOrEmpty(id uint64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatUint(id, 10)
}

func parseIDs(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, &form.FieldError{Label: "Modules", Rule: fmt.Sprintf("must be module ids separated by commas, not %q", f)}
		}
		out = append(out, id)
	}
	return out, nil
}
