package vmm_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// deepSim is an emulator with history and one live VM, so every probe has something to read.
func deepSim(t *testing.T, quirks ...string) *httptest.Server {
	t.Helper()
	cfg := sim.Config{History: true}
	for _, q := range quirks {
		qq, err := sim.ParseQuirk(q)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Quirks = append(cfg.Quirks, qq)
	}
	_, srv := startSim(t, cfg)
	c := newClient(t, srv.URL, nil)
	if _, err := c.CreateHost(ctxT(t), vmm.HostSpec{Name: "svc-deep", Cluster: 1, OS: 1, Password: "p", CPU: 1,
		RAMMiB: 512, DiskMiB: 5120, IPv4Count: 1}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func probeNames(r vmm.Report) []string {
	var out []string
	for _, p := range r.Probes {
		out = append(out, p.Name)
	}
	return out
}

func TestDeepCheckEmulatorPasses(t *testing.T) {
	srv := deepSim(t)
	rep, err := vmm.DeepCheck(ctxT(t), newClient(t, srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Differs()) != 0 {
		t.Fatalf("emulator differs from what vmmpm expects: %+v", rep.Probes)
	}
	want := []string{"login", "refused login", "refused token", "account by email", "clusters", "OS list", "recipes", "IP pools per cluster interface",
		"host list with ip4/ip6", "host by id and by name", "host list whole per cluster", "task list", "task names", "task by consul id", "error body"}
	if got := probeNames(rep); !slices.Equal(got, want) {
		t.Fatalf("probes %v, want %v", got, want)
	}
	for _, p := range rep.Probes {
		if p.Result != vmm.ResultOK || !p.OK {
			t.Errorf("probe %s is %s against an emulator with history and a VM: %s", p.Name, p.Result, p.Seen)
		}
	}
	if rep.Counts != (vmm.Counts{OK: len(want)}) {
		t.Errorf("counts %+v", rep.Counts)
	}
}

// The deep check reads types, not only presence: a field of another type than the client reads is a
// mismatch naming the field and what came, and the sentence for the admin check names a missing roles.
func TestDeepCheckTypes(t *testing.T) {
	srv := deepSim(t)
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		srv.Config.Handler.ServeHTTP(rec, r)
		body := rec.Body.String()
		if r.URL.Path == "/vm/v3/host" {
			body = strings.ReplaceAll(body, `"cpu_number":1`, `"cpu_number":"one"`)
			body = strings.ReplaceAll(body, `"interface":0`, `"interface":true`)
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(h.Close)
	rep, err := vmm.DeepCheck(ctxT(t), newClient(t, h.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.Probes, func(p vmm.Probe) bool { return p.Name == "host list with ip4/ip6" })
	seen := rep.Probes[i].Seen
	for _, want := range []string{`has cpu_number as a string ("one"), where vmmpm reads a number`, "ip4[0].interface as a boolean (true), where vmmpm reads a number or a string"} {
		if rep.Probes[i].Result != vmm.ResultMismatch || !strings.Contains(seen, want) {
			t.Errorf("host probe %s: %q lacks %q", rep.Probes[i].Result, seen, want)
		}
	}
}

// A field the engine reads renamed in a recorded answer, or a task filed under another name, is a
// difference the check names.
func TestDeepCheckNamesTheProbeThatDiffers(t *testing.T) {
	for quirk, probe := range map[string]string{
		"field:virtualization_type=virt": "clusters",
		"field:consul_id=consulid":       "task list",
		"task:host_create=vm_create":     "task names",
		"field:ip4=ipv4":                 "host list with ip4/ip6",
		"field:msg=message":              "error body",
	} {
		srv := deepSim(t, quirk)
		rep, err := vmm.DeepCheck(ctxT(t), newClient(t, srv.URL, nil))
		if err != nil {
			t.Fatalf("%s: %v", quirk, err)
		}
		if rep.OK || !slices.Contains(rep.Differs(), probe) {
			t.Errorf("quirk %s: differs %v, want %s among them", quirk, rep.Differs(), probe)
		}
	}
}

func TestDeepCheckRecordAndReplay(t *testing.T) {
	srv := deepSim(t)
	rep, err := vmm.DeepCheck(ctxT(t), newClient(t, srv.URL, nil))
	if err != nil || !rep.OK {
		t.Fatalf("live check: %v %+v", err, rep.Probes)
	}
	dir := filepath.Join(t.TempDir(), "answers")
	if err := vmm.WriteRecord(dir, rep.Answers); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != len(rep.Answers) || len(files) < 10 {
		t.Fatalf("%d files for %d answers", len(files), len(rep.Answers))
	}
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	for _, secret := range []string{adminEmail, adminPass, "203.0.113.", "10.10.0."} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("the recording holds %q", secret)
		}
	}
	if !strings.Contains(all.String(), `"token": "***"`) {
		t.Fatalf("the token is not masked in the recording")
	}

	replay := func() vmm.Report {
		t.Helper()
		h, err := vmm.Replay(dir)
		if err != nil {
			t.Fatal(err)
		}
		rs := httptest.NewServer(h)
		defer rs.Close()
		c := newClient(t, rs.URL, func(c *vmm.Config) { c.Email = "user@example.invalid" })
		rep, err := vmm.DeepCheck(ctxT(t), c)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if r := replay(); !r.OK {
		t.Fatalf("the masked recording no longer passes: %v", r.Differs())
	}
	clusters, _ := filepath.Glob(filepath.Join(dir, "*-clusters.json"))
	b, _ := os.ReadFile(clusters[0])
	if err := os.WriteFile(clusters[0], []byte(strings.ReplaceAll(string(b), "virtualization_type", "virt_type")), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := replay(); r.OK || !slices.Equal(r.Differs(), []string{"clusters"}) {
		t.Fatalf("renamed field in the recording: differs %v, want [clusters]", r.Differs())
	}
}

func TestMask(t *testing.T) {
	got := string(vmm.Mask([]byte(`{"token":"7-abc","password":"pw","email":"a.b+c@corp.example.com","roles":["@admin"],
		"ip4":[{"ip":"203.0.113.7"}],"ip6":[{"ip":"2a01:4f8::1"}],"msg":"VM at 10.1.2.3 owned by x@y.org","id":5}`)))
	for _, leak := range []string{"7-abc", `"pw"`, "corp.example.com", "203.0.113.7", "2a01:4f8::1", "10.1.2.3", "x@y.org"} {
		if strings.Contains(got, leak) {
			t.Errorf("masked answer still holds %s: %s", leak, got)
		}
	}
	for _, keep := range []string{`"@admin"`, `"id":5`, `"ip":"192.0.2.0"`} {
		if !strings.Contains(got, keep) {
			t.Errorf("masked answer lost %s: %s", keep, got)
		}
	}
}

// FuzzMask: a masked answer is always valid JSON and never holds an email or IPv4 address it was given.
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		`{"token":"7-abc","list":[{"email":"a@b.example","ip4":[{"ip":"203.0.113.7","interface":"0"}]}]}`,
		`{"error":{"code":1001,"msg":"wrong password for admin@example.com from 10.0.0.1"}}`,
		`<html>502 at 192.168.1.1</html>`, ``, `null`, `{"owner@corp.example.com":{"10.1.1.1":true}}`, `[1,"x",{"password":["a"]}]`, `{"ip6":[{"ip":"2a01:4f8::1"}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		out := vmm.Mask([]byte(body))
		if !json.Valid(out) {
			t.Fatalf("Mask(%q) = %q, not JSON", body, out)
		}
		// Compared as whole matches: "0.0.0.1" inside "A00.0.0.10" is no address, masked or not.
		left := map[string]bool{}
		for _, e := range emailOrIPv4.FindAllString(string(out), -1) {
			left[e] = true
		}
		for _, e := range emailOrIPv4.FindAllString(body, -1) {
			if e != "user@example.invalid" && e != "192.0.2.0" && !strings.HasSuffix(e, "@example.invalid") && left[e] {
				t.Fatalf("Mask(%q) kept %q: %s", body, e, out)
			}
		}
	})
}

var emailOrIPv4 = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}|\b(?:\d{1,3}\.){3}\d{1,3}\b`)
