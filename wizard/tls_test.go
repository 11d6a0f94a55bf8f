package wizard

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// serveTLS runs `vmmpm sim --tls`'s server on listen until stop or the test's end.
func serveTLS(t *testing.T, listen string, tl sim.TLS) (l *sim.Listener, stop func()) {
	t.Helper()
	tl.On = true
	l, err := sim.Listen(sim.Config{}, listen, tl)
	if err != nil {
		t.Fatal(err)
	}
	stop = l.Start()
	t.Cleanup(stop)
	return l, stop
}

func TestModuleSetTLS(t *testing.T) {
	cat := testCatalog()
	m := setModule()
	m.InsecureTLS = true
	const pin = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
	e, err := cat.ParseSet(m, []string{"tls_pin=" + pin})
	if err != nil || !e.Live {
		t.Fatalf("tls_pin: %v, live %v", err, e != nil && e.Live)
	}
	if got := e.Draft.Module(); got.TLSPin != strings.ToUpper(pin) || got.InsecureTLS {
		t.Fatalf("a pin is stored as openssl prints it and replaces skipping verification: %+v", got)
	}
	dir := t.TempDir()
	notPEM, pem := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serveTLS(t, "127.0.0.1:0", sim.TLS{CertFile: pem, KeyFile: pem + ".key"}) // writes a certificate file
	for _, c := range []struct{ kv, frag string }{
		{"tls_pin=AB:CD", "64 hex digits"},
		{"tls_pin=" + strings.Replace(pin, "ab", "zz", 1), "64 hex digits"},
		{"tls_ca_file=" + filepath.Join(dir, "missing.pem"), "no such file"},
		{"tls_ca_file=" + notPEM, "holds no PEM certificate"},
	} {
		_, err := cat.ParseSet(m, []string{c.kv})
		wantRule(t, err, strings.Split(c.kv, "=")[0], c.frag)
	}
	e, err = cat.ParseSet(m, []string{"tls_ca_file= " + pem + " "})
	if err != nil || !e.Live || e.Draft.Module().TLSCAFile != pem || e.Draft.InsecureTLS {
		t.Fatalf("tls_ca_file: %v %+v", err, e)
	}
	bad := "12"
	if _, err := cat.ApplyChanges(m, &ModuleChanges{TLSPin: &bad}); err == nil {
		t.Fatal("a typed pin from the wire must be held to the same rule")
	}
}

// TestPinnedModuleSurvivesRestartAndRefusesAnotherCertificate: a module added with the emulator's pin
// keeps it in bbolt across a reopen (the password stays in the keyring only) and checks out; the same
// module against a second emulator with another certificate on the same address is refused, naming
// both fingerprints and the command that pins the new one.
func TestPinnedModuleSurvivesRestartAndRefusesAnotherCertificate(t *testing.T) {
	first, stop := serveTLS(t, "127.0.0.1:0", sim.TLS{})
	secrets := keyringService(t)
	db := seededDB(t)
	path := db.Path()
	spec, err := ParseSpec(strings.NewReader(`{"product_type": "vps", "module": "vmmanager6", "url": "` + first.URL +
		`", "username": "` + simAdmin + `", "tls_pin": "` + strings.ToLower(first.Fingerprint) +
		`", "datacenter": 1, "department": 1, "name": "KVM pinned", "cluster": "kvm-main"}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := AddFromSpec(context.Background(), db, secrets, spec, simPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = secrets.Delete(m.ID) })
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil || bytes.Contains(raw, []byte(simPassword)) || !bytes.Contains(raw, []byte(first.Fingerprint)) {
		t.Fatalf("the file must hold the pin and not the password (%v)", err)
	}
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := store.Load[store.Module](db, m.ID); err != nil || got.TLSPin != first.Fingerprint || got.InsecureTLS {
		t.Fatalf("after reopening: %+v %v", got, err)
	}
	if _, err := CheckStored(context.Background(), db, secrets, m.ID); err != nil {
		t.Fatalf("pinned check: %v", err)
	}
	stop()
	second, _ := serveTLS(t, strings.TrimPrefix(first.URL, "https://"), sim.TLS{})
	chk, err := CheckStored(context.Background(), db, secrets, m.ID)
	ce := wantCause(t, err, CauseTLS)
	for _, want := range []string{first.Fingerprint, second.Fingerprint, "vmmpm module set 1 tls_pin=" + second.Fingerprint} {
		if !strings.Contains(err.Error(), want) || !strings.Contains(chk.Message, want) {
			t.Fatalf("refusal lacks %q: %s", want, err)
		}
	}
	if te := ce.TLS(); te == nil || te.Kind != "pin" || !te.Trustable() {
		t.Fatalf("TLS detail: %+v", te)
	}
}

// TestSpecTLSFailures: without a pin the self-signed certificate is shown with what to do; https to a
// plain HTTP port names the http:// URL and offers no certificate to trust.
func TestSpecTLSFailures(t *testing.T) {
	l, _ := serveTLS(t, "127.0.0.1:0", sim.TLS{})
	plain := simServer(t, sim.Config{})
	db := seededDB(t)
	for _, c := range []struct {
		url       string
		trustable bool
		wants     []string
	}{
		{l.URL, true, []string{l.Fingerprint, `subject "CN=vmmpm sim`, "valid ", "tls_pin=" + l.Fingerprint, "tls_ca_file=", "skip TLS verification"}},
		{strings.Replace(plain.URL, "http://", "https://", 1), false, []string{"answers plain HTTP", "use " + plain.URL}},
	} {
		spec, err := ParseSpec(strings.NewReader(`{"product_type": "vps", "module": "vmmanager6", "url": "` + c.url +
			`", "username": "` + simAdmin + `", "datacenter": 1, "department": 1, "name": "KVM tls", "cluster": "kvm-main"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = AddFromSpec(context.Background(), db, store.NewMemorySecrets(), spec, simPassword)
		ce := wantCause(t, err, CauseTLS)
		if te := ce.TLS(); te == nil || te.Trustable() != c.trustable {
			t.Fatalf("%s: %+v", c.url, te)
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the refusal lacks %q: %s", c.url, w, err)
			}
		}
		if !c.trustable && strings.Contains(err.Error(), "skip") {
			t.Errorf("skipping verification cannot help plain HTTP, yet it is offered: %s", err)
		}
	}
	if n := moduleCount(t, db); n != 0 {
		t.Fatalf("refusals saved %d modules", n)
	}
	var ve *store.ValidationError
	spec, _ := ParseSpec(strings.NewReader(`{"product_type": "vps", "module": "vmmanager6", "url": "` + l.URL +
		`", "username": "` + simAdmin + `", "tls_pin": "nope", "datacenter": 1, "department": 1, "name": "x", "cluster": 1}`))
	if _, _, err := AddFromSpec(context.Background(), db, store.NewMemorySecrets(), spec, simPassword); !errors.As(err, &ve) || ve.Field != "tls_pin" {
		t.Fatalf("a bad pin in a spec: %v", err)
	}
}
