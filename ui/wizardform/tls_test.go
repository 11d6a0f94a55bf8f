package wizardform

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// serveTLS runs `vmmpm sim --tls`'s server (sim.Listen) on loopback until the test ends.
func serveTLS(t *testing.T, tl sim.TLS) *sim.Listener {
	t.Helper()
	tl.On = true
	l, err := sim.Listen(sim.Config{}, "127.0.0.1:0", tl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Start())
	return l
}

// at80x24 is the harness on an 80×24 terminal.
func at80x24(*harness) Options { return Options{Width: 80, Height: 24} }

// TestWizardPinsSelfSignedCertificate: against `vmmpm sim --tls` the wizard shows the certificate
// (fingerprint, subject, issuer, validity) and its three choices; "trust this certificate" logs in
// again with the pin, and the module is saved with it and passes its check, on an 80×24 terminal.
func TestWizardPinsSelfSignedCertificate(t *testing.T) {
	wizardPins(t, newHarnessWith(t, nil, seedDefault, at80x24))
}

// TestWizardPinsSelfSignedCertificateAttached: the same through a server, where the login runs: the
// certificate's detail crosses the socket with the refusal.
func TestWizardPinsSelfSignedCertificateAttached(t *testing.T) { wizardPins(t, newAttachedHarness(t)) }

func wizardPins(t *testing.T, h *harness) {
	l := serveTLS(t, sim.TLS{})
	h.intro()
	h.integration(l.URL, adminEmail, adminPassword)
	v := h.waitText("how should this module trust it?")
	for _, want := range []string{l.Fingerprint[:47], l.Fingerprint[48:], "CN=vmmpm sim", "Valid", " to ", "(UTC)",
		"t  Trust exactly this certificate", "c  Use a CA file", "s  Skip verification: INSECURE"} {
		if !strings.Contains(v, want) {
			t.Fatalf("the offer lacks %q:\n%s", want, v)
		}
	}
	if strings.Index(v, "t  Trust") > strings.Index(v, "c  Use a CA") || strings.Index(v, "c  Use a CA") > strings.Index(v, "s  Skip") {
		t.Fatalf("trust, CA file and skip must come in that order:\n%s", v)
	}
	h.typeText("t")
	h.waitText("Its certificate is pinned (SHA-256 " + l.Fingerprint[:11] + "…)")
	h.placement("KVM pinned")
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.focus("Save this module?")
	h.waitText("pinned, SHA-256 " + l.Fingerprint[:11])
	h.enter()
	h.finish()
	m := h.savedModule()
	if m.TLSPin != l.Fingerprint || m.InsecureTLS || m.TLSCAFile != "" {
		t.Fatalf("saved TLS: pin %q insecure %v CA %q, want pin %s", m.TLSPin, m.InsecureTLS, m.TLSCAFile, l.Fingerprint)
	}
	chk, err := backend.NewLocal(h.db, h.secrets, nil, "test").CheckModule(context.Background(), m.ID)
	if err != nil || !chk.OK {
		t.Fatalf("the pinned module's check: %+v %v", chk, err)
	}
}

// TestWizardCAFile: choosing a CA file asks for it, refuses one that does not parse, and logs in with it.
func TestWizardCAFile(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "vmm.crt")
	l := serveTLS(t, sim.TLS{CertFile: cert, KeyFile: filepath.Join(dir, "vmm.key")})
	h := newHarness(t, nil, seedDefault)
	h.intro()
	h.integration(l.URL, adminEmail, adminPassword)
	h.waitText("how should this module trust it?")
	h.typeText("c")
	h.focus("CA file")
	h.typeText(filepath.Join(dir, "vmm.key"))
	h.enter()
	h.waitText("holds no PEM certificate")
	for range len("vmm.key") {
		h.key(tea.KeyBackspace)
	}
	h.typeText("vmm.crt")
	h.enter()
	h.waitText("Its certificate verified against the CA file")
	h.placement("KVM CA")
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.focus("Save this module?")
	h.enter()
	h.finish()
	if m := h.savedModule(); m.TLSCAFile != cert || m.TLSPin != "" || m.InsecureTLS {
		t.Fatalf("saved %+v", m)
	}
}

// TestWizardPlainHTTPNoSkipOffer: https:// to a port answering plain HTTP is named with the http:// URL
// to use, and no certificate choice (skip verification least of all) is offered.
func TestWizardPlainHTTPNoSkipOffer(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	h.intro()
	https := strings.Replace(h.simURL, "http://", "https://", 1)
	h.integration(https, adminEmail, adminPassword)
	h.waitText("answers plain HTTP on that port")
	h.focus("URL")
	v := h.waitFor("the http:// URL", func(s string) bool { return strings.Contains(strings.Join(strings.Fields(s), " "), "use "+h.simURL) })
	if strings.Contains(v, "Skip verification") || strings.Contains(v, "how should this module trust") || strings.Contains(v, "switch on skip") {
		t.Fatalf("skip verification offered for plain HTTP:\n%s", v)
	}
	h.key(tea.KeyCtrlC)
	h.typeText("y")
	h.finish()
}

