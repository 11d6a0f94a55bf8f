package ui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"vmmpm/backend"

	"github.com/aymanbagabas/go-osc52/v2"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/screens/catalog"
	"vmmpm/ui/screens/jobs"
	"vmmpm/ui/screens/lanes"
	"vmmpm/ui/screens/modules"
	"vmmpm/ui/screens/services"
	"vmmpm/ui/screens/tariffs"
	"vmmpm/ui/screens/tasks"
	"vmmpm/ui/screens/webhooks"
	"vmmpm/ui/theme"
	"vmmpm/ui/wizardform"
)

// TickInterval is the repaint tick: engine events between two ticks cost one refresh.
const TickInterval = 150 * time.Millisecond

// Options configure the app.
type Options struct {
	Data  *common.Data
	Theme *theme.Theme
	// Now is the clock (tests fix it); nil means time.Now.
	Now func() time.Time
	// Clipboard receives the OSC 52 sequence of `y`; nil means standard output.
	Clipboard io.Writer
	// NewWizard builds the Add wizard screen; nil means ui/wizardform, started with WizardPrefill.
	NewWizard     func(*common.Context) common.Screen
	WizardPrefill wizardform.Prefill
	// NoTick stops the repaint tick (golden tests drive frames by hand).
	NoTick bool
}

// App is the root model: tabs, the screen stack, the status line and help.
type App struct {
	ctx      *common.Context
	opts     Options
	screens  []common.Screen
	active   int
	stack    []common.Screen
	help     help.Model
	showHelp bool
	// flashes holds each tab's last message: a message stays with the screen that raised it.
	flashes []flash
	// secretsErr is why passwords cannot be saved or read, from the start-up probe (nil: they can).
	secretsErr error
	// engineErr is set when the engine stopped on its own; the status line keeps saying so.
	engineErr error
	// down is whether the server was out of reach at the last tick, to refresh every screen once it
	// answers again; swaps is the data's backend swaps then, to refresh every screen after one.
	down    bool
	swaps   uint64
	styles  styles
	unwatch func()
}

// New builds the app with its eight screens.
func New(opts Options) *App {
	ctx := common.New(opts.Theme, opts.Data)
	if opts.Now != nil {
		ctx.Now = opts.Now
	}
	if opts.Clipboard == nil {
		opts.Clipboard = os.Stdout
	}
	if opts.NewWizard == nil {
		prefill := opts.WizardPrefill
		opts.NewWizard = func(ctx *common.Context) common.Screen { return newWizard(ctx, prefill) }
	}
	a := &App{ctx: ctx, opts: opts, help: help.New(), styles: newStyles(opts.Theme)}
	a.help.Styles = a.styles.help
	a.screens = []common.Screen{
		modules.New(ctx), services.New(ctx), jobs.New(ctx), tasks.New(ctx), catalog.New(ctx), tariffs.New(ctx),
		lanes.New(ctx), webhooks.New(ctx),
	}
	a.flashes = make([]flash, len(a.screens))
	return a
}

// Context is the shared context (tests read it).
func (a *App) Context() *common.Context { return a.ctx }

type tickMsg struct{}

func (a *App) tick() tea.Cmd {
	if a.opts.NoTick {
		return nil
	}
	return tea.Tick(TickInterval, func(time.Time) tea.Msg { return tickMsg{} })
}

// Init starts the tick and loads the home screen; attached to a server, every screen reads once, so
// each has its picture to keep should the server go.
func (a *App) Init() tea.Cmd {
	cmds := []tea.Cmd{a.tick(), a.top().Activate(), a.checkSecrets()}
	if info, _, _ := a.ctx.Data.Link(); info.Mode == backend.ModeAttached {
		for i, s := range a.screens {
			if i != a.active {
				cmds = append(cmds, s.Activate())
			}
		}
	}
	return tea.Batch(cmds...)
}

// EngineStoppedMsg says the engine inside the TUI stopped on its own: jobs no longer run.
type EngineStoppedMsg struct{ Err error }

// secretsCheckedMsg is the start-up probe of where passwords live.
type secretsCheckedMsg struct{ err error }

// checkSecrets probes the keyring off the event loop (an unlock prompt may hold it for seconds), so a
// missing D-Bus session or a locked keyring is said at start, not after a whole wizard.
func (a *App) checkSecrets() tea.Cmd {
	s := a.ctx.Data.Secrets
	if s == nil { // attached: the server's keyring is what counts, and it reports on it
		return nil
	}
	return func() tea.Msg { return secretsCheckedMsg{store.CheckSecrets(s)} }
}

