package cli

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"vmmpm/api"
	"vmmpm/api/apitest"
	"vmmpm/internal/termtest"
	"vmmpm/store"
)

// apiServe is a real `vmmpm serve --listen 127.0.0.1:0` process: where its HTTPS API answers, the
// certificate fingerprint it printed, and a client pinning it whose answers are checked against
// openapi.json.
type apiServe struct {
	*serveProc
	url, fp string
	client  *http.Client
	check   *apitest.Validator
}

var apiLine = regexp.MustCompile(`msg="HTTPS API listening" url=(https://\S+) tls_sha256=(\S+)`)

func startAPIServe(t *testing.T, db, socket string, extra ...string) *apiServe {
	t.Helper()
	args := append([]string{"--db", db, "--socket", socket, "serve", "--listen", "127.0.0.1:0"}, extra...)
	p := &serveProc{t: t, cmd: vmmpmCmd(args...), out: &termtest.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done; p.done <- nil })
	seen := 0
	termtest.Expect(t, p.out, &seen, "server started")
	m := apiLine.FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("serve did not say where the API listens:\n%s", p.out)
	}
	s := &apiServe{serveProc: p, url: m[1], fp: m[2],
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: api.PinnedConfig(m[2])}}}
	s.check = apitest.New(t, api.OpenAPI, s.url)
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// call sends one request and checks the answer against openapi.json.
func (s *apiServe) call(method, path, token, body string, hdr ...string) (int, string, http.Header, error) {
	s.t.Helper()
	var raw []byte
	if body != "" {
		raw = []byte(body)
	}
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, out, err := s.check.Do(s.t, s.client, req, raw)
	if err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode, string(out), resp.Header, nil
}

func (s *apiServe) mustCall(method, path, token, body string, hdr ...string) (int, string, http.Header) {
	s.t.Helper()
	code, out, h, err := s.call(method, path, token, body, hdr...)
	if err != nil {
		s.t.Fatal(err)
	}
	return code, out, h
}

