package wizardform

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"vmmpm/store"
	"vmmpm/wizard"
)

// View draws exactly width×height: header, body, notice, help.
func (m *Model) View() string {
	w := m.contentWidth()
	body := lipgloss.NewStyle().Width(w).Height(m.bodyHeight()).MaxHeight(m.bodyHeight()).Render(m.bodyView())
	notice := ""
	switch errs := m.fieldErrors(); {
	case len(errs) > 0:
		notice = m.st.bad.Render(wrapText("✗ "+errs[0].Error(), w))
	case m.notice != "":
		notice = m.noticeSty.Render(wrapText(m.notice, w))
	}
	notice = lipgloss.NewStyle().Height(noticeLines).MaxHeight(noticeLines).Render(notice)
	out := lipgloss.JoinVertical(lipgloss.Left, m.headerView(w), body, notice, "", m.helpView(w))
	return lipgloss.NewStyle().PaddingLeft(1).MaxHeight(m.height).Render(out)
}

// fieldErrors are the page's validation refusals; huh would draw them below its fixed-height group.
func (m *Model) fieldErrors() []error {
	if m.form == nil || m.phase != phaseEdit {
		return nil
	}
	return m.form.Errors()
}

func (m *Model) headerView(w int) string {
	step := m.page.step()
	var crumbs []string
	for _, s := range wizard.Steps() {
		label := fmt.Sprintf("%d %s", int(s), s.Title())
		if s == step {
			crumbs = append(crumbs, m.st.stepOn.Render("["+label+"]"))
		} else {
			crumbs = append(crumbs, m.st.stepOff.Render(label))
		}
	}
	trail := strings.Join(crumbs, m.st.stepOff.Render(" › "))
	if lipgloss.Width(trail) > w {
		trail = ""
	}
	title := "Add a processing module"
	if m.editing() {
		title = fmt.Sprintf("Edit module %d %q", m.draft.ID, m.before)
	}
	return lipgloss.JoinVertical(lipgloss.Left,
		m.st.title.Render(title),
		m.st.stepOn.Render(step.Indicator()),
		trail,
		m.st.rule.Render(strings.Repeat("─", w)))
}

func (m *Model) bodyView() string {
	switch m.phase {
	case phaseFatal:
		return m.st.bad.Render(wrapText("✗ The wizard cannot start: "+m.fatal.Error()+".", m.contentWidth()))
	case phaseChecking:
		return fmt.Sprintf("%s Logging in to %s as %s and checking the @admin role…\n\n%s",
			m.spin.View(), m.draft.URL, strings.TrimSpace(m.draft.Username),
			m.st.muted.Render("esc cancels the check; nothing is saved until Review is confirmed."))
	case phaseTLSOffer:
		return m.tlsOfferView()
	case phaseCAFile:
		return m.st.bad.Render(wrapText(m.offerHeadline(), m.contentWidth())) + "\n\n" + m.caForm.View()
	case phaseConfirmQuit:
		if m.editing() {
			return "Leave the wizard and discard these changes? The module stays as it was. (y/n)"
		}
		return "Leave the wizard and discard this module? Nothing has been saved. (y/n)"
	case phaseSaving:
		return m.spin.View() + " Saving the module to the database and its password to the keyring…"
	case phaseDone:
		if m.saved == nil {
			return "Wizard closed; nothing was saved."
		}
		return m.st.good.Render(fmt.Sprintf("✓ Saved module %q with id %d; its password is in %s.",
			m.saved.Name, m.saved.ID, m.where))
	}
	if m.page == pageReview {
		return m.reviewView() + "\n" + m.form.View()
	}
	return m.form.View()
}

func (m *Model) helpView(w int) string {
	if m.embedded {
		return ""
	}
	m.help.Width = w
	return m.help.ShortHelpView(m.HelpBindings())
}

// HelpBindings are the keys that work in the wizard's current phase, for whichever help bar shows them.
func (m *Model) HelpBindings() []key.Binding {
	var binds []key.Binding
	switch m.phase {
	case phaseEdit:
		binds = append(m.form.KeyBinds(), m.keys.Back, m.keys.Quit)
		if m.page == pageReview && len(m.reviewRows()) > m.reviewHeight() {
			binds = append([]key.Binding{m.keys.ScrollUp}, binds...)
		}
	case phaseChecking:
		binds = []key.Binding{m.keys.Cancel, m.keys.Quit}
	case phaseTLSOffer:
		binds = []key.Binding{m.keys.Trust, m.keys.CAFile, m.keys.Skip, m.keys.Back}
	case phaseCAFile:
		binds = []key.Binding{m.formKeys.Input.Submit, m.keys.Back}
	case phaseConfirmQuit:
		binds = []key.Binding{m.keys.Yes, m.keys.No}
	case phaseFatal:
		binds = []key.Binding{m.keys.Quit}
	}
	return dedupe(binds)
}

// dedupe drops bindings whose help text repeats (huh lists enter as both next and submit).
func dedupe(bs []key.Binding) []key.Binding {
	seen := map[string]bool{}
	var out []key.Binding
	for _, b := range bs {
		h := b.Help()
		if !b.Enabled() || h.Key == "" || seen[h.Key+h.Desc] {
			continue
		}
		seen[h.Key+h.Desc] = true
		out = append(out, b)
	}
	return out
}

