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

// formHeight leaves room for the review summary above the confirm on the last page.
func (m *Model) formHeight() int {
	if m.page == pageReview {
		return max(m.bodyHeight()-len(m.reviewRows())-1, 4)
	}
	return m.bodyHeight()
}

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

func (m *Model) integrationGroup() *huh.Group {
	return huh.NewGroup(
		huh.NewInput().Title("URL").
			Description("Domain or public IP address of VMmanager 6; https:// is assumed.").
			Value(&m.draft.URL).Validate(m.orCurrent(&m.draft.URL, wizard.ValidateURL)),
		huh.NewInput().Title("Username").
			Description("Email of the VMmanager 6 administrator: the first account created after installing it.").
			Value(&m.draft.Username).Validate(m.orCurrent(&m.draft.Username, wizard.ValidateUsername)),
		huh.NewInput().Title("Password").EchoMode(huh.EchoModePassword).
			Value(&m.password).Validate(wizard.ValidatePassword),
		huh.NewConfirm().Title("Skip TLS verification").
			Description("Off by default. Only for a VMmanager whose self-signed certificate you trust.").
			Affirmative("On").Negative("Off").Value(&m.draft.InsecureTLS),
	).Title("Integration").Description(strings.TrimSpace("Leaving this step logs in to VMmanager and checks the @admin role. " + m.note))
}

func (m *Model) placementGroup() *huh.Group {
	dcs := huh.NewSelect[uint64]().Title("Data center").Value(&m.draft.DataCenterID).
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
	dcs.Options(append(opts, blocked...)...)
	depts := huh.NewSelect[uint64]().Title("Department").
		Description("Receives the tasks the module cannot finish on its own.").
		Value(&m.draft.DepartmentID).Validate(m.cat.ValidateDepartment)
	var dopts []huh.Option[uint64]
	for _, c := range m.cat.DepartmentChoices() {
		dopts = append(dopts, huh.NewOption(c.Label, c.ID))
	}
	if len(dopts) == 0 {
		depts.Description("No departments yet: quit and add one with `vmmpm department add NAME`.")
	}
	depts.Options(dopts...)
	sort := huh.NewInput().Title("Sort").Value(&m.sortText).Validate(wizard.ValidateSortText)
	m.hint(func() { sort.Description(m.sortHint()) })
	return huh.NewGroup(
		dcs,
		huh.NewInput().Title("Name").Description("Shown in BILLmanager's lists: 1–64 characters, unique among modules.").
			Value(&m.draft.Name).Validate(m.orCurrent(&m.draft.Name, func(s string) error { return m.cat.ValidateName(s, 0) })),
		depts,
		sort,
	).Title("Module parameters · placement (1 of 3)")
}

func (m *Model) dataCenterHint() string {
	if len(m.cat.DataCenters) == 0 {
		return "No data centers yet: quit and add one with `vmmpm datacenter add NAME`."
	}
	for _, c := range m.cat.DataCenterChoices() {
		if c.ID == m.draft.DataCenterID && !c.Selectable {
			return "Not selectable: " + c.Reason + "."
		}
	}
	return "The BILLmanager data center the module serves; one with an External Data Center id cannot be chosen."
}

func (m *Model) sortHint() string {
	n, err := wizard.ParseSort(m.sortText)
	if err == nil {
		if w := m.cat.SortWarning(n, m.draft.DataCenterID, 0); w != "" {
			return "⚠ Allowed, but " + w + "."
		}
	}
	return "0–9999 (empty is 0). When several modules serve a tariff, the lowest sort is tried first."
}

func (m *Model) clusterGroup() *huh.Group {
	var opts []huh.Option[uint64]
	for _, c := range wizard.ClusterChoices(m.draft.Clusters) {
		opts = append(opts, huh.NewOption(c.Label, c.ID))
	}
	clusters := huh.NewSelect[uint64]().Title("Cluster").
		Description("Where the VMs are created, live from VMmanager. One module serves one cluster.").
		Value(&m.clusterID).Validate(func(id uint64) error { return wizard.ValidateCluster(m.draft.Clusters, id) })
	clusters.Options(opts...)
	allowed := func() bool { ok, _ := wizard.AdditionalInterface(m.draft.Clusters, m.clusterID); return ok }
	confirm := huh.NewConfirm().Title("Additional network interface").Affirmative("On").Negative("Off").
		Validate(func(on bool) error { return wizard.ValidateAdditionalInterface(m.draft.Clusters, m.clusterID, on) })
	iface := newLockedConfirm(confirm, &m.draft.AdditionalInterface, allowed, m.formKeys)
	m.hint(func() {
		title := "Additional network interface"
		if !allowed() {
			title += " (unavailable)"
		}
		confirm.Title(title).Description(m.ifaceHint())
	})
	return huh.NewGroup(
		clusters,
		huh.NewConfirm().Title("Use recipes").Description("Run a recipe (a script) on new VMs after the OS is installed.").
			Affirmative("On").Negative("Off").Value(&m.draft.UseRecipes),
		huh.NewSelect[string]().Title("With recipes, the service counts as active").Inline(true).
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
	qkey := huh.NewInput().Title("Queue key (letters, digits, - _ . and the macros __TYPE__, __PMID__, __IID__)").
		Value(&m.draft.Params.QueueKey).
		Validate(m.orCurrent(&m.draft.Params.QueueKey, func(s string) error { return wizard.ValidateQueueKey(s, m.draft.Params.Queue) }))
	m.hint(func() { qkey.Description(m.previewHint()) })
	return huh.NewGroup(
		huh.NewInput().Title("Session storage period (seconds)").
			Description("How long one VMmanager login is reused, 0–86400; 0 logs in for every operation.").
			Value(&m.ttlText).Validate(m.orCurrent(&m.ttlText, wizard.ValidateSessionTTLText)),
		huh.NewConfirm().Title("Start operations in a queue").
			Description("Off: operations start at once. On: operations with the same queue key run one after another.").
			Affirmative("On").Negative("Off").Value(&m.draft.Params.Queue),
		qkey,
		huh.NewInput().Title("Number of queues").Description("Lanes per key name, 1–64: how many such operations may run at once.").
			Value(&m.countText).Validate(m.orCurrent(&m.countText, wizard.ValidateQueueCountText)),
	).Title("Module parameters · queue and session (3 of 3)")
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
		return fmt.Sprintf("Preview (when switched on): %s", wizard.Preview(p, m.cat.NextModuleID))
	}
	return "Preview: " + wizard.Preview(p, m.cat.NextModuleID)
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
