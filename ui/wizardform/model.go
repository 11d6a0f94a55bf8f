// Package wizardform is the interactive Add wizard: a self-contained Bubble Tea model over the wizard
// package, built from huh forms. `vmmpm module add` runs it on its own; the TUI shell embeds it and
// listens for SavedMsg and CancelledMsg.
package wizardform

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"vmmpm/backend"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

// SavedMsg is sent once the module is in the database and its password in the keyring.
type SavedMsg struct {
	Module   *store.Module
	Warnings []string
}

// CancelledMsg is sent when the admin discards the wizard; nothing was written.
type CancelledMsg struct{}

// Options size the model and tie it to its host.
type Options struct {
	Width, Height int
	// Context, when cancelled, abandons a running integration check (the host is closing).
	Context context.Context
	// KeyMap overrides DefaultKeyMap.
	KeyMap *KeyMap
	// Prefill starts the Integration step with these values (the demo's emulator).
	Prefill Prefill
	// Embedded leaves the help line to the host, which shows HelpBindings in its own bar.
	Embedded bool
	// Edit opens the wizard on an existing module, filled with its values, from the Integration step;
	// an empty password keeps the stored one.
	Edit *store.Module
}

// Prefill is what the Integration step starts with; Note is shown under the step's title.
type Prefill struct {
	URL, Username, Note string
}

type phase int

const (
	phaseEdit phase = iota
	phaseChecking
	phaseTLSOffer
	phaseCAFile
	phaseConfirmQuit
	phaseSaving
	phaseDone
	phaseFatal
)

type checkDoneMsg struct {
	seq int
	res *wizard.CheckResult
	err error
}

// hintsMsg makes the form redraw after the wizard changed field descriptions.
type hintsMsg struct{}

type saveDoneMsg struct {
	module *store.Module
	err    error
}

// Model is the wizard. It is used through its pointer: the huh fields are bound to its fields.
type Model struct {
	embedded bool            // the host draws the help line (Options.Embedded)
	note     string          // under the Integration title (Options.Prefill)
	b        backend.Backend // where the catalog comes from and the module is saved
	where    string          // where passwords are kept, for the Review page
	ctx      context.Context

	width, height int
	keys          KeyMap
	st            styles
	help          help.Model
	spin          spinner.Model

	cat      *wizard.Catalog
	draft    *wizard.Draft
	password string

	// Text and choice fields that become draft values when their page is done.
	sortText, ttlText, countText, limitText string
	clusterID                               uint64
	saveConfirm                             bool
	// newDC and newDept name a data center and a department to add on the spot when step 4 has none
	// to offer.
	newDC, newDept string

	page      page
	phase     phase
	form      *huh.Form
	formKeys  *huh.KeyMap
	notice    string
	noticeSty lipgloss.Style

	checkSeq   int
	cancel     context.CancelFunc
	checkErr   *wizard.CheckError
	offer      *vmm.TLSError // the certificate the TLS offer is about
	caPath     string        // typed on the CA file prompt
	caForm     *huh.Form
	reviewTop  int   // first summary row the Review page shows when it scrolls
	resume     phase // where "no" on the quit question returns to
	accessible bool
	hints      []func() // descriptions recomputed after each update (see hint)
	saved      *store.Module
	fatal      error
	before     string // the edited module's name as stored, for the title
}

// UseBackend makes b where the wizard's next calls go. A TUI's backend can change under an open
// wizard (its serve stood down and it reads another host's view, or this host's serve took the engine
// over): the wizard then checks and saves where the screens read, not on the one it was opened on,
// which the swap closed.
func (m *Model) UseBackend(b backend.Backend) { m.b = b }

