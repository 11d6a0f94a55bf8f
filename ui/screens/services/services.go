// Package services is the Services screen: clients' VPSs, creating them from a tariff (n) and running an
// operation on the selected one (o). Both go through the engine, as `service create` and `service OP` do.
package services

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/keys"
)

type row struct {
	s      *store.Service
	tariff string
	module *store.Module
}

// Model is the Services screen.
type Model struct {
	*listscreen.Base
	ctx      *common.Context
	list     *rows.Model[row]
	tariffs  []*store.Tariff
	loadedAt time.Time
	loadCost time.Duration
	loading  bool
	styles   styles
}

// reloadFactor throttles reloads while the engine is busy: services are read whole (jobs are not), so
// a list that takes d to read is re-read at most every reloadFactor·d.
const reloadFactor = 10

type loadedMsg struct {
	rows    []row
	tariffs []*store.Tariff
	cost    time.Duration
	err     error
}

const (
	colID = iota
	colStatus
	colTariff
	colModule
	colClient
	colDomain
	colIPv4
	colHost
	colUpdated
)

// New builds the screen.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, styles: newStyles(ctx.Theme)}
	m.list = rows.New(ctx, func(r row) uint64 { return r.s.ID }, m.cell, text,
		table.Column{Title: "ID", Width: 6, Right: true},
		table.Column{Title: "STATUS", Width: 12, Keep: true},
		table.Column{Title: "TARIFF", Width: 14, Give: 1},
		table.Column{Title: "MODULE", Width: 14},
		table.Column{Title: "CLIENT", Min: 16, Give: 2},
		table.Column{Title: "DOMAIN", Min: 14},
		table.Column{Title: "IPV4", Width: 15, Keep: true},
		table.Column{Title: "VM", Width: 6, Right: true},
		table.Column{Title: "UPDATED", Width: 7, Right: true},
	)
	m.list.Noun, m.list.Multi = "service", true
	m.list.Style = m.cellStyle
	m.list.Table.SetEmpty("no services: press n to create some from a tariff")
	m.list.Table.SetNoun("services")
	m.Base = listscreen.New(ctx, listscreen.Spec{
		Load: m.startLoad,
		Key:  m.key,
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{k.NewSvc, k.Operation, k.Mark, k.MarkAll, k.CopyID}
		},
		Module: func() *store.Module { r, _ := m.list.Selected(); return r.module },
	}, m.list)
	return m
}

func (m *Model) Title() string { return "Services" }

func (m *Model) startLoad() tea.Cmd {
	if m.loading {
		return nil
	}
	m.loading = true
	return m.load
}

// load reads the services, newest first, with their tariff and module.
func (m *Model) load() tea.Msg {
	var msg loadedMsg
	began := time.Now()
	d := m.ctx.Data
	tariffs, err1 := common.All[store.Tariff](d)
	modList, err2 := common.All[store.Module](d)
	svcs, err3 := common.All[store.Service](d)
	if msg.err = errors.Join(err1, err2, err3); msg.err != nil {
		return msg
	}
	tnames, mods := common.Names(tariffs, func(t *store.Tariff) string { return t.Name }), map[uint64]*store.Module{}
	msg.tariffs = tariffs
	for _, x := range modList {
		mods[x.ID] = x
	}
	msg.rows = make([]row, 0, len(svcs))
	for _, s := range svcs {
		msg.rows = append(msg.rows, row{s: s, tariff: tnames[s.TariffID], module: mods[s.ModuleID]})
	}
	slices.Reverse(msg.rows)
	msg.cost = time.Since(began)
	return msg
}

// due says whether a changed list may be re-read yet.
func (m *Model) due() bool {
	return m.loadCost < cheapLoad || time.Since(m.loadedAt) >= reloadFactor*m.loadCost
}

// cheapLoad: a list read faster than this is simply re-read on the next tick.
const cheapLoad = 20 * time.Millisecond

func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case loadedMsg:
		m.loading, m.loadedAt, m.loadCost = false, time.Now(), msg.cost
		if msg.err != nil {
			return common.ReadFailed(msg.err)
		}
		m.tariffs = msg.tariffs
		return m.list.Set(msg.rows)
	case common.TickMsg:
		// Not yet due: the frame does not see the tick, so the moved version is still news next time.
		if !m.due() {
			return nil
		}
	}
	return m.Base.Update(msg)
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.ctx.Keys
	switch {
	case key.Matches(msg, k.NewSvc):
		return m.openCreate()
	case key.Matches(msg, k.Operation):
		if targets := m.list.Targets(); len(targets) > 0 {
			return m.openOp(targets)
		}
	}
	return nil
}

