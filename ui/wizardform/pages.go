package wizardform

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/huh"

	"vmmpm/store"
	"vmmpm/wizard"
)

// page is one screen; step 4 (module parameters) spans three pages so each fits 100×30.
type page int

const (
	pageProduct page = iota
	pageModule
	pageIntegration
	pagePlacement
	pageCluster
	pageParams
	pageReview
)

func (p page) step() wizard.Step {
	switch {
	case p <= pageIntegration:
		return wizard.Step(p + 1)
	case p <= pageParams:
		return wizard.StepParams
	}
	return wizard.StepReview
}

// Layout: header (title, step, breadcrumb, rule), body, notice, help.
const (
	headerLines = 4
	noticeLines = 3
	footerLines = noticeLines + 2 // blank line + help
)

func (m *Model) contentWidth() int { return max(m.width-2, 20) }
func (m *Model) bodyHeight() int   { return max(m.height-headerLines-footerLines, 5) }

func (m *Model) resizeForm() {
	if m.form != nil {
		m.form.WithWidth(m.contentWidth()).WithHeight(m.formHeight())
	}
}

// reviewFormLines is the Save question's height: title, two lines of description, gap and buttons;
// it stays at the bottom of the Review page however long the summary is.
const reviewFormLines = 5

// formHeight leaves room for the review summary above the confirm on the last page.
func (m *Model) formHeight() int {
	if m.page == pageReview {
		return reviewFormLines
	}
	return m.bodyHeight()
}

// reviewHeight is how many summary rows the Review page shows at once; the rest scroll.
func (m *Model) reviewHeight() int { return max(m.bodyHeight()-reviewFormLines-1, 3) }

func (m *Model) buildForm() *huh.Form {
	var g *huh.Group
	m.hints = nil
	defer m.refreshHints()
	switch m.page {
	case pageProduct:
		g = huh.NewGroup(huh.NewSelect[string]().Title("Product type").
			Description("What the module sells. VMmanager 6 serves virtual private servers.").
			Options(huh.NewOption("VPS (virtual private server)", store.ProductVPS)).
			Value(&m.draft.ProductType).Validate(wizard.ValidateProductType))
	case pageModule:
		g = huh.NewGroup(huh.NewSelect[string]().Title("Processing module").
			Description("The panel that creates the VMs: VMmanager 6 (2024.03.1 or newer).").
			Options(huh.NewOption("VMmanager 6", store.KindVMmanager6)).
			Value(&m.draft.Kind).Validate(wizard.ValidateKind))
	case pageIntegration:
		g = m.integrationGroup()
	case pagePlacement:
		g = m.placementGroup()
	case pageCluster:
		g = m.clusterGroup()
	case pageParams:
		g = m.paramsGroup()
	case pageReview:
		g = huh.NewGroup(huh.NewConfirm().Title("Save this module?").
			Description("Writes the module to the database and the password to " + m.where + ".").
			Affirmative("Save").Negative("Back").Value(&m.saveConfirm))
	}
	return huh.NewForm(g).WithShowHelp(false).WithShowErrors(false).WithTheme(formTheme()).
		WithKeyMap(m.formKeys).WithWidth(m.contentWidth()).WithHeight(m.formHeight())
}

// input is a text field labelled as wizard.Settings defines key.
func input(key string) *huh.Input {
	st := wizard.SettingOf(key)
	return huh.NewInput().Title(st.Label).Description(st.Help)
}

// toggle is an on/off field labelled as wizard.Settings defines key.
func toggle(key string) *huh.Confirm {
	st := wizard.SettingOf(key)
	return huh.NewConfirm().Title(st.Label).Description(st.Help).Affirmative("On").Negative("Off")
}