func (a *App) top() common.Screen {
	if n := len(a.stack); n > 0 {
		return a.stack[n-1]
	}
	return a.screens[a.active]
}

// Update routes messages: keys to the front screen unless global, results to every screen.
func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		a.ctx.Width, a.ctx.Height = msg.Width, msg.Height
		a.help.Width = msg.Width
		return a, nil
	case tickMsg:
		a.ctx.Frame++
		if a.reattached() { // every screen's picture is old: each reads again
			return a, tea.Batch(a.tick(), a.broadcast(common.DataChangedMsg{}))
		}
		return a, tea.Batch(a.tick(), a.top().Update(common.TickMsg{}))
	case EngineStoppedMsg:
		a.engineErr = fmt.Errorf("the engine stopped, so no job runs until vmmpm is started again (%v); quit with q and start it again", msg.Err)
		return a, common.Fail(a.engineErr)
	case secretsCheckedMsg:
		a.secretsErr = msg.err
		if msg.err != nil {
			return a, common.Fail(msg.err)
		}
		return a, nil
	case common.FlashMsg:
		a.flashes[a.active] = flash{Flash: common.Flash(msg), at: a.ctx.Now()}
		return a, nil
	case common.PushMsg:
		a.stack = append(a.stack, msg.Screen)
		return a, msg.Screen.Activate()
	case common.PopMsg:
		if len(a.stack) > 0 {
			a.stack = a.stack[:len(a.stack)-1]
		}
		return a, a.top().Activate()
	case modules.OpenWizardMsg:
		return a, common.Push(a.opts.NewWizard(a.ctx))
	case tea.KeyMsg:
		return a, a.keys(msg)
	case tea.MouseMsg:
		return a, a.mouse(msg)
	}
	return a, a.broadcast(msg)
}

// reattached reports, once, that the server answers again after it was gone, or that the screens
// read another backend now (the fallback of a server that stood down, or that server again).
func (a *App) reattached() bool {
	_, down, _ := a.ctx.Data.Link()
	was, swaps := a.down, a.ctx.Data.Swaps()
	a.down = down != ""
	swapped := swaps != a.swaps
	a.swaps = swaps
	return (was && !a.down) || swapped
}

// stale is when the picture on screen was read, while the server is out of reach (ok false while it
// answers). A screen that does not say is as old as the link's loss; zero: nothing was read.
func (a *App) stale() (at time.Time, ok bool) {
	_, down, since := a.ctx.Data.Link()
	if down == "" {
		return time.Time{}, false
	}
	if d, dated := a.top().(common.Dated); dated {
		return d.TakenAt(), true
	}
	return since, true
}

// clock is a picture's time as the stale mark says it: the time of day, with the date when not today.
func (a *App) clock(t time.Time) string {
	now := a.ctx.Now()
	if y, m, d := now.Date(); t.Year() != y || t.Month() != m || t.Day() != d {
		return t.Format("Jan 2 15:04:05")
	}
	return t.Format("15:04:05")
}

// broadcast hands a result message to every screen; each ignores what is not its own.
func (a *App) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, s := range a.screens {
		cmds = append(cmds, s.Update(msg))
	}
	for _, s := range a.stack {
		cmds = append(cmds, s.Update(msg))
	}
	return tea.Batch(cmds...)
}

// keys splits runes that arrived together (`tmux send-keys 'jj'`, fast typing over SSH) into one key
// each, so every one counts; from the moment the front screen has a text field open, the rest is typed
// there as it came.
func (a *App) keys(msg tea.KeyMsg) tea.Cmd {
	if msg.Type != tea.KeyRunes || len(msg.Runes) < 2 || msg.Paste {
		return a.key(msg)
	}
	var cmds []tea.Cmd
	for i, r := range msg.Runes {
		if !a.showHelp && a.top().Capturing() {
			rest := msg
			rest.Runes = msg.Runes[i:]
			return tea.Sequence(append(cmds, a.top().Update(rest))...)
		}
		one := msg
		one.Runes = []rune{r}
		cmds = append(cmds, a.key(one))
	}
	return tea.Sequence(cmds...)
}

