package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/internal/termtest"
)

// simWaitLines waits until out holds n complete lines and returns them.
func simWaitLines(t *testing.T, out *termtest.SyncBuffer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s := out.String(); strings.Count(s, "\n") >= n {
			return strings.Split(strings.TrimRight(s, "\n"), "\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %d lines within 10s: %q", n, out.String())
	return nil
}

// startSim runs `vmmpm sim ARGS` in-process under ctx and returns the base URL from the first line.
func startSim(t *testing.T, stdin string, args ...string) (base string, out, errOut *termtest.SyncBuffer, stop func() error) {
	t.Helper()
	out, errOut = &termtest.SyncBuffer{}, &termtest.SyncBuffer{}
	a := &app{stdin: strings.NewReader(stdin), stdout: out, stderr: errOut}
	root := newRootCmd(a)
	root.SetArgs(append([]string{"sim"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	first := simWaitLines(t, out, 1)[0]
	base, ok := strings.CutPrefix(first, "listening on ")
	if !ok {
		cancel()
		t.Fatalf("first line %q", first)
	}
	return base, out, errOut, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("vmmpm sim did not stop")
			return nil
		}
	}
}

func simLogin(t *testing.T, client *http.Client, base, password string) int {
	t.Helper()
	body := `{"email":"admin@example.com","password":"` + password + `"}`
	resp, err := client.Post(base+"/auth/v4/public/token", "", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func simStats(t *testing.T, client *http.Client, base string) map[string]any {
	t.Helper()
	resp, err := client.Get(base + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSimCommandServesWithDemoPassword(t *testing.T) {
	base, out, errOut, stop := startSim(t, "", "--task-time", "0")
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base %q", base)
	}
	lines := simWaitLines(t, out, 2)
	if lines[1] != "admin login admin@example.com password demo-password" {
		t.Fatalf("second line %q", lines[1])
	}
	if code := simLogin(t, http.DefaultClient, base, "demo-password"); code != http.StatusCreated {
		t.Fatalf("login: %d", code)
	}
	if st := simStats(t, http.DefaultClient, base); st["logins_ok"] != 1.0 {
		t.Fatalf("stats %v", st)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if errOut.String() != "" {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestSimCommandPasswordFromFileOrStdin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("file-pass-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ stdin, flag, pw string }{
		{"", file, "file-pass-1"},
		{"stdin-pass-2\r\nignored\n", "-", "stdin-pass-2"},
	} {
		base, out, _, stop := startSim(t, c.stdin, "--admin-password-file", c.flag)
		if code := simLogin(t, http.DefaultClient, base, "demo-password"); code != http.StatusUnauthorized {
			t.Errorf("%s: default password gave %d, want 401", c.flag, code)
		}
		if code := simLogin(t, http.DefaultClient, base, c.pw); code != http.StatusCreated {
			t.Errorf("%s: password %q gave %d, want 201", c.flag, c.pw, code)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if s := out.String(); strings.Count(s, "\n") != 1 || strings.Contains(s, c.pw) {
			t.Errorf("%s: output %q should be the address line only", c.flag, s)
		}
	}
}

func TestSimCommandTLS(t *testing.T) {
	base, _, _, stop := startSim(t, "", "--tls")
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("base %q", base)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/sim/stats"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("verifying client: %v, want a certificate error", err)
	}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if code := simLogin(t, insecure, base, "demo-password"); code != http.StatusCreated {
		t.Fatalf("login over TLS: %d", code)
	}
}

// TestSimCommandStopsOnSIGTERM sends a real SIGTERM to this process; the command has registered for it
// before it prints its first line, so only the command sees it.
func TestSimCommandStopsOnSIGTERM(t *testing.T) {
	out := &termtest.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Run([]string{"sim"}, strings.NewReader(""), out, &termtest.SyncBuffer{}) }()
	base := strings.TrimPrefix(simWaitLines(t, out, 1)[0], "listening on ")
	if st := simStats(t, http.DefaultClient, base); st["requests"] == nil {
		t.Fatalf("stats %v", st)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code %d after SIGTERM, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("vmmpm sim still running 10s after SIGTERM")
	}
}

func TestSimCommandUsageErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"sim", "--fail-rate", "1.5"},
		{"sim", "--sleep-every", "-1"},
		{"sim", "--sleep-burst", "0"},
		{"sim", "--token-ttl", "0s"},
		{"sim", "--task-time", "-1s"},
		{"sim", "--ipv4-pool-size", "0"},
		{"sim", "--quirk", "rename:a=b"},
		{"sim", "--quirk", "field:a"},
		{"sim", "--admin-password-file", empty},
		{"sim", "--admin-password-file", filepath.Join(t.TempDir(), "missing")},
		{"sim", "extra-arg"},
		{"sim", "--no-such-flag"},
	} {
		_, stderr, code := runCLI(t, "", args...)
		if code != exitUsage || !strings.HasPrefix(stderr, "vmmpm: ") {
			t.Errorf("%v: code %d stderr %q, want %d", args, code, stderr, exitUsage)
		}
	}
	_, stderr, code := runCLI(t, "", "sim", "--listen", "127.0.0.1:99999")
	if code != exitFailure || !strings.Contains(stderr, "cannot listen") {
		t.Errorf("bad --listen: code %d stderr %q", code, stderr)
	}
}

func TestIsLoopbackListen(t *testing.T) {
	for listen, want := range map[string]bool{
		"127.0.0.1:0": true, "127.0.0.2:8080": true, "[::1]:0": true, "localhost:9000": true,
		":0": false, "0.0.0.0:80": false, "[::]:0": false, "192.0.2.4:80": false, "example.com:80": false, "nonsense": false,
	} {
		if got := isLoopbackListen(listen); got != want {
			t.Errorf("%s: %v, want %v", listen, got, want)
		}
	}
}

// The "done when": validate --deep against vmmpm sim is all ok (exit 0); against a sim with a
// quirk it names the probe that differs and exits 6.
func TestValidateDeepAgainstSimCommand(t *testing.T) {
	base, _, _, stop := startSim(t, "", "--task-time", "0")
	out, errOut, code := runCLI(t, "demo-password\n", "validate", "--deep", "--url", base, "--user", "admin@example.com")
	if code != exitOK || strings.Contains(out, "mismatch\n") || !strings.Contains(out, "task names") {
		t.Fatalf("plain sim: code %d\n%s\n%s", code, out, errOut)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for quirk, probe := range map[string]string{"task:host_create=vm_create": "task names", "field:virtualization_type=virt": "clusters"} {
		base, _, _, stop := startSim(t, "", "--task-time", "0", "--quirk", quirk)
		out, errOut, code := runCLI(t, "demo-password\n", "validate", "--deep", "--url", base, "--user", "admin@example.com")
		if code != exitDiffers || !strings.Contains(errOut, probe) {
			t.Errorf("%s: code %d, stderr %q", quirk, code, errOut)
		}
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, probe+" ") {
				line = l
			}
		}
		if !strings.HasSuffix(strings.TrimSpace(line), "mismatch") {
			t.Errorf("%s: the %s row does not say mismatch:\n%s", quirk, probe, out)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSimCommandPoolSize(t *testing.T) {
	base, _, _, stop := startSim(t, "", "--ipv4-pool-size", "300")
	defer func() { _ = stop() }()
	tok := simToken(t, base)
	req, _ := http.NewRequest(http.MethodGet, base+"/vm/v3/ippool", nil)
	req.Header.Set("x-xsrf-token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		List []struct {
			IPv4 struct{ Total int } `json:"ipv4"`
		} `json:"list"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil || len(l.List) != 3 || l.List[0].IPv4.Total != 300 {
		t.Fatalf("pools %+v, %v; want 3 of 300 addresses", l, err)
	}
}

func simToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/auth/v4/public/token", "", strings.NewReader(`{"email":"admin@example.com","password":"demo-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("login: %v", err)
	}
	return tok.Token
}

// TestSimSeedVMs: --seed-vms starts the emulator with VMs nobody ordered, and a control call deletes
// one behind vmmpm's back with one plain POST.
func TestSimSeedVMs(t *testing.T) {
	base, _, _, stop := startSim(t, "", "--seed-vms", "7", "--task-time", "0s")
	defer stop()
	client := &http.Client{}
	resp, err := client.Post(base+"/sim/vm/3/delete", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %s", resp.Status)
	}
	body := `{"email":"admin@example.com","password":"demo-password"}`
	resp, err = client.Post(base+"/auth/v4/public/token", "", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/vm/v3/host", nil)
	req.Header.Set("x-xsrf-token", tok.Token)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct {
		List []map[string]any `json:"list"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	// --history (on by default) adds a deleted VM 1, so the seeded ones are 2-8 and 3 is gone.
	if len(l.List) != 6 {
		t.Fatalf("%d VMs listed, want 6 of the 7 seeded", len(l.List))
	}
}