func (m *Model) integrationGroup() *huh.Group {
	password := huh.NewInput().Title("Password").EchoMode(huh.EchoModePassword).Value(&m.password).
		Validate(wizard.ValidatePassword)
	desc := "Leaving this step logs in to VMmanager and checks the @admin role. " + m.note
	if m.editing() {
		password.Description("Leave empty to keep the stored password.").
			Validate(func(s string) error {
				if s == "" {
					return nil
				}
				return wizard.ValidatePassword(s)
			})
		desc = fmt.Sprintf("Editing module %d. Leaving this step logs in to VMmanager again (with the stored password unless you type a new one) and fetches its clusters.", m.draft.ID)
	}
	return huh.NewGroup(
		input("url").Value(&m.draft.URL).Validate(m.orCurrent(&m.draft.URL, wizard.ValidateURL)),
		input("username").Value(&m.draft.Username).Validate(m.orCurrent(&m.draft.Username, wizard.ValidateUsername)),
		password,
		toggle("insecure_tls").Value(&m.draft.InsecureTLS),
	).Title("Integration").Description(strings.TrimSpace(desc))
}

func (m *Model) placementGroup() *huh.Group {
	return huh.NewGroup(
		m.dataCenterField(),
		input("name").Value(&m.draft.Name).
			Validate(m.orCurrent(&m.draft.Name, func(s string) error { return m.cat.ValidateName(s, m.draft.ID) })),
		m.departmentField(),
		m.sortField(),
	).Title("Module parameters · placement (1 of 3)")
}

// dataCenterField picks the data center, or, when none can be chosen, names one to add now.
func (m *Model) dataCenterField() huh.Field {
	if !m.cat.CanChooseDataCenter() {
		return huh.NewInput().Title("New data center").Value(&m.newDC).
			Description("None can be chosen yet (a module needs one without an External Data Center id): type a name and it is added when you leave this page.").
			Validate(func(s string) error { return (&store.DataCenter{Name: s}).Validate() })
	}
	dcs := huh.NewSelect[uint64]().Title(wizard.SettingOf("datacenter").Label).Value(&m.draft.DataCenterID).
		Validate(m.cat.ValidateDataCenter)
	m.hint(func() { dcs.Description(m.dataCenterHint()) })
	// Selectable ones first: huh scrolls a select to its current value, hiding the options above it.
	var opts, blocked []huh.Option[uint64]
	for _, c := range m.cat.DataCenterChoices() {
		if c.Selectable {
			opts = append(opts, huh.NewOption(c.Label, c.ID))
		} else {
			blocked = append(blocked, huh.NewOption(c.Label+"  (not selectable: has an External Data Center id)", c.ID))
		}
	}
	return dcs.Options(append(opts, blocked...)...)
}

// departmentField picks the department, or, when there is none, names one to add now.
func (m *Model) departmentField() huh.Field {
	dept := wizard.SettingOf("department")
	if len(m.cat.Departments) == 0 {
		return huh.NewInput().Title("New department").Value(&m.newDept).
			Description("There is none yet: type a name (it receives the tasks the module cannot finish) and it is added when you leave this page.").
			Validate(func(s string) error { return (&store.Department{Name: s}).Validate() })
	}
	var opts []huh.Option[uint64]
	for _, c := range m.cat.DepartmentChoices() {
		opts = append(opts, huh.NewOption(c.Label, c.ID))
	}
	return huh.NewSelect[uint64]().Title(dept.Label).Description(dept.Help).
		Value(&m.draft.DepartmentID).Validate(m.cat.ValidateDepartment).Options(opts...)
}

func (m *Model) sortField() huh.Field {
	sort := input("sort").Value(&m.sortText).Validate(wizard.ValidateSortText)
	m.hint(func() { sort.Description(m.sortHint()) })
	return sort
}

func (m *Model) dataCenterHint() string {
	for _, c := range m.cat.DataCenterChoices() {
		if c.ID == m.draft.DataCenterID && !c.Selectable {
			return "Not selectable: " + c.Reason + "."
		}
	}
	return wizard.SettingOf("datacenter").Help
}

func (m *Model) sortHint() string {
	n, err := wizard.ParseSort(m.sortText)
	if err == nil {
		if w := m.cat.SortWarning(n, m.draft.DataCenterID, m.draft.ID); w != "" {
			return "⚠ Allowed, but " + w + "."
		}
	}
	return wizard.SettingOf("sort").Help
}

