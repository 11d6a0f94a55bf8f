package cli

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
	"vmmpm/wizard"
)

func validateSim(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(sim.New(sim.Config{Seed: 1}))
	t.Cleanup(srv.Close)
	return srv
}

func TestValidateOK(t *testing.T) {
	srv := validateSim(t)
	out, errOut, code := runCLI(t, "demo-password\n", "validate", "--url", srv.URL+"/", "--user", "admin@example.com")
	if code != exitOK || errOut != "" {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"admin@example.com is a VMmanager 6 administrator", "answered in", "kvm-main", "lxd-main", "ADDITIONAL INTERFACE"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || !strings.HasSuffix(strings.TrimSpace(lines[2]), "yes") || !strings.HasSuffix(strings.TrimSpace(lines[3]), "no") {
		t.Errorf("kvm-main should show an additional interface and lxd-main none:\n%s", out)
	}
}

func TestValidateJSON(t *testing.T) {
	srv := validateSim(t)
	out, errOut, code := runCLI(t, "demo-password", "validate", "--url", srv.URL, "--user", "admin@example.com", "--json")
	if code != exitOK {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"url", "user", "latency_ms", "clusters"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	var rep struct {
		URL       string  `json:"url"`
		User      string  `json:"user"`
		LatencyMS float64 `json:"latency_ms"`
		Clusters  []struct {
			ID                  uint64 `json:"id"`
			Name                string `json:"name"`
			Virtualization      string `json:"virtualization"`
			AdditionalInterface bool   `json:"additional_interface"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.URL != srv.URL || rep.User != "admin@example.com" || rep.LatencyMS <= 0 || len(rep.Clusters) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	kvm, lxd := rep.Clusters[0], rep.Clusters[1]
	if kvm.ID != 1 || kvm.Virtualization != "kvm" || !kvm.AdditionalInterface || lxd.Virtualization != "lxd" || lxd.AdditionalInterface {
		t.Fatalf("clusters = %+v", rep.Clusters)
	}
}

func TestValidateBadCredentials(t *testing.T) {
	srv := validateSim(t)
	out, errOut, code := runCLI(t, "Wrong-Pass-42\n", "validate", "--url", srv.URL, "--user", "admin@example.com")
	if code != exitBadCreds || out != "" {
		t.Fatalf("code %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "email or password") || strings.Contains(errOut, "Wrong-Pass-42") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("stderr %q", errOut)
	}
}

func TestValidateNotAdmin(t *testing.T) {
	srv := validateSim(t)
	admin, err := vmm.New(vmm.Config{URL: srv.URL, Email: "admin@example.com", Password: "demo-password", SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateAccount(context.Background(), "customer@example.com", "customer-pass"); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "customer-pass\n", "validate", "--url", srv.URL, "--user", "customer@example.com")
	if code != exitNotAdmin || !strings.Contains(errOut, "not a VMmanager administrator") || !strings.Contains(errOut, "@admin") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestValidateUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, errOut, code := runCLI(t, "pw\n", "validate", "--url", "http://"+addr, "--user", "admin@example.com")
	if code != exitUnreachable || !strings.Contains(errOut, "refused the connection") {
		t.Fatalf("closed port: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "pw\n", "validate", "--url", "vmmanager.invalid", "--user", "admin@example.com")
	if code != exitUnreachable || !strings.Contains(errOut, "could not be resolved") {
		t.Fatalf("unknown host: code %d, stderr %q", code, errOut)
	}
}

func TestValidateTLS(t *testing.T) {
	srv := quietTLSServer(t, sim.New(sim.Config{Seed: 1}))
	_, errOut, code := runCLI(t, "demo-password\n", "validate", "--url", srv.URL, "--user", "admin@example.com")
	if code != exitUnreachable || !strings.Contains(errOut, "self-signed") || !strings.Contains(errOut, "--insecure") {
		t.Fatalf("self-signed: code %d, stderr %q", code, errOut)
	}
	out, errOut, code := runCLI(t, "demo-password\n", "validate", "--url", srv.URL, "--user", "admin@example.com", "--insecure")
	if code != exitOK || !strings.Contains(out, "kvm-main") {
		t.Fatalf("--insecure: code %d, stderr %q", code, errOut)
	}
}

func TestValidateUsage(t *testing.T) {
	srv := validateSim(t)
	// The password-flag cases omit --url and --user: the refusal comes before anything else is checked.
	cases := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"--password", "s3cr3t-argv"}, "leaks into ps and shell history"},
		{"", []string{"--password=s3cr3t-argv"}, "leaks into ps and shell history"},
		{"", []string{"-p", "s3cr3t-argv"}, "leaks into ps and shell history"},
		{"", []string{"--password"}, "leaks into ps and shell history"},
		{"pw\n", []string{"--user", "admin@example.com"}, "--url is required"},
		{"pw\n", []string{"--url", srv.URL}, "--user is required"},
		{"pw\n", []string{"--url", srv.URL + "/vm/v3", "--user", "admin@example.com"}, "has a path"},
		{"", []string{"--url", srv.URL, "--user", "admin@example.com"}, "no password given"},
		{"pw\n", []string{"--url", srv.URL, "--user", "admin@example.com", "extra"}, "no arguments"},
	}
	for _, tc := range cases {
		args := append([]string{"validate"}, tc.args...)
		out, errOut, code := runCLI(t, tc.stdin, args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want exit 2 saying %q", tc.args, code, out, errOut, tc.want)
		}
		if strings.Contains(errOut, "s3cr3t-argv") {
			t.Errorf("%v: the password from argv was echoed: %q", tc.args, errOut)
		}
	}
}

// quietTLSServer is httptest.NewTLSServer without the log line for each refused handshake.
func quietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestValidateDeepRecord(t *testing.T) {
	srv := httptest.NewServer(sim.New(sim.Config{Seed: 1, History: true}))
	t.Cleanup(srv.Close)
	dir := t.TempDir() + "/answers"
	out, errOut, code := runCLI(t, "demo-password\n", "validate", "--deep", "--json", "--record", dir, "--url", srv.URL, "--user", "admin@example.com")
	if code != exitOK {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var rep vmm.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || len(rep.Probes) < 10 {
		t.Fatalf("--json report %+v, %v", rep, err)
	}
	if !strings.Contains(errOut, "masked answers to "+dir) {
		t.Fatalf("stderr %q", errOut)
	}
	out, errOut, code = runCLI(t, "", "validate", "--replay", dir)
	if code != exitOK || !strings.Contains(out, "clusters") {
		t.Fatalf("--replay of the record: code %d\n%s\n%s", code, out, errOut)
	}
	clusters, _ := filepath.Glob(filepath.Join(dir, "*-clusters.json"))
	b, _ := os.ReadFile(clusters[0])
	if err := os.WriteFile(clusters[0], []byte(strings.ReplaceAll(string(b), "virtualization_type", "virt")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "", "validate", "--replay", dir)
	if code != exitDiffers || !strings.Contains(errOut, "clusters") {
		t.Fatalf("--replay with a renamed field: code %d, %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "demo-password\n", "validate", "--record", dir, "--url", srv.URL, "--user", "admin@example.com")
	if code != exitUsage || !strings.Contains(errOut, "--record needs --deep") {
		t.Fatalf("--record without --deep: code %d, %q", code, errOut)
	}
}

// TestValidateGarbage: an address that answers something other than VMmanager 6 (a web page, a token
// answer with no list after it) exits 1, the documented code, with one sentence saying so.
func TestValidateGarbage(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	t.Cleanup(page.Close)
	_, errOut, code := runCLI(t, "pw\n", "validate", "--url", page.URL, "--user", "admin@example.com")
	if code != exitFailure {
		t.Errorf("a web page: exit %d, want %d", code, exitFailure)
	}
	requireSentence(t, errOut, "not the JSON expected")
}

// TestModuleSpecTooLarge: a spec file over the limit says so, instead of a JSON error about its cut end.
func TestModuleSpecTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(`{"name": "`+strings.Repeat("x", wizard.MaxSpec)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "pw\n", "--db", tempDB(t), "module", "add", "--spec", path)
	if code != exitUsage {
		t.Errorf("an oversized spec: exit %d, want %d", code, exitUsage)
	}
	requireSentence(t, errOut, "larger than")
}
