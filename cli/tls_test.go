package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/vmm/sim"
)

// serveSimTLS runs `vmmpm sim --tls`'s server (sim.Listen) on listen until stop or the test's end.
func serveSimTLS(t *testing.T, listen string, tl sim.TLS) (l *sim.Listener, stop func()) {
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

// TestPinnedModuleRefusesAnotherCertificate: a module added with `"tls_pin"` shows it, checks out, and
// once a second emulator with another certificate answers on the same address, `module check` and
// `validate --tls-pin` refuse it naming both fingerprints; `module set tls_pin=` pins the new one.
func TestPinnedModuleRefusesAnotherCertificate(t *testing.T) {
	e := newModuleEnv(t)
	first, stop := serveSimTLS(t, "127.0.0.1:0", sim.TLS{})
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(func(s map[string]any) {
		s["url"], s["tls_pin"] = first.URL, strings.ReplaceAll(first.Fingerprint, ":", "")
	}))
	if ms := e.modules(); len(ms) != 1 || ms[0].TLSPin != first.Fingerprint || ms[0].InsecureTLS {
		t.Fatalf("module list --json: %+v", ms[0])
	}
	if out := e.ok("", "module", "show", "1"); !strings.Contains(out, "tls_pin:               "+first.Fingerprint) {
		t.Fatalf("module show:\n%s", out)
	}
	e.ok("", "module", "check", "1")
	stop()
	second, _ := serveSimTLS(t, strings.TrimPrefix(first.URL, "https://"), sim.TLS{})
	both := []string{first.Fingerprint, second.Fingerprint}
	e.refuse(exitUnreachable, "", []string{"module", "check", "1"}, append(both, "vmmpm module set 1 tls_pin="+second.Fingerprint)...)
	e.refuse(exitUnreachable, modulePassword+"\n", []string{"validate", "--url", first.URL, "--user", "admin@example.com", "--tls-pin", first.Fingerprint}, both...)
	e.ok(modulePassword+"\n", "validate", "--url", first.URL, "--user", "admin@example.com", "--tls-pin", second.Fingerprint)
	e.refuse(exitUsage, "", []string{"module", "set", "1", "tls_pin=12:34"}, "tls_pin", "64 hex digits")
	e.ok("", "module", "set", "1", "tls_pin="+strings.ToLower(second.Fingerprint))
	if m := e.modules()[0]; m.TLSPin != second.Fingerprint {
		t.Fatalf("after module set: %q", m.TLSPin)
	}
	e.ok("", "module", "check", "1")
	assertNoPassword(t, e)
}

// TestSimTLSCertFilesAndCAFile: `vmmpm sim --tls-cert --tls-key` prints the fingerprint, makes the
// files once and serves the same certificate from them again; the certificate file works as
// `validate --ca-file` and as a module's tls_ca_file; plain HTTP on https:// is named with its http:// URL.
func TestSimTLSCertFilesAndCAFile(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "sim.crt"), filepath.Join(dir, "sim.key")
	base, out, _, stop := startSim(t, "", "--tls-cert", cert, "--tls-key", key)
	lines := simWaitLines(t, out, 3)
	fp, ok := strings.CutPrefix(lines[2], "tls_sha256=")
	if !strings.HasPrefix(base, "https://") || !strings.HasPrefix(lines[1], "admin login") || !ok || len(fp) != 95 {
		t.Fatalf("sim printed %q", lines)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	base, out, _, stop = startSim(t, "", "--tls-cert", cert, "--tls-key", key)
	defer func() { _ = stop() }()
	if again := simWaitLines(t, out, 3)[2]; again != lines[2] {
		t.Fatalf("the certificate files were not reused: %q then %q", lines[2], again)
	}
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "validate", "--url", base, "--user", "admin@example.com", "--ca-file", cert)
	_, errOut, code := e.run(modulePassword+"\n", "validate", "--url", base, "--user", "admin@example.com")
	if code != exitUnreachable || !strings.Contains(errOut, fp) || !strings.Contains(errOut, "(--tls-pin "+fp+")") ||
		!strings.Contains(errOut, "(--ca-file FILE)") || !strings.Contains(errOut, "(--insecure)") {
		t.Fatalf("unverified: exit %d %s", code, errOut)
	}
	e.refuse(exitUsage, "", []string{"validate", "--url", base, "--user", "admin@example.com", "--ca-file", key}, "--ca-file", "no PEM certificate")
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(func(s map[string]any) { s["url"], s["tls_ca_file"] = base, cert }))
	var ms []struct {
		CAFile string `json:"tls_ca_file"`
	}
	if err := json.Unmarshal([]byte(e.ok("", "module", "list", "--json")), &ms); err != nil || len(ms) != 1 || ms[0].CAFile != cert {
		t.Fatalf("module list --json: %+v %v", ms, err)
	}
	e.ok("", "module", "check", "1")
	https := strings.Replace(e.simURL, "http://", "https://", 1)
	e.refuse(exitUnreachable, modulePassword+"\n", []string{"validate", "--url", https, "--user", "admin@example.com"}, "plain HTTP", "use "+e.simURL)
	_, errOut, _ = e.run(modulePassword+"\n", "validate", "--url", https, "--user", "admin@example.com")
	if strings.Contains(errOut, "insecure") || strings.Contains(errOut, "skip") {
		t.Fatalf("skip verification offered for plain HTTP: %s", errOut)
	}
}
