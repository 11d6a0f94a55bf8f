package wizardform

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
	"vmmpm/backend"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "demo-password"
)

func (h *harness) intro() {
	h.t.Helper()
	h.waitText("Step 1 of 5 · Product type")
	h.enter()
	h.waitText("Step 2 of 5 · Processing module")
	h.enter()
	h.waitText("Step 3 of 5 · Integration")
}

// integration fills step 3 and leaves it, which starts the login check.
func (h *harness) integration(url, user, password string) {
	h.t.Helper()
	h.focus("URL")
	h.typeText(url)
	h.waitText(url)
	h.enter()
	h.focus("Username")
	h.typeText(user)
	h.enter()
	h.focus("Password")
	h.typeText(password)
	h.enter()
	h.focus("Skip TLS verification")
	h.enter()
}

func (h *harness) placement(name string) {
	h.t.Helper()
	h.waitText("placement (1 of 3)")
	h.focus("Data center")
	h.enter()
	h.focus("Name")
	h.typeText(name)
	h.enter()
	h.focus("Department")
	h.enter()
	h.focus("Sort")
	h.enter()
	h.waitText("cluster (2 of 3)")
}

func (h *harness) through(titles ...string) {
	h.t.Helper()
	for _, title := range titles {
		h.focus(title)
		h.enter()
	}
}

