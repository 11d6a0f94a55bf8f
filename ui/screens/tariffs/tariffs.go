// Package tariffs is the tariff plans screen: add, edit and delete with the command's validation; the
// form picks modules by name and OS and recipe among what their VMmanager offers.
package tariffs

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
	"vmmpm/wizard"
)

type row struct {
	t  *store.Tariff
	dc string
}

// Model is the Tariffs screen.
type Model struct {
	*listscreen.Base
	ctx     *common.Context
	list    *rows.Model[row]
	dcs     []*store.DataCenter
	modules []*store.Module
}

type loadedMsg struct {
	rows    []row
	dcs     []*store.DataCenter
	modules []*store.Module
	err     error
}

// imagesMsg brings what the modules' VMmanagers offer, for the form's OS and recipe lists; err is
// the first module that could not be asked.
type imagesMsg struct {
	tariff *store.Tariff
	images []*wizard.Images
	err    error
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
	m.list.Noun = "tariff"
	m.list.Table.SetEmpty("no tariffs: press a to add one")
	m.list.Table.SetNoun("tariffs")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: func() tea.Cmd { return m.load },
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{k.Add, k.Edit, k.Delete, k.CopyID}
		},
	}, m.list)
	return m
}

func (m *Model) Title() string { return "Tariffs" }

func (m *Model) load() tea.Msg {
	var msg loadedMsg
	dcs, err1 := common.All[store.DataCenter](m.ctx.Data)
	mods, err2 := common.All[store.Module](m.ctx.Data)
	tariffs, err3 := common.All[store.Tariff](m.ctx.Data)
	if msg.err = errors.Join(err1, err2, err3); msg.err != nil {
		return msg
	}
	names := common.Names(dcs, func(d *store.DataCenter) string { return d.Name })
	msg.dcs, msg.modules = dcs, mods
	for _, t := range tariffs {
		msg.rows = append(msg.rows, row{t: t, dc: names[t.DataCenterID]})
	}
	return msg
}

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		if msg.err != nil {
			return common.ReadFailed(msg.err)
		}
		m.dcs, m.modules = msg.dcs, msg.modules
		return m.list.Set(msg.rows)
	case imagesMsg:
		return m.openForm(msg)
	}
	return m.Base.Update(msg)
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.ctx.Keys
	r, ok := m.list.Selected()
	switch {
	case key.Matches(msg, k.Add):
		return m.fetchImages(&store.Tariff{CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1})
	case key.Matches(msg, k.Edit) && ok:
		return m.fetchImages(r.t)
	case key.Matches(msg, k.Delete) && ok:
		id, name, data := r.t.ID, r.t.Name, m.ctx.Data
		return m.Ask(fmt.Sprintf("Delete tariff %d %q?", id, name), func() (string, error) {
			if err := data.DeleteTariff(id); err != nil {
				return "", err
			}
			return fmt.Sprintf("tariff %d deleted", id), nil
		})
	}
	return nil
}

// fetchImages asks every module's VMmanager for its OS images and recipes, off the UI goroutine, so
// the form can offer them by name.
func (m *Model) fetchImages(t *store.Tariff) tea.Cmd {
	ids := make([]uint64, len(m.modules))
	for i, mod := range m.modules {
		ids[i] = mod.ID
	}
	data := m.ctx.Data
	return tea.Batch(common.Info("reading OS images and recipes from VMmanager…"), func() tea.Msg {
		msg := imagesMsg{tariff: t}
		for _, id := range ids {
			im, err := data.ModuleImages(id)
			if err != nil {
				if msg.err == nil {
					msg.err = fmt.Errorf("module %d: %w", id, err)
				}
				continue
			}
			msg.images = append(msg.images, im)
		}
		return msg
	})
}