// New builds the wizard over b. It reads data centers, departments and modules at once.
func New(b backend.Backend, opt Options) *Model {
	m := &Model{
		b: b, ctx: opt.Context,
		width: opt.Width, height: opt.Height,
		keys: DefaultKeyMap(), st: defaultStyles(), help: newHelp(),
		spin:  spinner.New(spinner.WithSpinner(spinner.Dot)),
		draft: wizard.NewDraft(), formKeys: formKeyMap(),
		ttlText: fmt.Sprint(store.DefaultTTL), countText: "1", saveConfirm: true,
	}
	if m.ctx == nil {
		m.ctx = context.Background()
	}
	if opt.KeyMap != nil {
		m.keys = *opt.KeyMap
	}
	m.embedded = opt.Embedded
	if m.embedded { // inside the TUI, ctrl+c leaves the wizard, not vmmpm
		m.keys.Quit.SetHelp("ctrl+c", "leave the wizard (asks first)")
	}
	if m.width <= 0 {
		m.width = 100
	}
	if m.height <= 0 {
		m.height = 30
	}
	m.cat, m.fatal = b.Catalog(m.ctx)
	if info, err := b.Info(m.ctx); err == nil {
		m.where = info.Secrets
	}
	if m.fatal != nil {
		m.phase = phaseFatal
		return m
	}
	if opt.Edit != nil {
		m.edit(opt.Edit)
	} else {
		m.preselect()
		m.draft.URL, m.draft.Username, m.note = opt.Prefill.URL, opt.Prefill.Username, opt.Prefill.Note
	}
	m.form = m.buildForm()
	return m
}

// edit fills the wizard with module mod's values and starts it at Integration: product type and
// module kind cannot change.
func (m *Model) edit(mod *store.Module) {
	m.draft, m.before = wizard.DraftOf(mod), mod.Name
	m.sortText, m.ttlText = strconv.Itoa(mod.Sort), strconv.Itoa(mod.Params.SessionTTL)
	m.countText, m.limitText = strconv.Itoa(mod.Params.QueueCount), strconv.Itoa(mod.ActivationLimit)
	m.clusterID, m.page = mod.Cluster.ID, pageIntegration
}

// pmid is the module id the queue-key preview expands __PMID__ to.
func (m *Model) pmid() uint64 {
	if m.editing() {
		return m.draft.ID
	}
	return m.cat.NextModuleID
}

// editing reports whether the wizard changes an existing module.
func (m *Model) editing() bool { return m.draft.ID != 0 }

// first is the page esc leaves the wizard from.
func (m *Model) first() page {
	if m.editing() {
		return pageIntegration
	}
	return pageProduct
}

// preselect points the pick lists at the first entry that can be chosen.
func (m *Model) preselect() {
	for _, c := range m.cat.DataCenterChoices() {
		if c.Selectable {
			m.draft.DataCenterID = c.ID
			break
		}
	}
	if len(m.cat.Departments) > 0 {
		m.draft.DepartmentID = m.cat.Departments[0].ID
	}
}

// Init starts the first page.
func (m *Model) Init() tea.Cmd {
	if m.form == nil {
		return nil
	}
	return m.form.Init()
}

// Update handles the wizard's own keys and phases and passes everything else to the page's form.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		if msg.Width > 0 && msg.Height > 0 { // a terminal that reports no size keeps the default
			m.width, m.height = msg.Width, msg.Height
			m.resizeForm()
		}
		return m, nil
	case tea.KeyMsg:
		return m, m.handleKey(msg)
	case checkDoneMsg:
		return m, m.checkDone(msg)
	case saveDoneMsg:
		return m, m.saveDone(msg)
	}
	if m.phase == phaseCAFile { // the prompt's cursor blink, its move to done, and the like
		return m, m.updateCAFile(msg)
	}
	switch msg := msg.(type) {
	case spinner.TickMsg:
		if m.phase == phaseChecking || m.phase == phaseSaving {
			var cmd tea.Cmd
			m.spin, cmd = m.spin.Update(msg)
			return m, tea.Batch(cmd, m.updateForm(msg))
		}
	}
	return m, m.updateForm(msg)
}

