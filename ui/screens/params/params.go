// Package params is the module parameters screen (spec §4): session storage period and the queue
// settings, with the live expansion preview. Labels and rules come from wizard.Settings; saving goes through wizard.EditModule, as `module set` does.
package params

import (
	"fmt"
	"strconv"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/keys"
	"vmmpm/wizard"
)

// Model is the parameters screen of one module.
type Model struct {
	ctx    *common.Context
	module *store.Module
	form   *form.Model
	styles styles
}

type savedMsg struct {
	warnings []string
	err      error
}

// New opens the parameters of module m.
func New(ctx *common.Context, m *store.Module) *Model {
	p := m.Params
	st := wizard.SettingOf
	f := form.New(ctx, fmt.Sprintf("Parameters of module %d %q", m.ID, m.Name)).
		AddText("session_ttl", st("session_ttl").Label, strconv.Itoa(p.SessionTTL), st("session_ttl").Hint(), true).
		AddSwitch("queue", st("queue").Label, p.Queue, st("queue").Hint()).
		AddText("queue_key", st("queue_key").Label, p.QueueKey, st("queue_key").Hint(), false).
		AddText("queue_count", st("queue_count").Label, strconv.Itoa(p.QueueCount), st("queue_count").Hint(), true)
	return &Model{ctx: ctx, module: m, form: f, styles: newStyles(ctx.Theme)}
}

func (m *Model) Title() string     { return "Module parameters" }
func (m *Model) Help() keys.Help   { return m.form.Help() }
func (m *Model) Capturing() bool   { return true }
func (m *Model) Activate() tea.Cmd { return m.form.Init() }
func (m *Model) Selected() common.Selection {
	return common.Selection{ID: strconv.FormatUint(m.module.ID, 10), Module: m.module}
}

// changes are the form's values as typed changes; the numbers are read here, so a typo is refused on
// the form before anything is sent.
func (m *Model) changes() (*wizard.ModuleChanges, error) {
	ttl, err := wizard.ParseSessionTTL(m.form.Value("session_ttl"))
	if err != nil {
		return nil, err
	}
	count, err := wizard.ParseQueueCount(m.form.Value("queue_count"))
	if err != nil {
		return nil, err
	}
	queue, key := m.form.Bool("queue"), m.form.Value("queue_key")
	return &wizard.ModuleChanges{SessionTTL: &ttl, Queue: &queue, QueueKey: &key, QueueCount: &count}, nil
}

// Update edits the form; ctrl+s (or enter on the last field) saves, esc leaves without saving.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	if s, ok := msg.(savedMsg); ok {
		if s.err != nil {
			m.form.Err = common.Sentence(s.err)
			return nil
		}
		info := fmt.Sprintf("parameters of module %d saved", m.module.ID)
		if len(s.warnings) > 0 {
			info += "; " + strings.Join(s.warnings, "; ")
		}
		return tea.Batch(common.Pop, common.Changed, common.Info(info))
	}
	res, cmd := m.form.Update(msg)
	switch res {
	case form.Cancelled:
		return common.Pop
	case form.Submitted:
		ch, err := m.changes()
		if err != nil {
			m.form.Err = common.Sentence(err)
			return nil
		}
		return m.save(ch)
	}
	return cmd
}

func (m *Model) save(ch *wizard.ModuleChanges) tea.Cmd {
	id, data := m.module.ID, m.ctx.Data
	return func() tea.Msg {
		w, err := data.SetModule(id, ch)
		return savedMsg{warnings: w, err: err}
	}
}

// preview is the live expansion of the typed values, or why there is none.
func (m *Model) preview() string {
	p := store.Params{Queue: m.form.Bool("queue"), QueueKey: m.form.Value("queue_key")}
	n, err := wizard.ParseQueueCount(m.form.Value("queue_count"))
	if err != nil {
		return m.styles.err.Render(common.Sentence(err))
	}
	p.QueueCount = n
	if err := wizard.ValidateQueueKey(p.QueueKey, p.Queue); err != nil {
		return m.styles.err.Render(common.Sentence(err))
	}
	return m.styles.preview.Render(wizard.Preview(p, m.module.ID))
}

// View draws the form, then the preview and what the parameters mean.
func (m *Model) View() string {
	var b strings.Builder
	b.WriteString(m.form.View())
	// Wrapped to the terminal (less the padding): a queue-key error ends with what to type instead.
	textW := max(m.ctx.Width-4, 20)
	label := m.styles.label.Render("Queue keys") + "  "
	preview := lipgloss.NewStyle().Width(max(textW-lipgloss.Width(label), 10)).Render(m.preview())
	b.WriteString("\n" + lipgloss.JoinHorizontal(lipgloss.Top, label, preview) + "\n\n")
	b.WriteString(m.styles.faint.Width(textW).Render("Operations with the same queue key run one after another; different keys run in parallel.") + "\n")
	b.WriteString(m.styles.faint.Width(textW).Render("Each operation's key is {key_name}-{n}, n in 1…Number of queues. ctrl+s saves, esc leaves without saving."))
	return lipgloss.NewStyle().Padding(1, 2).Render(b.String())
}