func (m *Model) openCreate() tea.Cmd {
	if len(m.tariffs) == 0 {
		return common.Info("add a tariff first (screen 6) to create services from it")
	}
	var opts []form.Option
	for _, t := range m.tariffs {
		opts = append(opts, form.Option{Label: fmt.Sprintf("%d %s", t.ID, t.Name), Value: strconv.FormatUint(t.ID, 10)})
	}
	f := form.New(m.ctx, "Create services").
		AddChoice("tariff", "Tariff", opts, "", "").
		AddText("count", "How many", "1", "each gets an open operation", true).
		AddText("client", "Client email", "", "required, e.g. ann@example.org: the VMmanager account they belong to", false)
	return m.OpenForm(f, m.create)
}

func (m *Model) create(f *form.Model) tea.Cmd {
	tariff, err := f.Uint("tariff")
	var count int
	if err == nil {
		count, err = f.Int("count")
	}
	if err != nil {
		f.Err = common.Sentence(err)
		return nil
	}
	client, data := f.Value("client"), m.ctx.Data
	return m.Run(func() (string, error) {
		ids, err := data.CreateServices(tariff, count, client)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("created %d service(s), %s; their open operations are queued", len(ids), span(ids)), nil
	})
}

func span(ids []uint64) string {
	switch len(ids) {
	case 0:
		return "none"
	case 1:
		return "id " + strconv.FormatUint(ids[0], 10)
	}
	return fmt.Sprintf("ids %d…%d", ids[0], ids[len(ids)-1])
}

// ops are the operations the screen offers on an existing service (open comes from create, or
// offered when it did not succeed).
var ops = []string{store.OpSuspend, store.OpResume, store.OpReboot, store.OpReinstall, store.OpSetPassword,
	store.OpSetParam, store.OpClose}

// offered are the operations for s: open comes first, preselected, when its open failed or was
// cancelled (the engine refuses it while another open is pending, and says so).
func offered(s *store.Service) []string {
	if s.Status == store.ServiceFailed || s.Status == store.ServiceOrdered {
		return append([]string{store.OpOpen}, ops...)
	}
	return ops
}

// openOp offers the operations on the marked services, or the selected one, each with the fields of
// its arguments in queue's table, shown while it is the chosen one.
func (m *Model) openOp(targets []row) tea.Cmd {
	var opts []form.Option
	for _, op := range offered(targets[0].s) {
		opts = append(opts, form.Option{Label: op, Value: op})
	}
	s := targets[0].s
	f := form.New(m.ctx, fmt.Sprintf("Run an operation on service %d (%s)", s.ID, s.Status))
	if len(targets) == 1 {
		f.AddText("service", "Service id", strconv.FormatUint(s.ID, 10), "", true)
	} else {
		f = form.New(m.ctx, fmt.Sprintf("Run an operation on the %d marked services (%s)", len(targets), idList(targets)))
	}
	f.AddChoice("op", "Operation", opts, "", "←/→ to choose")
	for _, op := range queue.Operations() {
		chosen := func(f *form.Model) bool { return f.Value("op") == op.Name }
		for _, a := range op.Args {
			if a.Type == queue.SecretText {
				f.AddSecret(argField(op, a), a.Label, a.Help)
			} else {
				f.AddText(argField(op, a), a.Label, "", a.Help, true)
			}
			f.When(chosen)
		}
	}
	return m.OpenForm(f, func(f *form.Model) tea.Cmd { return m.runOp(f, targets) })
}

// argField is the form key of an argument: per operation, so two operations may share a name.
func argField(op queue.Operation, a queue.Arg) string { return op.Name + "." + a.Name }

// runOp sends the chosen operation with the arguments filled in; the engine checks them. What cannot
// be undone (close, reinstall) is asked first with the service id to type (the count, over several),
// and so is any operation over several services; nothing is queued before the answer.
func (m *Model) runOp(f *form.Model, targets []row) tea.Cmd {
	if len(targets) == 1 {
		id, err := f.Uint("service")
		if err != nil {
			f.Err = common.Sentence(err)
			return nil
		}
		targets = []row{m.row(id)}
	}
	name := f.Value("op")
	op, _ := queue.OperationOf(name)
	args := map[string]string{}
	for _, a := range op.Args {
		if v := f.Value(argField(op, a)); v != "" {
			args[a.Name] = v
		}
	}
	do := m.enqueue(targets, name, args)
	switch {
	case destroys(name) != "" && len(targets) == 1:
		return m.AskTyped(destroyQuestion(name, targets[0]), strconv.FormatUint(targets[0].s.ID, 10), nil, do)
	case destroys(name) != "":
		return m.AskTyped(bulkQuestion(name, targets), strconv.Itoa(len(targets)), m.list.ClearMarks, do)
	case len(targets) > 1:
		return m.AskThen(bulkQuestion(name, targets), m.list.ClearMarks, do)
	}
	return m.Run(do)
}