// savedModule is the one module in bbolt; its password leaves the keyring when the test ends.
func (h *harness) savedModule() *store.Module {
	h.t.Helper()
	ms, err := store.All[store.Module](h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(ms) != 1 {
		h.t.Fatalf("want one module in bbolt, got %d", len(ms))
	}
	id := ms[0].ID
	h.t.Cleanup(func() { _ = h.secrets.Delete(id) })
	return ms[0]
}

func TestWizardHappyPath(t *testing.T) { wizardHappyPath(t, newHarness(t, nil, seedDefault)) }

// TestWizardHappyPathAttached: the same Add flow from a TUI attached to a server: the same screens,
// the password checked and kept by the server alone.
func TestWizardHappyPathAttached(t *testing.T) { wizardHappyPath(t, newAttachedHarness(t)) }

func wizardHappyPath(t *testing.T, h *harness) {
	h.p.watchFor(adminPassword)
	h.waitText("Step 1 of 5 · Product type")
	h.snapshot("01_product_type")
	h.enter()
	h.waitText("Step 2 of 5 · Processing module")
	h.snapshot("02_processing_module")
	h.enter()
	h.focus("URL")
	h.snapshot("03_integration")
	h.integration(h.simURL, adminEmail, adminPassword)
	h.focus("Data center")
	h.snapshot("04a_placement")
	h.placement("KVM one")
	h.focus("Cluster")
	h.snapshot("04b_cluster")
	h.through("Cluster", "Use recipes", "With recipes")
	h.focus("Additional network interface")
	h.typeText("y")
	h.waitText("queue and session (3 of 3)")
	h.focus("Session storage period")
	h.snapshot("04c_parameters")
	h.through("Session storage period")
	h.focus("Start operations in a queue")
	h.typeText("y") // on, and to the next field
	h.focus("Queue key")
	h.waitText("Preview: vmm6-1-1")
	h.enter()
	h.focus("Number of queues")
	h.key(tea.KeyBackspace)
	h.typeText("3")
	h.waitText("Preview: vmm6-1-1 … vmm6-1-3")
	h.enter()
	h.waitText("Step 5 of 5 · Review")
	h.focus("Save this module?")
	h.snapshot("05_review")
	h.enter()
	p := h.finish()
	if p.saved == nil || p.saved.Module.ID != 1 {
		t.Fatalf("the wizard must end with SavedMsg for module 1, got %+v", p.saved)
	}
	m := h.savedModule()
	want := store.Params{SessionTTL: 3600, Queue: true, QueueKey: "vmm6-__PMID__", QueueCount: 3}
	if m.Name != "KVM one" || m.URL != h.simURL || m.Cluster.Name != "kvm-main" || !m.AdditionalInterface ||
		m.DataCenterID != 2 || m.DepartmentID != 1 || m.Params != want || m.InsecureTLS {
		t.Fatalf("module in bbolt: %+v", m)
	}
	if pw, err := h.secrets.Get(m.ID); err != nil || pw != adminPassword {
		t.Fatalf("keyring: %q %v", pw, err)
	}
	raw, err := os.ReadFile(h.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(adminPassword)) {
		t.Fatal("the password is in the database file")
	}
	if p.leaked {
		t.Fatal("the password was drawn on the screen")
	}
}

func TestWizardWrongPasswordShowsCause(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	h.intro()
	h.integration(h.simURL, adminEmail, "wrong-password")
	h.waitText("✗ Bad credentials: VMmanager refused the email or password")
	h.focus("URL")
	h.snapshot("03_integration_bad_credentials")
	// Correcting the password moves on: the typed values were kept.
	h.through("URL", "Username")
	h.focus("Password")
	for range len("wrong-password") {
		h.key(tea.KeyBackspace)
	}
	h.typeText(adminPassword)
	h.enter()
	h.focus("Skip TLS verification")
	h.enter()
	h.waitText("placement (1 of 3)")
	h.key(tea.KeyCtrlC)
	h.waitText("discard this module")
	h.snapshot("quit_confirm")
	h.typeText("y")
	if p := h.finish(); !p.cancelled {
		t.Fatal("quitting must end with CancelledMsg")
	}
	if ms, _ := store.All[store.Module](h.db); len(ms) != 0 {
		t.Fatal("quitting saved a module")
	}
}

func TestWizardLXDClusterRefusesSecondInterface(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.placement("LXD quiet") // q inside a text field is a letter
	h.focus("Cluster")
	h.key(tea.KeyDown)
	h.waitText(`Switched off: cluster "lxd-main" has no IP pool on an additional network interface`)
	h.waitText("Additional network interface (unavailable)")
	h.snapshot("04b_cluster_lxd")
	h.through("Cluster", "Use recipes", "With recipes")
	h.focus("Additional network interface")
	h.typeText("y") // refused: the switch stays off and the page stays
	h.key(tea.KeyRight)
	h.key(tea.KeyLeft)
	h.enter()
	h.waitText("queue and session (3 of 3)")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.focus("Save this module?")
	h.waitText("Additional interface  off")
	h.enter()
	h.finish()
	m := h.savedModule()
	if m.Name != "LXD quiet" || m.Cluster.Virtualization != "lxd" || m.AdditionalInterface {
		t.Fatalf("LXD module must have no second interface: %+v", m)
	}
}

func TestWizardExternalDataCenterUnselectable(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.waitText("placement (1 of 3)")
	h.focus("Data center")
	h.key(tea.KeyDown)
	h.waitText(`Not selectable: data center "Partner DC" has External Data Center id "ext-42"`)
	h.enter()
	h.waitText("datacenter: must have no External Data Center id")
	h.snapshot("04a_placement_external_dc")
	if v := h.p.last(); !strings.Contains(v, "┃ Data center") {
		t.Fatalf("the focus must stay on the data center:\n%s", v)
	}
	h.key(tea.KeyUp)
	h.enter()
	h.focus("Name")
	// esc steps back a page at a time, keeping what was typed.
	h.key(tea.KeyEsc)
	h.waitText("Step 3 of 5 · Integration")
	h.key(tea.KeyEsc)
	h.waitText("Step 2 of 5 · Processing module")
	h.key(tea.KeyEsc)
	h.waitText("Step 1 of 5 · Product type")
	h.key(tea.KeyEsc)
	h.waitText("discard this module")
	h.typeText("n")
	h.waitText("Step 1 of 5 · Product type")
	h.typeText("q") // on a pick list q quits (asking first); in a text field it is a letter
	h.waitText("discard this module")
	h.typeText("n")
	h.waitText("Step 1 of 5 · Product type")
	h.key(tea.KeyCtrlC)
	h.waitText("discard this module")
	h.typeText("y")
	h.finish()
}

func TestWizardCheckCancelledWithEsc(t *testing.T) {
	srv := httptest.NewServer(sim.New(sim.Config{Latency: 3 * time.Second}))
	defer srv.Close()
	h := newHarness(t, srv, seedDefault)
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.waitText("Logging in to " + srv.URL)
	h.waitText("esc cancel the check")
	h.key(tea.KeyEsc)
	h.waitText("Check cancelled: nothing was saved")
	h.focus("URL")
	h.key(tea.KeyCtrlC)
	h.typeText("y")
	h.finish()
}

func TestWizardTLSFailureOffersSkip(t *testing.T) {
	srv := httptest.NewUnstartedServer(sim.New(sim.Config{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	h := newHarness(t, srv, seedDefault)
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.waitText("self-signed or from an unknown authority")
	h.waitText("s  Skip verification: INSECURE")
	h.typeText("s")
	h.waitText("placement (1 of 3)")
	h.waitText("Skip TLS verification is on: this module does not check")
	h.placement("KVM tls")
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.waitText("NOT VERIFIED (skip TLS verification is on)")
	h.focus("Save this module?")
	h.enter()
	h.finish()
	m := h.savedModule()
	if !m.InsecureTLS {
		t.Fatal("accepting the offer must save the module with skip TLS verification on")
	}
}

// brokenKeyring is the real keyring with a Set that fails the way a locked collection does.
type brokenKeyring struct{ store.Secrets }

func (brokenKeyring) Set(id uint64, _ string) error {
	return &store.SecretError{Op: "store", ModuleID: id, Cause: store.ErrLocked, Err: errors.New("collection is locked")}
}

func TestWizardSaveFailureSaysWhich(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	h.p.wiz.b = backend.NewLocal(h.db, brokenKeyring{h.secrets}, nil, "test")
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.placement("KVM one")
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.focus("Save this module?")
	h.enter()
	h.waitText("✗ Nothing was saved because the keyring failed")
	h.focus("Save this module?")
	if ms, _ := store.All[store.Module](h.db); len(ms) != 0 {
		t.Fatal("a keyring failure left a module in bbolt")
	}
	h.key(tea.KeyCtrlC)
	h.typeText("y")
	h.finish()
}

func TestWizardDuplicateSortFlagged(t *testing.T) {
	h := newHarness(t, nil, func(t *testing.T, db *store.DB) {
		seedDefault(t, db)
		m := &store.Module{Name: "Existing", ProductType: "vps", Kind: "vmmanager6", URL: "https://x", Username: "a@b.c",
			DataCenterID: 2, DepartmentID: 1, Sort: 5, Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: "kvm"},
			Enabled: true, Params: store.DefaultParams()}
		if err := db.Save(m); err != nil {
			t.Fatal(err)
		}
	})
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.waitText("placement (1 of 3)")
	h.through("Data center")
	h.focus("Name")
	h.typeText("Second")
	h.enter()
	h.through("Department")
	h.focus("Sort")
	h.typeText("5")
	h.waitText(`⚠ Allowed, but sort 5 is also used by module "Existing" (id 1) on this data center`)
	h.enter()
	h.waitText("cluster (2 of 3)")
	h.key(tea.KeyCtrlC)
	h.typeText("y")
	h.finish()
}

// TestWizardPrefill: the demo starts Integration with the emulator's URL and user and says so; only the
// password is typed, and the live check passes.
func TestWizardPrefill(t *testing.T) {
	h := newHarnessWith(t, nil, seedDefault, func(h *harness) Options {
		return Options{Prefill: Prefill{URL: h.simURL, Username: adminEmail, Note: "Demo: prefilled."}}
	})
	h.waitText("Step 1 of 5")
	h.enter()
	h.waitText("Step 2 of 5")
	h.enter()
	h.focus("URL")
	v := h.waitText("Demo: prefilled.")
	if !strings.Contains(v, h.simURL) || !strings.Contains(v, adminEmail) {
		t.Fatalf("prefilled URL and username not shown:\n%s", v)
	}
	h.enter()
	h.focus("Username")
	h.enter()
	h.focus("Password")
	h.typeText(adminPassword)
	h.enter()
	h.focus("Skip TLS verification")
	h.enter()
	h.waitText("placement (1 of 3)")
}

// TestWizardAddsPlacementOnTheSpot (issue 10 point 4): on a new database step 4 has no data center or
// department to choose, so it asks for names and adds them, keeping what was typed, and the module is
// saved bound to them.
func TestWizardAddsPlacementOnTheSpot(t *testing.T) {
	h := newHarness(t, nil, func(t *testing.T, db *store.DB) {
		if err := db.Save(&store.DataCenter{Name: "Partner DC", ExternalID: "ext-42"}); err != nil {
			t.Fatal(err)
		}
	})
	h.intro()
	h.integration(h.simURL, adminEmail, adminPassword)
	h.waitText("placement (1 of 3)")
	h.focus("New data center")
	h.typeText("Partner DC") // taken: refused when the page is left, the rest kept
	h.enter()
	h.focus("Name")
	h.typeText("KVM fresh")
	h.enter()
	h.focus("New department")
	h.typeText("Support")
	h.enter()
	h.focus("Sort")
	h.enter()
	h.waitText(`a data center named "Partner DC" already exists`)
	h.focus("New data center")
	h.waitText("KVM fresh")
	for range len("Partner DC") {
		h.key(tea.KeyBackspace)
	}
	h.typeText("Moscow")
	h.through("New data center", "Name", "New department", "Sort")
	h.waitText(`Added data center "Moscow" and department "Support".`)
	h.through("Cluster", "Use recipes", "With recipes", "Additional network interface")
	h.waitText("queue and session (3 of 3)")
	h.through("Session storage period", "Start operations in a queue", "Queue key", "Number of queues")
	h.focus("Save this module?")
	h.enter()
	h.finish()
	m := h.savedModule()
	dcs, _ := store.All[store.DataCenter](h.db)
	depts, _ := store.All[store.Department](h.db)
	if len(dcs) != 2 || dcs[1].Name != "Moscow" || len(depts) != 1 || depts[0].Name != "Support" {
		t.Fatalf("catalog after the wizard: %d data centers, %d departments", len(dcs), len(depts))
	}
	if m.Name != "KVM fresh" || m.DataCenterID != dcs[1].ID || m.DepartmentID != depts[0].ID {
		t.Fatalf("module %+v", m)
	}
}
