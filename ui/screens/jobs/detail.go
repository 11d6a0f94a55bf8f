package jobs

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/components/confirm"
	"vmmpm/ui/keys"
)

// Detail is one job's fields and its log, refreshed while it changes.
type Detail struct {
	ctx     *common.Context
	id      uint64
	job     *store.Job
	lane    string
	pos     int
	err     error
	version uint64
	// ask is the retry question of a job refused for good.
	ask    *confirm.Model
	styles styles
}

type detailMsg struct {
	job *store.Job
	key string
	pos int
	err error
}

// NewDetail opens job id.
func NewDetail(ctx *common.Context, id uint64) *Detail {
	return &Detail{ctx: ctx, id: id, styles: newStyles(ctx.Theme)}
}

func (d *Detail) Title() string   { return "Job " + strconv.FormatUint(d.id, 10) }
func (d *Detail) Capturing() bool { return d.ask != nil }

func (d *Detail) Help() keys.Help {
	k := d.ctx.Keys
	if d.ask != nil {
		return d.ask.Help()
	}
	return keys.Help{Short: []key.Binding{k.Back, k.Retry, k.Cancel, k.CopyID, k.Help, k.Quit},
		Full: [][]key.Binding{{k.Back, k.Retry, k.Cancel, k.CopyID}, k.Global()}}
}

func (d *Detail) Selected() common.Selection {
	return common.Selection{ID: strconv.FormatUint(d.id, 10)}
}

func (d *Detail) Activate() tea.Cmd { return d.load }

func (d *Detail) load() tea.Msg {
	jd, err := d.ctx.Data.Engine.JobDetail(d.id)
	if err != nil {
		return detailMsg{err: err}
	}
	return detailMsg{job: &jd.Job, key: jd.Lane.Lane, pos: jd.Lane.Ahead + 1}
}

func (d *Detail) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case detailMsg:
		if msg.job != nil && msg.job.ID != d.id {
			return nil
		}
		d.job, d.lane, d.pos, d.err = msg.job, msg.key, msg.pos, msg.err
	case common.TickMsg:
		if v := d.ctx.Data.Version(); v != d.version {
			d.version = v
			return d.load
		}
	case actionMsg:
		if msg.err != nil {
			return common.Fail(msg.err)
		}
		return tea.Batch(d.load, common.Info(msg.info))
	case tea.KeyMsg:
		return d.onKey(msg)
	}
	return nil
}

func (d *Detail) onKey(msg tea.KeyMsg) tea.Cmd {
	if cmd, took := confirm.Route(&d.ask, msg); took {
		return cmd
	}
	k := d.ctx.Keys
	eng := d.ctx.Data.Engine
	id := d.id
	switch {
	case key.Matches(msg, k.Back):
		return common.Pop
	case key.Matches(msg, k.Retry) && d.job != nil:
		if d.job.State != store.JobFailed {
			return common.Info(fmt.Sprintf("job %d is %s; only failed jobs can be retried", id, d.job.State))
		}
		retry := func() tea.Msg { return actionMsg{info: fmt.Sprintf("job %d queued again", id), err: eng.Retry(id)} }
		if !refusedForGood(d.job) {
			return retry
		}
		d.ask = confirm.New(d.ctx, fmt.Sprintf("Retry job %d (%s of service %d)?", id, d.job.Type, d.job.ServiceID)+
			refusals([]store.Job{*d.job}), retry)
		return nil
	case key.Matches(msg, k.Cancel) && d.job != nil:
		if !cancellable(d.job.State) {
			return common.Info(fmt.Sprintf("job %d is %s; only unfinished jobs can be cancelled", id, d.job.State))
		}
		cancel := func() tea.Msg { return actionMsg{info: fmt.Sprintf("job %d cancelled", id), err: eng.Cancel(id)} }
		if d.job.State != store.JobRunning {
			return cancel
		}
		d.ask = confirm.New(d.ctx, fmt.Sprintf("Cancel job %d (%s of service %d)?", id, d.job.Type, d.job.ServiceID)+
			stuckWork([]store.Job{*d.job}), cancel)
		return nil
	}
	return nil
}