func (a *App) key(msg tea.KeyMsg) tea.Cmd {
	k := a.ctx.Keys
	if a.showHelp {
		switch {
		case key.Matches(msg, k.ForceQ), key.Matches(msg, k.Quit):
			return tea.Quit
		case key.Matches(msg, k.Help), key.Matches(msg, k.Back):
			a.showHelp = false
		}
		return nil
	}
	top := a.top()
	if top.Capturing() {
		return top.Update(msg)
	}
	switch {
	case key.Matches(msg, k.Quit), key.Matches(msg, k.ForceQ):
		return tea.Quit
	case key.Matches(msg, k.Help):
		a.showHelp = true
		return nil
	case key.Matches(msg, k.NextTab):
		return a.switchTo((a.active + 1) % len(a.screens))
	case key.Matches(msg, k.PrevTab):
		return a.switchTo((a.active + len(a.screens) - 1) % len(a.screens))
	case key.Matches(msg, k.CopyID):
		return a.copySelected()
	}
	for i, b := range k.Screens {
		if key.Matches(msg, b) {
			return a.switchTo(i)
		}
	}
	return top.Update(msg)
}

func (a *App) switchTo(i int) tea.Cmd {
	a.active, a.stack = i, nil
	return a.top().Activate()
}

// copySelected puts the selected id on the clipboard with OSC 52, in one write so it cannot interleave
// with a frame.
func (a *App) copySelected() tea.Cmd {
	sel := a.top().Selected()
	if sel.ID == "" {
		return common.Info("nothing selected to copy")
	}
	if _, err := io.WriteString(a.opts.Clipboard, osc52.New(sel.ID).String()); err != nil {
		return common.Fail(err)
	}
	return common.Info("copied id " + sel.ID + " to the clipboard (OSC 52)")
}

// mouse maps the wheel to movement and a click on a tab to that screen (only with --mouse).
func (a *App) mouse(msg tea.MouseMsg) tea.Cmd {
	switch {
	case msg.Button == tea.MouseButtonWheelUp:
		return a.top().Update(tea.KeyMsg{Type: tea.KeyUp})
	case msg.Button == tea.MouseButtonWheelDown:
		return a.top().Update(tea.KeyMsg{Type: tea.KeyDown})
	case msg.Action == tea.MouseActionPress && msg.Button == tea.MouseButtonLeft && msg.Y == 0:
		if i := a.tabAt(msg.X); i >= 0 {
			return a.switchTo(i)
		}
	}
	return nil
}

// View draws exactly Height lines: tabs, breadcrumb, the body, status and help.
func (a *App) View() string {
	if a.ctx.Width == 0 || a.ctx.Height == 0 {
		return "starting…"
	}
	var b strings.Builder
	flash := a.flashView()
	a.ctx.FlashLines = len(flash) - 1
	b.WriteString(a.tabsView() + "\n")
	b.WriteString(a.crumbView() + "\n")
	body := a.bodyView()
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	h := a.ctx.BodyHeight()
	for i := 0; i < h; i++ {
		if i < len(lines) {
			b.WriteString(ansi.Truncate(lines[i], a.ctx.Width, ""))
		}
		b.WriteByte('\n')
	}
	for _, l := range flash {
		b.WriteString(l + "\n")
	}
	b.WriteString(a.statusView() + "\n")
	b.WriteString(a.helpBarView())
	return b.String()
}

// helpBarView fits the short help in the width by leaving out screen actions from the right, never the
// last two bindings (help and quit on a list, save and back in a form): a bar cut at the edge would hide
// exactly the keys that explain the others.
func (a *App) helpBarView() string {
	binds := a.top().Help().ShortHelp()
	whole := a.help
	whole.Width = 0 // measure untruncated
	for len(binds) > 2 {
		if v := whole.ShortHelpView(binds); ansi.StringWidth(v) <= a.ctx.Width {
			return v
		}
		binds = append(append([]key.Binding{}, binds[:len(binds)-3]...), binds[len(binds)-2:]...)
	}
	return a.help.ShortHelpView(binds)
}

func (a *App) bodyView() string {
	if a.showHelp {
		return a.fullHelpView()
	}
	if at, stale := a.stale(); stale && at.IsZero() {
		// An empty list would say "no services" of a screen that was simply never read.
		return a.styles.faint.Render("  nothing was read on this screen before the server went; it shows once vmmpm serve answers again")
	}
	return a.top().View()
}

// fullHelpView is the `?` overlay: the roomiest layout that fits the body, down to one without the box
// and with the key groups stacked, so no group is ever cut at the edge.
func (a *App) fullHelpView() string {
	groups := a.top().Help().FullHelp()
	full := a.help
	full.ShowAll, full.Width = true, 0 // measured here, never cut by the help model
	title := a.styles.helpTitle.Render("Keys — " + a.top().Title())
	foot := a.styles.faint.Render("q or ctrl+c quits · ? or esc closes this help")
	w, h := a.ctx.Width, a.ctx.BodyHeight()
	var v string
	for _, box := range []lipgloss.Style{a.styles.helpBox, a.styles.helpBox.Padding(0, 1), lipgloss.NewStyle()} {
		room := w - box.GetHorizontalFrameSize()
		for _, stack := range []bool{false, true} {
			rows := helpRows(full, groups, room, stack)
			v = box.Render(title + "\n\n" + strings.Join(rows, "\n") + "\n\n" + foot)
			if lipgloss.Width(v) <= w && lipgloss.Height(v) <= h {
				return v
			}
		}
	}
	return v
}