// lastLine is the last line of out: where token add and webhook add put what is shown once.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestServeHTTPSAPI: a real vmmpm serve --listen with TLS and the emulator. A client pinning the
// printed fingerprint is served; one that does not pin it is refused by TLS. status shows the
// fingerprint, a restart keeps the certificate. An operator token (made through the server, printed
// alone on its last line, never on a command line) orders a service twice with one Idempotency-Key:
// one service, whose open job says it was enqueued by the token, and the audit trail names it.
func TestServeHTTPSAPI(t *testing.T) {
	env := newEngineEnv(t, 50*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	srv := startAPIServe(t, env.db, env.socket())
	sock := []string{"--db", env.db, "--socket", env.socket()}

	if code, _, _ := srv.mustCall("GET", "/api/v1/health", "", ""); code != 200 {
		t.Fatalf("health through the pinned client: %d", code)
	}
	unpinned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if _, err := unpinned.Get(srv.url + "/api/v1/health"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not pin the certificate: %v", err)
	}
	if st := mustCLI(t, append(sock, "status")...); !strings.Contains(st, "api:       "+srv.url) || !strings.Contains(st, srv.fp) {
		t.Errorf("status does not show the API and its fingerprint:\n%s", st)
	}
	_, keyPath := api.CertPaths(env.db)
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the certificate's key %s: %v %v", keyPath, fi, err)
	}

	out := mustCLI(t, append(sock, "token", "add", "billing-prod", "--role", "operator")...)
	token := lastLine(out)
	if !strings.HasPrefix(token, "vmmpm_") || strings.Contains(token, " ") || !strings.Contains(out, `added token "billing-prod" (role operator`) {
		t.Fatalf("token add:\n%s", out)
	}
	reader := lastLine(mustCLI(t, append(sock, "token", "add", "dashboard", "--role", "reader", "--expires", "30d")...))

	body := `{"tariff": "small", "client_email": "ann@example.com", "external_id": "whmcs-7"}`
	code1, first, _ := srv.mustCall("POST", "/api/v1/services", token, body, "Idempotency-Key", "order-7")
	code2, again, h2 := srv.mustCall("POST", "/api/v1/services", token, body, "Idempotency-Key", "order-7")
	if code1 != 201 || code2 != 201 || first != again || h2.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("an order sent twice with one key: %d %s / %d %s", code1, first, code2, again)
	}
	if code, out, _ := srv.mustCall("POST", "/api/v1/services", reader, body, "Idempotency-Key", "order-8"); code != 403 {
		t.Errorf("a reader orders: %d %s", code, out)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not so after 30 s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the service is active", func() bool {
		_, out, _ := srv.mustCall("GET", "/api/v1/services?external_id=whmcs-7", reader, "")
		return strings.Contains(out, `"status":"active"`)
	})
	services := decodeJSON[[]store.Service](t, mustCLI(t, append(sock, "service", "list", "--json")...))
	if len(services) != 1 || services[0].ExternalID != "whmcs-7" {
		t.Fatalf("services after the repeated order: %+v", services)
	}
	jobs := decodeJSON[[]store.Job](t, mustCLI(t, append(sock, "jobs", "--json")...))
	if len(jobs) != 1 || jobs[0].By != "token billing-prod" || !strings.Contains(jobs[0].Log[0].Text, "by token billing-prod") {
		t.Errorf("the open job: %+v", jobs)
	}
	trail := mustCLI(t, append(sock, "audit", "--json")...)
	entries := decodeJSON[[]store.AuditEntry](t, trail)
	var ordered, added bool
	for _, e := range entries {
		ordered = ordered || e.Actor == "token billing-prod" && e.Action == "service.create" && e.Outcome == store.AuditOK && !e.At.IsZero()
		added = added || e.Action == "token.add" && e.Via == "socket" && strings.HasPrefix(e.Actor, "uid ")
	}
	if !ordered || !added {
		t.Errorf("the audit trail misses the order or the token:\n%s", trail)
	}
	if !strings.Contains(mustCLI(t, append(sock, "audit", "--actor", "billing-prod")...), "service.create") {
		t.Error("audit --actor billing-prod does not show the order")
	}
	tokens := mustCLI(t, append(sock, "token", "list")...)
	if strings.Contains(tokens, token) || !strings.Contains(tokens, "billing-prod") || !strings.Contains(tokens, "operator") {
		t.Errorf("token list:\n%s", tokens)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", srv.cmd.Process.Pid))
	if bytes.Contains(cmdline, []byte(token)) || strings.Contains(srv.out.String(), token) || strings.Contains(srv.out.String(), reader) {
		t.Error("a token appears in the server's command line or log")
	}
	db, err := os.ReadFile(env.db)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(token)) || bytes.Contains(db, []byte(strings.TrimPrefix(token, "vmmpm_"))) {
		t.Error("the token itself is in the database file")
	}
	mustCLI(t, append(sock, "token", "rm", "billing-prod")...)
	if code, _, _ := srv.mustCall("GET", "/api/v1/services", token, ""); code != 401 {
		t.Errorf("a removed token: %d", code)
	}

	// a restart keeps the certificate: pinned clients go on
	fp := srv.fp
	if n := srv.check.Count(); n < 8 {
		t.Errorf("only %d answers checked", n)
	}
	srv.stop()
	srv = startAPIServe(t, env.db, env.socket())
	if srv.fp != fp {
		t.Errorf("the fingerprint changed across a restart: %s, then %s", fp, srv.fp)
	}
	if code, _, _ := srv.mustCall("GET", "/api/v1/services/1", reader, ""); code != 200 {
		t.Errorf("after the restart: %d", code)
	}
}

// TestServeListenFlags: --no-tls only on loopback, --tls-cert with --tls-key, a certificate given.
func TestServeListenFlags(t *testing.T) {
	db := tempDB(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "0.0.0.0:0", "--no-tls"}, "--no-tls is allowed only on a loopback address"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--tls-cert", "x.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"serve", "--no-tls"}, "go with --listen"},
		{[]string{"serve", "--listen", "nonsense"}, "is not HOST:PORT"},
	} {
		_, errOut, code := runCLI(t, "", append([]string{"--db", db}, c.args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, exitUsage, errOut)
		}
		requireSentence(t, errOut, c.want)
	}
}