func (m *Model) handleKey(k tea.KeyMsg) tea.Cmd {
	switch m.phase {
	case phaseDone, phaseSaving:
		return nil
	case phaseFatal:
		if key.Matches(k, m.keys.Quit, m.keys.Back) {
			return cancelled
		}
		return nil
	case phaseConfirmQuit:
		return m.answerQuit(k)
	}
	if key.Matches(k, m.keys.Quit) {
		m.askQuit()
		return nil
	}
	switch m.phase {
	case phaseChecking:
		if key.Matches(k, m.keys.Cancel) {
			m.stopCheck()
			m.setNotice(m.st.warn, "Check cancelled: nothing was saved. Press enter on the last field to try again.")
			return m.goTo(pageIntegration)
		}
		return nil
	case phaseTLSOffer:
		return m.answerTLS(k)
	case phaseCAFile:
		return m.answerCAFile(k)
	}
	if m.page == pageReview && key.Matches(k, m.keys.ScrollUp, m.keys.ScrollDown) {
		m.scrollReview(k)
		return nil
	}
	if key.Matches(k, m.keys.QuitOutsideText) && !m.typing() {
		m.askQuit()
		return nil
	}
	if key.Matches(k, m.keys.Back) {
		if m.page == m.first() {
			m.askQuit()
			return nil
		}
		m.notice = ""
		return m.goTo(m.page - 1)
	}
	return m.updateForm(k)
}

func cancelled() tea.Msg { return CancelledMsg{} }

// typing reports whether the focused field takes text, where q is a letter, not quit.
func (m *Model) typing() bool {
	if m.form == nil {
		return false
	}
	_, ok := m.form.GetFocusedField().(*huh.Input)
	return ok
}

func (m *Model) askQuit() {
	m.resume = m.phase
	if m.phase == phaseChecking || m.phase == phaseTLSOffer || m.phase == phaseCAFile {
		m.stopCheck()
		m.resume = phaseEdit
		m.form = m.buildForm()
	}
	m.phase = phaseConfirmQuit
}

func (m *Model) answerQuit(k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Yes):
		m.phase = phaseDone
		return cancelled
	case key.Matches(k, m.keys.No):
		m.phase = m.resume
		if m.phase == phaseEdit {
			return m.form.Init()
		}
	}
	return nil
}

// updateForm feeds the page's form and reacts when the page is complete.
func (m *Model) updateForm(msg tea.Msg) tea.Cmd {
	if m.form == nil || m.phase != phaseEdit {
		return nil
	}
	_, cmd := m.form.Update(msg)
	if len(m.hints) > 0 && m.form.State == huh.StateNormal {
		m.refreshHints()
		_, redraw := m.form.Update(hintsMsg{}) // huh caches the group's content until its next update
		cmd = tea.Batch(cmd, redraw)
	}
	if m.form.State == huh.StateCompleted {
		return tea.Batch(cmd, m.pageDone())
	}
	return cmd
}

// goTo shows page p with a fresh form bound to the current values.
func (m *Model) goTo(p page) tea.Cmd {
	m.page, m.phase = p, phaseEdit
	m.form = m.buildForm()
	return m.form.Init()
}

func (m *Model) setNotice(st lipgloss.Style, text string) { m.noticeSty, m.notice = st, text }

// pageDone moves on from a completed page: the integration page logs in first, the review page saves.
func (m *Model) pageDone() tea.Cmd {
	switch m.page {
	case pageIntegration:
		return m.startCheck()
	case pagePlacement:
		m.draft.Sort, _ = wizard.ParseSort(m.sortText)
		if m.newDC != "" || m.newDept != "" {
			return m.addPlacement()
		}
		if err := m.b.CheckPlacement(m.ctx, m.draft); err != nil {
			m.setNotice(m.st.bad, "✗ "+err.Error())
			return m.goTo(pagePlacement)
		}
	case pageCluster:
		err := m.draft.ChooseCluster(m.clusterID)
		if err == nil {
			err = wizard.ValidateAdditionalInterface(m.draft.Clusters, m.clusterID, m.draft.AdditionalInterface)
		}
		if err == nil {
			err = m.b.CheckPlacement(m.ctx, m.draft)
		}
		if err != nil {
			m.setNotice(m.st.bad, "✗ "+err.Error())
			return m.goTo(pageCluster)
		}
	case pageParams:
		m.draft.Params.SessionTTL, _ = wizard.ParseSessionTTL(m.ttlText)
		m.draft.Params.QueueCount, _ = wizard.ParseQueueCount(m.countText)
		if m.editing() {
			m.draft.ActivationLimit, _ = wizard.ParseActivationLimit(m.limitText)
		}
		if err := m.cat.ValidateStep(wizard.StepParams, m.draft); err != nil {
			m.setNotice(m.st.bad, "✗ "+err.Error())
			return m.goTo(pageParams)
		}
		m.notice = ""
		if ws := m.cat.Warnings(m.draft); len(ws) > 0 {
			m.setNotice(m.st.warn, "⚠ Allowed, but "+ws[0]+".")
		}
		return m.goTo(pageReview)
	case pageReview:
		if !m.saveConfirm {
			m.saveConfirm = true
			return m.goTo(pageParams)
		}
		return m.startSave()
	}
	m.notice = ""
	return m.goTo(m.page + 1)
}