func (m *Model) clusterGroup() *huh.Group {
	var opts []huh.Option[uint64]
	for _, c := range wizard.ClusterChoices(m.draft.Clusters) {
		opts = append(opts, huh.NewOption(c.Label, c.ID))
	}
	cl := wizard.SettingOf("cluster")
	clusters := huh.NewSelect[uint64]().Title(cl.Label).Description(cl.Help).
		Value(&m.clusterID).Validate(func(id uint64) error { return wizard.ValidateCluster(m.draft.Clusters, id) })
	clusters.Options(opts...)
	allowed := func() bool { ok, _ := wizard.AdditionalInterface(m.draft.Clusters, m.clusterID); return ok }
	label := wizard.SettingOf("additional_interface").Label
	confirm := huh.NewConfirm().Title(label).Affirmative("On").Negative("Off").
		Validate(func(on bool) error { return wizard.ValidateAdditionalInterface(m.draft.Clusters, m.clusterID, on) })
	iface := newLockedConfirm(confirm, &m.draft.AdditionalInterface, allowed, m.formKeys)
	m.hint(func() {
		title := label
		if !allowed() {
			title += " (unavailable)"
		}
		confirm.Title(title).Description(m.ifaceHint())
	})
	return huh.NewGroup(
		clusters,
		toggle("use_recipes").Value(&m.draft.UseRecipes),
		huh.NewSelect[string]().Title(wizard.SettingOf("recipe_wait").Label).Inline(true).
			Options(huh.NewOption("once the OS is installed", store.RecipeWaitOS),
				huh.NewOption("once the recipe has finished", store.RecipeWaitRecipe)).
			Value(&m.draft.RecipeWait),
		iface,
	).Title("Module parameters · cluster (2 of 3)")
}

func (m *Model) ifaceHint() string {
	ok, reason := wizard.AdditionalInterface(m.draft.Clusters, m.clusterID)
	if ok {
		return "Gives each VM a second network interface: " + reason + "."
	}
	return "Switched off: " + reason + "."
}

func (m *Model) paramsGroup() *huh.Group {
	qkey := huh.NewInput().Title(wizard.SettingOf("queue_key").Label + " (letters, digits, - _ . and the macros __TYPE__, __PMID__, __IID__)").
		Value(&m.draft.Params.QueueKey).
		Validate(m.orCurrent(&m.draft.Params.QueueKey, func(s string) error { return wizard.ValidateQueueKey(s, m.draft.Params.Queue) }))
	m.hint(func() { qkey.Description(m.previewHint()) })
	fields := []huh.Field{
		input("session_ttl").Value(&m.ttlText).Validate(m.orCurrent(&m.ttlText, wizard.ValidateSessionTTLText)),
		toggle("queue").Value(&m.draft.Params.Queue),
		qkey,
		input("queue_count").Value(&m.countText).Validate(m.orCurrent(&m.countText, wizard.ValidateQueueCountText)),
	}
	if m.editing() {
		fields = append(fields, toggle("enabled").Value(&m.draft.Enabled),
			input("activation_limit").Value(&m.limitText).Validate(wizard.ValidateActivationLimitText))
	}
	return huh.NewGroup(fields...).Title("Module parameters · queue and session (3 of 3)")
}

func (m *Model) previewHint() string {
	p := m.draft.Params
	n, err := wizard.ParseQueueCount(m.countText)
	if err != nil {
		return "Preview: none until the number of queues is valid."
	}
	p.QueueCount = n
	if !p.Queue {
		p.Queue = true
		return fmt.Sprintf("Preview (when switched on): %s", wizard.Preview(p, m.pmid()))
	}
	return "Preview: " + wizard.Preview(p, m.pmid())
}

// orCurrent: huh's accessible prompts keep the current value on an empty answer but validate the empty
// text, so there an empty answer is checked as the value it keeps.
func (m *Model) orCurrent(cur *string, validate func(string) error) func(string) error {
	return func(s string) error {
		if m.accessible && strings.TrimSpace(s) == "" {
			s = *cur
		}
		return validate(s)
	}
}

// hint registers a description that depends on other fields. huh's DescriptionFunc would evaluate it
// in a command goroutine while the event loop writes the bound values (a data race), so the wizard
// refreshes these itself after every update, on the event loop.
func (m *Model) hint(set func()) { m.hints = append(m.hints, set) }

func (m *Model) refreshHints() {
	for _, set := range m.hints {
		set()
	}
}