// helpRows lays the key groups side by side as long as they fit room; stack starts a new row for
// each group that does not.
func helpRows(full help.Model, groups [][]key.Binding, room int, stack bool) []string {
	if !stack {
		return []string{full.FullHelpView(groups)}
	}
	var rows []string
	var row [][]key.Binding
	for _, g := range groups {
		if len(row) > 0 && lipgloss.Width(full.FullHelpView(append(row, g))) > room {
			rows = append(rows, full.FullHelpView(row))
			row = nil
		}
		row = append(row, g)
	}
	return append(rows, full.FullHelpView(row))
}

var tabNames = []string{"Modules", "Services", "Jobs", "Tasks", "Catalog", "Tariffs", "Lanes", "Webhooks"}

// tabLabels are "1 Modules" …; when they do not fit the width, the tabs not shown keep only their number.
func (a *App) tabLabels() []string {
	out := make([]string, len(tabNames))
	width := len(" vmmpm  ")
	for i, n := range tabNames {
		out[i] = strconv.Itoa(i+1) + " " + n
		width += len(n) + 5
	}
	if width > a.ctx.Width {
		for i := range out {
			if i != a.active {
				out[i] = strconv.Itoa(i + 1)
			}
		}
	}
	return out
}

func (a *App) tabsView() string {
	var b strings.Builder
	b.WriteString(a.styles.brand.Render(" vmmpm ") + " ")
	for i, l := range a.tabLabels() {
		if i == a.active {
			b.WriteString(a.styles.tabActive.Render("[" + l + "]"))
		} else {
			b.WriteString(a.styles.tab.Render(" " + l + " "))
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// tabAt is the tab under column x of the first line, or -1.
func (a *App) tabAt(x int) int {
	pos := len(" vmmpm  ")
	for i, l := range a.tabLabels() {
		w := len(l) + 2
		if x >= pos && x < pos+w {
			return i
		}
		pos += w + 1
	}
	return -1
}

func (a *App) crumbView() string {
	parts := []string{a.screens[a.active].Title()}
	for _, s := range a.stack {
		parts = append(parts, s.Title())
	}
	crumb := "── " + strings.Join(parts, " › ") + " "
	mark := ""
	if at, stale := a.stale(); stale && !at.IsZero() {
		mark = "STALE: " + a.source() + " gone · showing " + a.clock(at) + " "
	}
	rule := strings.Repeat("─", max(a.ctx.Width-ansi.StringWidth(crumb)-ansi.StringWidth(mark), 0))
	return a.styles.rule.Render(crumb) + a.styles.warn.Render(mark) + a.styles.rule.Render(rule)
}

// flash is a message and when it came.
type flash struct {
	common.Flash
	at time.Time
}

// flashView is the rule above the status line, carrying the tab's last message for a few seconds. A
// long message wraps onto more lines (up to a third of the screen) instead of being cut.
func (a *App) flashView() []string {
	f := a.flashes[a.active]
	if f.Text == "" || a.ctx.Now().Sub(f.at) >= flashFor {
		return []string{a.styles.rule.Render(strings.Repeat("─", a.ctx.Width))}
	}
	room := max(a.ctx.Width-4, 10)
	lines := strings.Split(ansi.Wrap(f.Text, room, " "), "\n")
	if most := max((a.ctx.Height-common.HeaderLines-common.FooterLines)/3, 1); len(lines) > most {
		lines = lines[:most]
		lines[most-1] = ansi.Truncate(lines[most-1], room-1, "") + "…"
	}
	st := a.styles.ok
	if f.Err {
		st = a.styles.err
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		l = strings.TrimRight(l, " ")
		if i > 0 {
			out[i] = "  " + st.Render(l)
			continue
		}
		out[i] = a.styles.rule.Render("─ ") + st.Render(l) + " " +
			a.styles.rule.Render(strings.Repeat("─", max(a.ctx.Width-ansi.StringWidth(l)-3, 0)))
	}
	return out
}

// flashFor is how long a message stays.
const flashFor = 8 * time.Second

// statusView: the database on the left; the selected module's TLS state and where secrets live on the
// right, always.
func (a *App) statusView() string {
	info, down, since := a.ctx.Data.Link()
	modeStyle := a.styles.faint
	if info.Mode == backend.ModeReadOnly { // said plainly: only orders and operations work here
		modeStyle = a.styles.warn
	}
	mode := modeStyle.Render(modeText(info))
	if _, _, stood := a.ctx.Data.StoodDown(); stood {
		mode = "" // the warning says it
	}
	if warning := a.warningText(down, since); warning != "" {
		// A warning outranks the rest: only the mode stays beside it.
		room := a.ctx.Width - ansi.StringWidth(mode) - 1
		warning = ansi.Truncate(warning, max(room, 10), "…")
		return a.styles.warn.Render(warning) + strings.Repeat(" ", max(room-ansi.StringWidth(warning), 0)+1) + mode
	}
	right := mode + a.styles.faint.Render(" · secrets: "+info.Secrets)
	var se *store.SecretError
	if errors.As(a.secretsErr, &se) {
		right = mode + a.styles.warn.Render(" · secrets: keyring UNUSABLE ("+se.Cause.Error()+")")
	}
	if m := a.top().Selected().Module; m != nil {
		tls := a.styles.ok.Render("TLS verified")
		switch state, _ := common.TLSState(m); state {
		case "INSECURE":
			tls = a.styles.warn.Render("TLS NOT VERIFIED (insecure)")
		case "no TLS":
			tls = a.styles.warn.Render("no TLS (plain http)")
		case "pinned":
			tls = a.styles.ok.Render("TLS pinned")
		case "CA file":
			tls = a.styles.ok.Render("TLS verified (CA file)")
		}
		right = a.styles.faint.Render("module "+strconv.FormatUint(m.ID, 10)+": ") + tls + a.styles.faint.Render(" · ") + right
	}
	room := a.ctx.Width - ansi.StringWidth(right) - 1
	if room < 10 {
		return ansi.Truncate(right, a.ctx.Width, "…")
	}
	left := ansi.Truncate("db "+info.DB, room, "…")
	return a.styles.faint.Render(left) + strings.Repeat(" ", room-ansi.StringWidth(left)+1) + right
}

// warningText is what must not go unseen on the status line: the server gone, the engine paused or
// stopped, jobs waiting for the keyring ("" when all is well).
func (a *App) warningText(down string, since time.Time) string {
	st := a.ctx.Data.EngineState()
	gone, goneSince, stood := a.ctx.Data.StoodDown()
	switch {
	case stood:
		info, _, _ := a.ctx.Data.Link()
		return fmt.Sprintf("server pid %d stood down %s ago: %s; attaching again when it serves",
			gone.PID, a.ctx.Now().Sub(goneSince).Truncate(time.Second), modeText(info))
	case down != "" && a.ctx.Data.Silent():
		info, _, _ := a.ctx.Data.Link()
		return fmt.Sprintf("server pid %d NOT ANSWERING for %s: showing the last picture, waiting for it… (stopped, or its disk hung?)",
			info.PID, a.ctx.Now().Sub(since).Truncate(time.Second))
	case down != "":
		shown := "the last picture"
		if at, _ := a.stale(); !at.IsZero() {
			shown = "the picture of " + a.clock(at)
		}
		return fmt.Sprintf("%s GONE %s ago: showing %s, reattaching… (%s)",
			a.source(), a.ctx.Now().Sub(since).Truncate(time.Second), shown, down)
	case st.Paused:
		return "engine PAUSED: " + st.PauseReason + "; nothing starts; it resumes by itself once the database can be written"
	case st.Waiting != "":
		return "jobs WAITING: " + st.Waiting + "; " + st.WaitingAdvice
	case a.engineErr != nil:
		return "engine STOPPED: jobs are not running; quit and start vmmpm again"
	}
	return ""
}

// source is what the screens read and may lose: the server attached to, or, in a read-only view,
// the shared database itself.
func (a *App) source() string {
	if info, _, _ := a.ctx.Data.Link(); info.Mode == backend.ModeReadOnly {
		return "database"
	}
	return "server"
}

// modeText says where the engine runs: in a server this TUI is attached to, or inside this process.
func modeText(info backend.Info) string {
	switch info.Mode {
	case backend.ModeAttached:
		return fmt.Sprintf("attached to pid %d", info.PID)
	case backend.ModeEngine:
		return "engine inside"
	case backend.ModeReadOnly:
		if info.Engine == "" {
			return "STANDBY view: no engine holds the lease now"
		}
		return "STANDBY view: orders go to the engine on " + info.Engine
	}
	return "no engine"
}