// openForm shows the tariff form: modules picked by name, OS and recipe chosen among what the modules'
// VMmanagers offer (by id where none could be asked).
func (m *Model) openForm(msg imagesMsg) tea.Cmd {
	t := msg.tariff
	var dcs, mods []form.Option
	for _, d := range m.dcs {
		dcs = append(dcs, form.Option{Label: fmt.Sprintf("%d %s", d.ID, d.Name), Value: strconv.FormatUint(d.ID, 10)})
	}
	picked := make([]string, len(t.ModuleIDs))
	for i, id := range t.ModuleIDs {
		picked[i] = strconv.FormatUint(id, 10)
	}
	for _, mod := range m.modules {
		mods = append(mods, form.Option{Label: fmt.Sprintf("%d %s", mod.ID, mod.Name), Value: strconv.FormatUint(mod.ID, 10)})
	}
	title := "Add tariff"
	if t.ID != 0 {
		title = fmt.Sprintf("Edit tariff %d", t.ID)
	}
	num := func(n int) string { return strconv.Itoa(n) }
	f := form.New(m.ctx, title).
		AddText("name", "Name", t.Name, "1–64 characters", false).
		AddChoice("datacenter", "Data center", dcs, strconv.FormatUint(t.DataCenterID, 10), "").
		AddMulti("modules", "Modules", mods, picked, "space picks, ←/→ moves (the lowest sort wins)").
		AddText("cpu", "CPU", num(t.CPU), "1–256", true).
		AddText("ram_mib", "RAM, MiB", num(t.RAMMiB), "128–4194304", true).
		AddText("disk_mib", "Disk, MiB", num(t.DiskMiB), "1024–67108864", true)
	if len(msg.images) > 0 {
		oses, recipes := imageOptions(msg.images, t)
		f.AddChoice("os_id", "OS image", oses, strconv.FormatUint(t.OSID, 10), "as the modules' VMmanager lists them").
			AddChoice("recipe_id", "Recipe", recipes, idOrEmpty(t.RecipeID), "")
	} else {
		f.AddText("os_id", "OS image id", strconv.FormatUint(t.OSID, 10), "VMmanager OS id", true).
			AddText("recipe_id", "Recipe id", idOrEmpty(t.RecipeID), "optional", true)
	}
	f.AddText("ipv4_count", "IPv4 addresses", num(t.IPv4Count), "0–16", true).
		AddText("domain_template", "Domain template", t.DomainTemplate, "macros @ID@ and @USERNAME@, optional", false)
	if msg.err != nil {
		f.Err = "Could not list OS images and recipes (" + common.Sentence(msg.err) + "); the save checks them all the same."
	}
	id := t.ID
	return m.OpenForm(f, func(f *form.Model) tea.Cmd { return m.save(f, id) })
}

// imageOptions are the OS images and recipes any of the modules offers, by id, each named once; the
// tariff's own OS or recipe stays listed when none offers it, so the save can say why.
func imageOptions(images []*wizard.Images, t *store.Tariff) (oses, recipes []form.Option) {
	osName, recipeName := map[uint64]string{}, map[uint64]string{}
	for _, im := range images {
		for _, o := range im.OS {
			osName[o.ID] = o.Name
		}
		for _, r := range im.Recipes {
			recipeName[r.ID] = r.Name
		}
	}
	if _, ok := osName[t.OSID]; !ok && t.OSID != 0 {
		osName[t.OSID] = "(not offered by these modules)"
	}
	if _, ok := recipeName[t.RecipeID]; !ok && t.RecipeID != 0 {
		recipeName[t.RecipeID] = "(not offered by these modules)"
	}
	recipes = []form.Option{{Label: "none", Value: ""}}
	return options(osName), append(recipes, options(recipeName)...)
}

func options(names map[uint64]string) []form.Option {
	ids := slices.Sorted(maps.Keys(names))
	out := make([]form.Option, len(ids))
	for i, id := range ids {
		out[i] = form.Option{Label: fmt.Sprintf("%d %s", id, names[id]), Value: strconv.FormatUint(id, 10)}
	}
	return out
}

// tariff reads the form into a record; parse errors name the field.
func tariff(f *form.Model, id uint64) (*store.Tariff, error) {
	t := &store.Tariff{ID: id, Name: f.Value("name"), DomainTemplate: f.Value("domain_template")}
	var err error
	if t.DataCenterID, err = f.Uint("datacenter"); err != nil {
		return nil, err
	}
	if t.ModuleIDs, err = parseIDs(f.Value("modules")); err != nil {
		return nil, err
	}
	ints := []struct {
		key string
		dst *int
	}{{"cpu", &t.CPU}, {"ram_mib", &t.RAMMiB}, {"disk_mib", &t.DiskMiB}, {"ipv4_count", &t.IPv4Count}}
	for _, n := range ints {
		if *n.dst, err = f.Int(n.key); err != nil {
			return nil, err
		}
	}
	if t.OSID, err = f.Uint("os_id"); err != nil {
		return nil, err
	}
	if t.RecipeID, err = f.Uint("recipe_id"); err != nil {
		return nil, err
	}
	return t, nil
}

func (m *Model) save(f *form.Model, id uint64) tea.Cmd {
	t, err := tariff(f, id)
	if err == nil {
		err = t.Validate()
	}
	if err != nil {
		f.Err = common.Sentence(err)
		return nil
	}
	data := m.ctx.Data
	return m.Run(func() (string, error) {
		warning, err := data.SaveTariff(t)
		if err != nil {
			return "", err
		}
		info := fmt.Sprintf("tariff %q saved with id %d", t.Name, t.ID)
		if warning != "" {
			info += "; warning: " + warning
		}
		return info, nil
	})
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
		return t.ModuleList()
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