// View: the job's fields on the left column, then as much of the log's tail as fits.
func (d *Detail) View() string {
	if d.err != nil {
		return d.styles.err.Render(common.Sentence(d.err))
	}
	j := d.job
	if j == nil {
		return "loading job " + strconv.FormatUint(d.id, 10) + "…"
	}
	if d.ask != nil {
		return lipgloss.Place(d.ctx.Width, d.ctx.BodyHeight(), lipgloss.Center, lipgloss.Center, d.ask.View())
	}
	var b strings.Builder
	field := func(label, value string) {
		b.WriteString(lipgloss.JoinHorizontal(lipgloss.Top, "  "+d.styles.label.Render(padRight(label, 14)), value) + "\n")
	}
	state := j.State
	if j.State == store.JobRunning {
		state = d.ctx.Spinner() + " running"
	}
	field("Job", strconv.FormatUint(j.ID, 10)+"  "+j.Type+" of service "+strconv.FormatUint(j.ServiceID, 10))
	field("State", d.styles.state[j.State].Render(state))
	field("Module", moduleText(j.ModuleID))
	field("Queue key", queueText(j, d.lane, d.pos))
	field("Attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	field("Enqueued", stamp(d.ctx, j.EnqueuedAt))
	field("Started", stamp(d.ctx, j.StartedAt))
	field("Finished", stamp(d.ctx, j.FinishedAt))
	if !j.NextRunAt.IsZero() && j.State == store.JobRetrying {
		field("Next try", stamp(d.ctx, j.NextRunAt))
	}
	if j.VMTask != nil {
		field("VMmanager", "task "+j.VMTask.Name+" ("+j.VMTask.ConsulID+")")
	}
	if len(j.Args) > 0 {
		field("Arguments", argsText(j.Args))
	}
	if j.Error != "" {
		field("Error", d.styles.err.Width(max(d.ctx.Width-18, 20)).Render(j.Error))
	}
	b.WriteString("\n  " + d.styles.label.Render("Log") + d.styles.faint.Render("  ("+plural(len(j.Log), "line")+", newest last)") + "\n")
	used := strings.Count(b.String(), "\n")
	b.WriteString(d.logTail(j.Log, max(d.ctx.BodyHeight()-used-1, 1)))
	return b.String()
}

// logTail renders the newest log entries that fit in room lines; a long entry wraps under its text
// rather than running off the right edge, where the end of an error message would be lost.
func (d *Detail) logTail(log []store.LogLine, room int) string {
	textW := max(d.ctx.Width-16, 20) // "  " + 12-cell time + "  "
	var entries []string
	for i := len(log) - 1; i >= 0 && room > 0; i-- {
		text := lipgloss.NewStyle().Width(textW).Render(log[i].Text)
		e := lipgloss.JoinHorizontal(lipgloss.Top, "  "+d.styles.faint.Render(log[i].At.Format("15:04:05.000"))+"  ", text)
		n := strings.Count(e, "\n") + 1
		if n > room && len(entries) > 0 {
			break
		}
		room -= n
		entries = append(entries, e)
	}
	slices.Reverse(entries)
	var b strings.Builder
	for _, e := range entries {
		for line := range strings.SplitSeq(e, "\n") {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func moduleText(id uint64) string {
	if id == 0 {
		return "not chosen yet"
	}
	return strconv.FormatUint(id, 10)
}

func queueText(j *store.Job, key string, pos int) string {
	if key == "" {
		key = j.QueueKey
	}
	if key == "" {
		return "none (queues off or not yet placed)"
	}
	if pos > 0 {
		return fmt.Sprintf("%s, position %d in its lane", key, pos)
	}
	return key
}

func stamp(ctx *common.Context, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05") + " (" + common.Age(ctx.Now(), t) + " ago)"
}

func argsText(args map[string]string) string {
	keys := slices.Sorted(maps.Keys(args))
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := args[k]
		if strings.Contains(strings.ToLower(k), "password") {
			v = "••••••"
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}