// reviewRows is everything on one page, password masked (spec §3, step 5).
func (m *Model) reviewRows() [][2]string {
	d := m.draft
	dc, dept := fmt.Sprint(d.DataCenterID), fmt.Sprint(d.DepartmentID)
	if x := m.cat.DataCenter(d.DataCenterID); x != nil {
		dc = x.Name
	}
	if x := m.cat.Department(d.DepartmentID); x != nil {
		dept = x.Name
	}
	recipes := onOff(d.UseRecipes)
	if d.UseRecipes {
		recipes += map[string]string{store.RecipeWaitOS: ", active once the OS is installed",
			store.RecipeWaitRecipe: ", active once the recipe has finished"}[d.RecipeWait]
	}
	queue := "off"
	if d.Params.Queue {
		queue = fmt.Sprintf("on, key %s × %d: %s", d.Params.QueueKey, d.Params.QueueCount, wizard.Preview(d.Params, m.pmid()))
	}
	password := "••••••••"
	if m.editing() && m.password == "" {
		password = "(unchanged)"
	}
	rows := [][2]string{
		{"Product type", "VPS"}, {"Processing module", "VMmanager 6"},
		{"URL", d.URL}, {"Username", strings.TrimSpace(d.Username)}, {"Password", password},
		{"TLS", tlsChoice(d)},
		{"Data center", dc}, {"Name", strings.TrimSpace(d.Name)}, {"Department", dept},
		{"Sort", fmt.Sprint(d.Sort)},
		{"Cluster", fmt.Sprintf("%s (%s)", d.Cluster.Name, strings.ToUpper(d.Cluster.Virtualization))},
		{"Use recipes", recipes}, {"Additional interface", onOff(d.AdditionalInterface)},
		{"Session storage", fmt.Sprintf("%d s", d.Params.SessionTTL)}, {"Queue", queue},
	}
	if m.editing() {
		limit := "none"
		if d.ActivationLimit > 0 {
			limit = fmt.Sprint(d.ActivationLimit)
		}
		rows = append(rows, [2]string{"Enabled", onOff(d.Enabled)}, [2]string{"Activation limit", limit})
	}
	return rows
}

// reviewView is the summary, a window of it when it is taller than its room (the Save question below
// it stays in view): the first and last lines then say how many rows are above and below.
func (m *Model) reviewView() string {
	rows, h := m.reviewRows(), m.reviewHeight()
	top := 0
	if len(rows) > h {
		top = min(m.reviewTop, len(rows)-h)
	}
	var b strings.Builder
	for i := top; i < min(top+h, len(rows)); i++ {
		r := rows[i]
		line := m.st.label.Render(fmt.Sprintf("%-22s", r[0])) + m.st.value.Render(r[1])
		switch {
		case i == top && top > 0:
			line = m.st.muted.Render(fmt.Sprintf("↑ %d more above (↑/↓ scroll)", top+1))
		case i == top+h-1 && top+h < len(rows):
			line = m.st.muted.Render(fmt.Sprintf("↓ %d more below (↑/↓ scroll)", len(rows)-top-h+1))
		}
		b.WriteString(lipgloss.NewStyle().MaxWidth(m.contentWidth()).Render(line) + "\n")
	}
	return b.String()
}

// tlsChoice is how the module will check VMmanager's certificate, loud when it will not.
func tlsChoice(d *wizard.Draft) string {
	switch {
	case strings.HasPrefix(strings.ToLower(strings.TrimSpace(d.URL)), "http://"):
		return "none: plain HTTP"
	case d.TLSPin != "":
		return "pinned, SHA-256 " + shortFingerprint(d.TLSPin)
	case d.TLSCAFile != "":
		return "verified against CA file " + d.TLSCAFile
	case d.InsecureTLS:
		return "NOT VERIFIED (skip TLS verification is on)"
	}
	return "verified (system CAs)"
}

// shortFingerprint is a fingerprint's first and last bytes, "AB:CD:EF:01…89:AB:CD".
func shortFingerprint(fp string) string {
	if len(fp) < 20 {
		return fp
	}
	return fp[:11] + "…" + fp[len(fp)-8:]
}

// offerHeadline is the failure in at most two lines at 80 columns; the certificate rows follow.
func (m *Model) offerHeadline() string {
	if m.offer.Kind == "pin" {
		return fmt.Sprintf("✗ %s presented another certificate than the one pinned (SHA-256 %s).", m.offer.Host, shortFingerprint(m.offer.Pin))
	}
	return "✗ " + capitalize(m.offer.Error()) + "."
}

// tlsOfferView shows the certificate that did not verify and the three ways on, the safest first.
func (m *Model) tlsOfferView() string {
	w, c := m.contentWidth(), m.offer.Cert
	fp := c.SHA256
	if len(fp) > w-14 { // 32 bytes as "AB:" do not fit 80 columns: two lines of 16
		fp = fp[:47] + "\n" + strings.Repeat(" ", 14) + fp[48:]
	}
	row := func(label, v string) string {
		return m.st.label.Render(fmt.Sprintf("  %-12s", label)) + m.st.value.Render(v)
	}
	choice := func(k, text string) string { return "  " + m.st.stepOn.Render(k) + "  " + text }
	return strings.Join([]string{
		m.st.bad.Render(wrapText(m.offerHeadline(), w)),
		"",
		"The certificate VMmanager presented:",
		row("SHA-256", fp), row("Subject", c.Subject), row("Issuer", c.Issuer), row("Valid", c.Validity()),
		"",
		"If it is your VMmanager's, how should this module trust it?",
		choice("t", "Trust exactly this certificate (pinned: checked on every connection)"),
		choice("c", "Use a CA file (the PEM of the CA that signed it)"),
		choice("s", m.st.bad.Render("Skip verification: INSECURE, anyone in between can read the password")),
		choice("esc", "Back to Integration"),
	}, "\n")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func wrapText(s string, w int) string { return lipgloss.NewStyle().Width(w).Render(s) }