// addPlacement adds the data center and department typed on the placement page, picks them, and goes
// on with everything else the admin typed kept.
func (m *Model) addPlacement() tea.Cmd {
	p, err := m.b.AddPlacement(m.ctx, m.newDC, m.newDept)
	var dc, dept uint64
	var cat *wizard.Catalog
	if p != nil {
		dc, dept, cat = p.DataCenterID, p.DepartmentID, p.Catalog
	}
	if err != nil {
		m.setNotice(m.st.bad, "✗ "+err.Error())
		return m.goTo(pagePlacement)
	}
	var added []string
	if dc != 0 {
		m.draft.DataCenterID = dc
		added = append(added, fmt.Sprintf("data center %q", strings.TrimSpace(m.newDC)))
	}
	if dept != 0 {
		m.draft.DepartmentID = dept
		added = append(added, fmt.Sprintf("department %q", strings.TrimSpace(m.newDept)))
	}
	m.cat, m.newDC, m.newDept = cat, "", ""
	m.setNotice(m.st.good, "✓ Added "+strings.Join(added, " and ")+".")
	return m.goTo(pageCluster)
}

func (m *Model) startCheck() tea.Cmd {
	ctx, cancel := context.WithCancel(m.ctx)
	m.checkSeq++
	seq, in, pw := m.checkSeq, m.draft.Integration(), m.password
	id, b := m.draft.ID, m.b
	m.cancel, m.phase, m.notice = cancel, phaseChecking, ""
	return tea.Batch(m.spin.Tick, func() tea.Msg {
		// Editing: an empty password keeps the stored one, which only the side holding the keyring reads.
		res, err := b.CheckIntegration(ctx, in, pw, id)
		return checkDoneMsg{seq: seq, res: res, err: err}
	})
}

func (m *Model) stopCheck() {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
	m.checkSeq++ // a result still on its way is stale
}

func (m *Model) checkDone(msg checkDoneMsg) tea.Cmd {
	if msg.seq != m.checkSeq || m.phase != phaseChecking {
		return nil
	}
	m.stopCheck()
	if msg.err == nil {
		m.draft.ApplyCheck(msg.res)
		m.draft.URL = msg.res.URL
		m.pickCluster()
		text := fmt.Sprintf("✓ Logged in to %s as administrator %s; VMmanager lists %d clusters.",
			msg.res.URL, strings.TrimSpace(m.draft.Username), len(msg.res.Clusters))
		switch d := m.draft; {
		case d.TLSPin != "":
			text += " Its certificate is pinned (SHA-256 " + d.TLSPin[:11] + "…)."
		case d.TLSCAFile != "":
			text += " Its certificate verified against the CA file " + d.TLSCAFile + "."
		case d.InsecureTLS:
			text += " Skip TLS verification is on: this module does not check VMmanager's certificate."
		}
		m.setNotice(m.st.good, text)
		return m.goTo(pagePlacement)
	}
	// A certificate that could be trusted is offered; plain HTTP, or a CA file that cannot be read,
	// is only named: trusting a certificate would not help. (Attached, the detail arrives beside the
	// check's cause, not inside it.)
	var (
		ce *wizard.CheckError
		te *vmm.TLSError
	)
	if errors.As(msg.err, &ce) && errors.As(msg.err, &te) && te.Trustable() {
		m.checkErr, m.offer, m.phase = ce, te, phaseTLSOffer
		return nil
	}
	m.setNotice(m.st.bad, failureText(msg.err))
	return m.goTo(pageIntegration)
}

// failureText names the cause first, e.g. "✗ Bad credentials: VMmanager refused …".
func failureText(err error) string {
	var ce *wizard.CheckError
	if errors.As(err, &ce) {
		c := ce.Cause.String()
		return "✗ " + strings.ToUpper(c[:1]) + c[1:] + ": " + ce.Error()
	}
	return "✗ " + err.Error()
}