// TestWizardReviewAt80x24: the Review page of an edit (the longest) scrolls on 80×24, the Save
// question stays on screen, and every row (cluster, queue) can be scrolled to.
func TestWizardReviewAt80x24(t *testing.T) {
	h := newHarnessWith(t, nil, seedDefault, at80x24)
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.placement("KVM one")
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.focus("Save this module?")
	v := h.waitText("more below (↑/↓ scroll)")
	if !strings.Contains(v, "[Save]") || strings.Contains(v, "Queue          ") {
		t.Fatalf("the first window must show Save and not yet the queue row:\n%s", v)
	}
	h.snapshot("05_review_top")
	seen := map[string]bool{}
	for range 20 {
		v = h.p.last()
		for _, row := range []string{"Cluster               kvm-main (KVM)", "Queue                 off", "Session storage"} {
			seen[row] = seen[row] || strings.Contains(v, row)
		}
		if !strings.Contains(v, "[Save]") {
			t.Fatalf("Save scrolled out of view:\n%s", v)
		}
		if !strings.Contains(v, "more below") {
			break
		}
		before := v
		h.key(tea.KeyDown)
		h.waitFor("the summary to scroll", func(s string) bool { return s != before })
	}
	h.waitText("more above (↑/↓ scroll)")
	h.snapshot("05_review_bottom")
	if len(seen) != 3 || !seen["Cluster               kvm-main (KVM)"] || !seen["Queue                 off"] || !seen["Session storage"] {
		t.Fatalf("rows never shown: %v", seen)
	}
	h.key(tea.KeyPgUp)
	h.waitText("Product type          VPS")
	h.enter()
	h.finish()
	if m := h.savedModule(); m.Name != "KVM one" {
		t.Fatalf("saved %+v", m)
	}
}

// TestWizardEditRepinsChangedCertificate: a pinned module whose VMmanager now presents another
// certificate on the same address is refused with both fingerprints; the edit wizard's Integration
// step offers to trust the new one, and saving keeps the new pin.
func TestWizardEditRepinsChangedCertificate(t *testing.T) {
	first, err := sim.Listen(sim.Config{}, "127.0.0.1:0", sim.TLS{On: true})
	if err != nil {
		t.Fatal(err)
	}
	first.Start()()
	second, err := sim.Listen(sim.Config{}, strings.TrimPrefix(first.URL, "https://"), sim.TLS{On: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Start())
	mod := &store.Module{Name: "KVM pinned", ProductType: "vps", Kind: "vmmanager6", URL: first.URL, Username: adminEmail,
		TLSPin: first.Fingerprint, DataCenterID: 2, DepartmentID: 1, Enabled: true, Params: store.DefaultParams(),
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: "kvm"}}
	h := newHarnessWith(t, nil, func(t *testing.T, db *store.DB) {
		seedDefault(t, db)
		if err := db.Save(mod); err != nil {
			t.Fatal(err)
		}
		if err := store.NewKeyring().Set(mod.ID, adminPassword); err != nil {
			t.Fatal(err)
		}
	}, func(*harness) Options { return Options{Edit: mod, Width: 80, Height: 24} })
	t.Cleanup(func() { _ = h.secrets.Delete(mod.ID) })
	h.through("URL", "Username", "Password", "Skip TLS verification")
	v := h.waitText("presented another certificate than the one pinned")
	if !strings.Contains(strings.Join(strings.Fields(v), " "), "(SHA-256 "+shortFingerprint(first.Fingerprint)+")") ||
		!strings.Contains(v, second.Fingerprint[:47]) || !strings.Contains(v, "esc  Back to Integration") {
		t.Fatalf("the offer must show the new certificate and all choices on 80×24:\n%s", v)
	}
	h.typeText("t")
	h.waitText("placement (1 of 3)")
	h.through("Data center", "Name", "Department", "Sort")
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues", "Enabled", "Simultaneous activation limit")
	h.focus("Save this module?")
	h.enter()
	h.finish()
	if m := h.savedModule(); m.TLSPin != second.Fingerprint {
		t.Fatalf("pin after the edit: %q, want %s", m.TLSPin, second.Fingerprint)
	}
}

// TestAccessibleWizardPins: the prompts show the certificate and take "trust exactly this certificate".
func TestAccessibleWizardPins(t *testing.T) {
	l := serveTLS(t, sim.TLS{})
	h := newHarness(t, nil, seedDefault)
	_ = h.tm.Quit()
	master, slave := openPTY(t)
	out := &termtest.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		_, _, err := RunAccessible(context.Background(), backend.NewLocal(h.db, h.secrets, nil, "test"), slave, out)
		done <- err
	}()
	c := &conversation{t: t, out: out, master: master}
	c.answer("enter the number 1", "1")
	c.answer("enter the number 1", "1")
	c.answer("URL", l.URL)
	c.answer("Username", adminEmail)
	c.answer("Password", adminPassword)
	c.answer("Skip TLS verification", "")
	c.expect("SHA-256 " + l.Fingerprint)
	c.expect("1. Trust exactly this certificate (pinned)")
	c.answer("Enter a number between 1 and 4", "1")
	c.expect("Step 4 of 5 · Module parameters")
	c.answer("Enter a number between 1 and 2", "1")
	c.answer("Name", "KVM a11y pinned")
	c.answer("Enter a number between 1 and 2", "1")
	c.answer("Sort", "")
	c.answer("Enter a number between 1 and 2", "1")
	c.answer("Use recipes", "")
	c.answer("Enter a number between 1 and 2", "")
	c.answer("Additional network interface", "")
	c.answer("Session storage period", "")
	c.answer("Start operations in a queue", "")
	c.answer("Queue key", "")
	c.answer("Number of queues", "")
	c.expect("pinned, SHA-256 " + shortFingerprint(l.Fingerprint))
	c.answer("Save this module?", "")
	c.expect(`Saved module "KVM a11y pinned" with id`) // a failed save asks again: fail here, not hang below
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := h.savedModule(); m.TLSPin != l.Fingerprint || m.InsecureTLS {
		t.Fatalf("saved %+v", m)
	}
}