// row is the listed service id, or one naming only the id when it is not on this screen (the engine
// then says whether it exists).
func (m *Model) row(id uint64) row {
	for _, r := range m.list.Items() {
		if r.s.ID == id {
			return r
		}
	}
	return row{s: &store.Service{ID: id}}
}

// enqueue queues op on every target, in order, stopping at the first refusal.
func (m *Model) enqueue(targets []row, op string, args map[string]string) func() (string, error) {
	data := m.ctx.Data
	return func() (string, error) {
		var jobs []uint64
		for i, r := range targets {
			jobID, err := data.Enqueue(r.s.ID, op, args)
			if err != nil && len(targets) > 1 {
				return "", fmt.Errorf("queued %s on %d of %d services; service %d: %w", op, i, len(targets), r.s.ID, err)
			}
			if err != nil {
				return "", err
			}
			jobs = append(jobs, jobID)
		}
		if len(targets) == 1 {
			return fmt.Sprintf("%s of service %d queued as job %d", op, targets[0].s.ID, jobs[0]), nil
		}
		return fmt.Sprintf("%s of %d services queued as jobs %s", op, len(targets), store.IDList(jobs)), nil
	}
}

// destroys is what op does to a VM that cannot be undone, or "" when it does nothing of the kind.
func destroys(op string) string {
	switch op {
	case store.OpClose:
		return "deletes"
	case store.OpReinstall:
		return "wipes the disk of"
	}
	return ""
}

// destroyQuestion names what op destroys and for whom: the service, its VM, module and client.
func destroyQuestion(op string, r row) string {
	s := r.s
	after := "disk and all; it cannot be undone."
	if op == store.OpReinstall {
		after = "and installs its OS anew; what is on the disk is lost."
	}
	return fmt.Sprintf("%s service %d of client %s?\nThis %s %s on module %s in VMmanager, %s",
		capital(op), s.ID, dash(s.ClientEmail), destroys(op), vmText(s), moduleName(r), after)
}

// bulkQuestion names op and the services it goes to, the first few with their VM, module and client.
func bulkQuestion(op string, targets []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d services?", capital(op), len(targets))
	if d := destroys(op); d != "" {
		fmt.Fprintf(&b, "\nThis %s each one's VM in VMmanager; it cannot be undone:", d)
	}
	const shown = 5
	for i, r := range targets {
		if i == shown {
			fmt.Fprintf(&b, "\n  … and %d more", len(targets)-shown)
			break
		}
		fmt.Fprintf(&b, "\n  service %d: %s on %s, client %s", r.s.ID, vmText(r.s), moduleName(r), dash(r.s.ClientEmail))
	}
	return b.String()
}

func vmText(s *store.Service) string {
	if s.VM.HostID == 0 {
		return "its VM (none recorded yet)"
	}
	if s.Domain != "" {
		return fmt.Sprintf("VM %d (%s)", s.VM.HostID, s.Domain)
	}
	return fmt.Sprintf("VM %d", s.VM.HostID)
}

func moduleName(r row) string {
	switch {
	case r.module != nil:
		return r.module.Name
	case r.s.ModuleID != 0:
		return strconv.FormatUint(r.s.ModuleID, 10)
	}
	return "(none yet)"
}

func idList(rows []row) string {
	ids := make([]uint64, len(rows))
	for i, r := range rows {
		ids[i] = r.s.ID
	}
	return store.IDList(ids)
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func text(r row) string {
	name := ""
	if r.module != nil {
		name = r.module.Name
	}
	return strings.Join([]string{strconv.FormatUint(r.s.ID, 10), r.s.Status, r.tariff, name, r.s.ClientEmail,
		r.s.Domain, strings.Join(r.s.VM.IPv4, " ")}, " ")
}

func (m *Model) cell(r row, col int) string {
	s := r.s
	switch col {
	case colID:
		return strconv.FormatUint(s.ID, 10)
	case colStatus:
		if s.Status == store.ServiceProcessing {
			return m.ctx.Spinner() + " " + s.Status
		}
		return s.Status
	case colTariff:
		return r.tariff
	case colModule:
		if r.module == nil {
			return "-"
		}
		return r.module.Name
	case colClient:
		return s.ClientEmail
	case colDomain:
		return dash(s.Domain)
	case colIPv4:
		return dash(strings.Join(s.VM.IPv4, ","))
	case colHost:
		if s.VM.HostID == 0 {
			return "-"
		}
		return strconv.FormatUint(s.VM.HostID, 10)
	case colUpdated:
		return common.Age(m.ctx.Now(), s.UpdatedAt)
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (m *Model) cellStyle(r row, col int) *lipgloss.Style {
	if col == colStatus {
		return m.styles.status[r.s.Status]
	}
	return nil
}