func (m *Model) pickCluster() {
	if _, ok := m.draft.ClusterInfo(); ok {
		m.clusterID = m.draft.Cluster.ID
		return
	}
	m.clusterID = 0
	if len(m.draft.Clusters) > 0 {
		m.clusterID = m.draft.Clusters[0].ID
	}
}

// answerTLS takes the admin's choice for a certificate that did not verify: trust exactly it, a CA
// file, or (last, loud) no verification at all; each is checked by logging in again.
func (m *Model) answerTLS(k tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Trust):
		m.draft.TrustPin(m.offer.Cert.SHA256)
		return m.startCheck()
	case key.Matches(k, m.keys.CAFile):
		m.caPath, m.phase = m.draft.TLSCAFile, phaseCAFile
		m.caForm = m.caFileForm()
		init := m.caForm.Init()
		_, draw := m.caForm.Update(hintsMsg{}) // huh draws a group on its first update
		return tea.Batch(init, draw)
	case key.Matches(k, m.keys.Skip):
		m.draft.SkipVerification()
		m.setNotice(m.st.warn, "Skip TLS verification is on for this module: its certificate will not be checked.")
		return m.startCheck()
	case key.Matches(k, m.keys.No):
		m.setNotice(m.st.bad, failureText(m.checkErr))
		return m.goTo(pageIntegration)
	}
	return nil
}

func (m *Model) caFileForm() *huh.Form {
	in := huh.NewInput().Title(wizard.SettingOf("tls_ca_file").Label).
		Description("The PEM file of the CA that signed VMmanager's certificate; vmmpm reads it at every connection.").
		Value(&m.caPath).Validate(func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("give the path of a PEM file, or esc to choose again")
		}
		return wizard.ValidateCAFile(s)
	})
	return huh.NewForm(huh.NewGroup(in)).WithShowHelp(false).WithTheme(formTheme()).
		WithKeyMap(m.formKeys).WithWidth(m.contentWidth()).WithHeight(6)
}

// answerCAFile runs the CA file prompt: esc goes back to the choice, a valid path logs in again.
func (m *Model) answerCAFile(k tea.KeyMsg) tea.Cmd {
	if key.Matches(k, m.keys.Back) {
		m.phase = phaseTLSOffer
		return nil
	}
	return m.updateCAFile(k)
}

// updateCAFile feeds the CA file prompt; once it is done (huh says so a message later) it logs in.
func (m *Model) updateCAFile(msg tea.Msg) tea.Cmd {
	_, cmd := m.caForm.Update(msg)
	if m.caForm.State != huh.StateCompleted {
		return cmd
	}
	m.draft.TrustCAFile(m.caPath)
	return m.startCheck()
}

// scrollReview moves the Review summary a row (or a screen, with pgup/pgdown) at a time.
func (m *Model) scrollReview(k tea.KeyMsg) {
	step := 1
	if s := k.String(); s == "pgup" || s == "pgdown" {
		step = max(m.reviewHeight()-1, 1)
	}
	if key.Matches(k, m.keys.ScrollUp) {
		step = -step
	}
	m.reviewTop = min(max(m.reviewTop+step, 0), max(len(m.reviewRows())-m.reviewHeight(), 0))
}

func (m *Model) startSave() tea.Cmd {
	m.phase = phaseSaving
	b, ctx, d, pw := m.b, m.ctx, m.draft, m.password
	return tea.Batch(m.spin.Tick, func() tea.Msg {
		mod, err := b.SaveModule(ctx, d, pw)
		return saveDoneMsg{module: mod, err: err}
	})
}

func (m *Model) saveDone(msg saveDoneMsg) tea.Cmd {
	if msg.err != nil {
		m.setNotice(m.st.bad, "✗ "+capitalize(msg.err.Error())+".")
		return m.goTo(pageReview)
	}
	m.phase, m.saved = phaseDone, msg.module
	m.password = ""
	saved := SavedMsg{Module: msg.module, Warnings: m.cat.Warnings(m.draft)}
	return func() tea.Msg { return saved }
}

func capitalize(s string) string {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
