package wizardform

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"vmmpm/backend"

	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/wizard"
)

// openPTY is a terminal for the prompts; nobody reads its screen here, so the echo is drained.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, sl := termtest.OpenPTY(t, 100, 30)
	go func() { _, _ = io.Copy(io.Discard, m) }()
	return m, sl
}

// conversation answers prompts in order, each once it has appeared after the previous one.
type conversation struct {
	t      *testing.T
	out    *termtest.SyncBuffer
	master *os.File
	seen   int
}

func (c *conversation) expect(text string) {
	c.t.Helper()
	termtest.Expect(c.t, c.out, &c.seen, text)
}

func (c *conversation) answer(prompt, line string) {
	c.t.Helper()
	c.expect(prompt)
	if _, err := c.master.Write([]byte(line + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

func TestAccessibleWizard(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	_ = h.tm.Quit()
	master, slave := openPTY(t)
	out := &termtest.SyncBuffer{}
	type result struct {
		m   *store.Module
		err error
	}
	done := make(chan result, 1)
	b := &countChecks{Backend: backend.NewLocal(h.db, h.secrets, nil, "test")}
	go func() {
		m, _, err := RunAccessible(context.Background(), b, slave, out)
		done <- result{m, err}
	}()
	c := &conversation{t: t, out: out, master: master}
	c.expect("Step 1 of 5 · Product type")
	c.answer("enter the number 1", "1")
	c.expect("Step 2 of 5 · Processing module")
	c.answer("enter the number 1", "1")
	c.expect("Step 3 of 5 · Integration")
	c.answer("URL", h.simURL)
	c.answer("Username", adminEmail)
	c.answer("Password", adminPassword)
	c.answer("Skip TLS verification", "")
	c.expect("Step 4 of 5 · Module parameters")
	c.expect("2. Partner DC  (not selectable")
	c.answer("Enter a number between 1 and 2", "2")
	c.expect("datacenter: must have no External Data Center id")
	c.answer("Enter a number between 1 and 2", "1")
	c.answer("Name", "KVM a11y")
	c.answer("Enter a number between 1 and 2", "1")
	c.answer("Sort", "")
	c.answer("Enter a number between 1 and 2", "2") // lxd-main
	c.answer("Use recipes", "")
	c.answer("Enter a number between 1 and 2", "")
	c.answer("Additional network interface", "y")
	c.expect(`✗ additional_interface: can only be on for a cluster with a second interface: cluster "lxd-main"`)
	c.answer("Enter a number between 1 and 2", "1") // kvm-main
	c.answer("Use recipes", "")
	c.answer("Enter a number between 1 and 2", "")
	c.answer("Additional network interface", "y")
	c.answer("Session storage period", "600")
	c.answer("Start operations in a queue", "y")
	c.answer("Queue key", "")
	c.answer("Number of queues", "2")
	c.expect("Step 5 of 5 · Review")
	c.expect("Password               ••••••••")
	c.answer("Save this module?", "")
	c.expect(`Saved module "KVM a11y" with id 1.`)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { _ = h.secrets.Delete(r.m.ID) })
	if b.checks != 1 { // attached, the server logs in, as for the full-screen wizard
		t.Errorf("the login went through the backend %d times, want 1", b.checks)
	}
	m := h.savedModule()
	if m.Name != "KVM a11y" || m.Cluster.Name != "kvm-main" || !m.AdditionalInterface || m.Params.SessionTTL != 600 ||
		!m.Params.Queue || m.Params.QueueCount != 2 {
		t.Fatalf("module %+v", m)
	}
	if pw, err := h.secrets.Get(m.ID); err != nil || pw != adminPassword {
		t.Fatalf("keyring %q %v", pw, err)
	}
	if strings.Contains(out.String(), adminPassword) {
		t.Fatal("the accessible prompts printed the password")
	}
}

// countChecks counts the integration checks made through the backend.
type countChecks struct {
	backend.Backend
	checks int
}

func (c *countChecks) CheckIntegration(ctx context.Context, in wizard.Integration, password string, stored uint64) (*wizard.CheckResult, error) {
	c.checks++
	return c.Backend.CheckIntegration(ctx, in, password, stored)
}

func TestAccessibleWizardNeedsTerminal(t *testing.T) {
	h := newHarness(t, nil, seedDefault)
	_ = h.tm.Quit()
	if _, _, err := RunAccessible(context.Background(), backend.NewLocal(h.db, h.secrets, nil, "test"), strings.NewReader("1\n"), &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "needs a terminal") {
		t.Fatalf("want a refusal without a terminal, got %v", err)
	}
}
