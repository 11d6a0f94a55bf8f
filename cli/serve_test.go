package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/queue"
	"vmmpm/server"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// serveProc is a real `vmmpm serve` process on a socket in the test's folder.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *termtest.SyncBuffer
	done chan error
}

func (env *engineEnv) socket() string {
	return filepath.Join(filepath.Dir(env.db), "s.sock")
}

// startServe starts the server and waits until it answers.
func (env *engineEnv) startServe() *serveProc {
	env.t.Helper()
	return startServe(env.t, env.db, env.socket())
}

func startServe(t *testing.T, db, socket string, flags ...string) *serveProc {
	t.Helper()
	return runServe(t, vmmpmCmd(append([]string{"--db", db, "--socket", socket, "serve"}, flags...)...))
}

// stop sends SIGTERM and returns how long the server took to exit.
func (p *serveProc) stop() time.Duration {
	p.t.Helper()
	began := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			p.t.Errorf("serve exited with %v after SIGTERM; output:\n%s", err, p.out)
		}
	case <-time.After(10 * time.Second):
		p.t.Fatal("serve did not stop 10 s after SIGTERM")
	}
	return time.Since(began)
}

// client is a Backend over the test server's socket.
func (env *engineEnv) client() *server.Client {
	c := server.NewClient(env.socket(), version)
	env.t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitJobs follows events until every job is finished, and returns the jobs.
func waitJobs(t *testing.T, b backend.Backend, want int) []*store.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var jobs []*store.Job
		jl, err := b.Jobs(context.Background(), backend.JobQuery{})
		if err == nil {
			jobs = jl.Jobs
		}
		if err == nil && len(jobs) >= want && allFinished(jobs) {
			return jobs
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not finish: %d jobs, last error %v", len(jobs), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func allFinished(jobs []*store.Job) bool {
	for _, j := range jobs {
		if !store.Finished(j.State) {
			return false
		}
	}
	return true
}

func noVMTwice(t *testing.T, env *engineEnv) {
	t.Helper()
	for name, n := range env.sim.Stats().HostsCreated {
		if n != 1 {
			t.Errorf("VM %s was created %d times", name, n)
		}
	}
}

// TestServeClientsAndATUI: commands through a real server give the output they give directly; two
// clients watch; a TUI in a real terminal attaches, shows a job a command enqueued from another shell,
// and quitting it leaves the run going to completion.
func TestServeClientsAndATUI(t *testing.T) {
	env := newEngineEnv(t, 300*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	srv := env.startServe()
	sock := []string{"--db", env.db, "--socket", env.socket()}

	out := mustCLI(t, append(sock, "service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "4")...)
	if !strings.Contains(out, "the vmmpm server (pid") {
		t.Errorf("service create through the server does not say the server runs the jobs:\n%s", out)
	}
	_, errOut, code := runCLI(t, "", append(sock, "engine", "--until-idle")...)
	if code != exitFailure || !strings.Contains(errOut, "already runs the engine") {
		t.Errorf("engine beside a server: exit %d, %q", code, errOut)
	}
	// Listing through the server prints what a direct read prints.
	viaServer := mustCLI(t, append(sock, "datacenter", "list", "--json")...)
	if !strings.Contains(viaServer, `"name": "DC One"`) {
		t.Errorf("datacenter list through the server:\n%s", viaServer)
	}
	// Refusals keep their sentence and exit code across the socket.
	_, errOut, code = runCLI(t, "", append(sock, "datacenter", "add", "dc one")...)
	if code != exitUsage {
		t.Errorf("duplicate data center through the server: exit %d, want %d", code, exitUsage)
	}
	requireSentence(t, errOut, "must be unique")
	_, errOut, code = runCLI(t, "", append(sock, "jobs", "cancel", "999")...)
	if code != exitUsage {
		t.Errorf("cancel of an unknown job through the server: exit %d, want %d (%s)", code, exitUsage, errOut)
	}

	// Two watchers see the same events.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w1, err := env.client().Events(ctx, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := env.client().Events(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}

	tui := env.startTUI()
	expect := func(text string) { t.Helper(); tui.expect(text) }
	expect("attached to pid")
	tui.key("3")
	expect("QUEUE KEY")

	waitJobs(t, env.client(), 4)
	out = mustCLI(t, append(sock, "service", "suspend", "1")...)
	if !strings.Contains(out, "queued suspend of service 1") {
		t.Fatalf("service suspend: %s", out)
	}
	expect("suspend")
	tui.quit()
	jobs := waitJobs(t, env.client(), 5)
	for _, j := range jobs {
		if j.State != store.JobDone {
			t.Errorf("job %d (%s) ended %s", j.ID, j.Type, j.State)
		}
	}
	// The full watcher sees the suspend finish; the light one a notice covering it.
	var doneSeq uint64
	for doneSeq == 0 {
		select {
		case ev := <-w1:
			if ev.Kind == queue.JobChanged && ev.Job.Type == store.OpSuspend && ev.Job.State == store.JobDone {
				doneSeq = ev.Seq
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the full watcher did not see the suspend finish")
		}
	}
	for covered := false; !covered; {
		select {
		case ev := <-w2:
			if ev.Job != nil {
				t.Fatalf("a light stream carried a job: %+v", ev)
			}
			covered = ev.Seq >= doneSeq
		case <-time.After(10 * time.Second):
			t.Fatal("the light watcher saw nothing up to the suspend's finish")
		}
	}
	noVMTwice(t, env)
	if d := srv.stop(); d > 5*time.Second {
		t.Errorf("serve took %s to stop, want under 5 s", d)
	}
	if _, err := os.Stat(env.socket()); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after the server stopped: %v", err)
	}
	// Without a server, commands open the database themselves again.
	if out := mustCLI(t, append(sock, "status")...); !strings.Contains(out, "server:    not running") {
		t.Errorf("status without a server:\n%s", out)
	}
}

// startTUI is vmmpm's TUI attached to the test's server, in a 120×40 pseudo-terminal.
func (env *engineEnv) startTUI() *tui {
	env.t.Helper()
	cmd := vmmpmCmd("--db", env.db, "--socket", env.socket())
	cmd.Env = append(cmd.Env, "NO_COLOR=1")
	return runInPTY(env.t, 120, 40, cmd)
}

// TestServeTUIReattaches: the server stops under an attached TUI, which says so within a second,
// keeps its picture and attaches to the restarted server by itself.
func TestServeTUIReattaches(t *testing.T) {
	env := newEngineEnv(t, 0)
	srv := env.startServe()
	tui := env.startTUI()
	tui.expect(fmt.Sprintf("attached to pid %d", srv.cmd.Process.Pid))
	srv.stop()
	stopped := time.Now()
	tui.expect("server GONE")
	if d := time.Since(stopped); d > time.Second {
		t.Errorf("the TUI said the server was gone after %s, want within 1 s", d)
	}
	srv = env.startServe()
	tui.expect(fmt.Sprintf("attached to pid %d", srv.cmd.Process.Pid))
	tui.quit()
}

// TestServeKilledAndRestarted: SIGKILL the server mid-run; a client that keeps following reattaches
// to the restarted server, sees event numbers go on without a step back or a repeat, and every job
// ends done with no VM created twice.
func TestServeKilledAndRestarted(t *testing.T) {
	env := newEngineEnv(t, 200*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	srv := env.startServe()
	c := env.client()
	if _, err := c.CreateServices(context.Background(), "1", 12, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	resets := 0
	follow := func(ctx context.Context, until func() bool) {
		for !until() {
			last := uint64(0)
			if n := len(seqs); n > 0 {
				last = seqs[n-1]
			}
			evs, err := c.Events(ctx, last, false)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for ev := range evs {
				if ev.Reset {
					resets++
				}
				seqs = append(seqs, ev.Seq)
				if until() {
					return
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	follow(ctx, func() bool { return len(seqs) >= 10 })
	_ = srv.cmd.Process.Kill()
	<-srv.done
	srv.done <- nil
	env.startServe()
	follow(ctx, func() bool {
		jl, err := c.Jobs(ctx, backend.JobQuery{})
		return err == nil && len(jl.Jobs) == 12 && allFinished(jl.Jobs) || ctx.Err() != nil
	})
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("event %d has seq %d after %d: a repeat or a step back across the restart", i, seqs[i], seqs[i-1])
		}
	}
	for _, j := range waitJobs(t, c, 12) {
		if j.State != store.JobDone {
			t.Errorf("job %d ended %s", j.ID, j.State)
		}
	}
	noVMTwice(t, env)
	t.Logf("%d events, %d resets", len(seqs), resets)
}

// TestServeRefusesAnotherUser: the socket is opened to everyone on purpose; the peer check alone must
// turn a client running as nobody away with its sentence (CI runs as root, so it can switch user).
func TestServeRefusesAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	env := newEngineEnv(t, 0)
	env.startServe()
	if err := os.Chmod(env.socket(), 0o777); err != nil {
		t.Fatal(err)
	}
	// Let nobody reach the socket (the test's own folders only): the peer check alone stands in the way.
	for dir := filepath.Dir(env.socket()); strings.HasPrefix(dir, os.TempDir()+"/"); dir = filepath.Dir(dir) {
		_ = os.Chmod(dir, 0o755)
	}
	bin := filepath.Join(t.TempDir(), "vmmpm")
	if err := exec.Command("go", "build", "-o", bin, "vmmpm").Run(); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(filepath.Dir(bin), 0o755)
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin,
		"--db", env.db, "--socket", env.socket(), "status")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "serves only user 0") {
		t.Fatalf("a client running as nobody: err %v, output %q; want the peer refusal", err, out)
	}
}

// TestServeBadInput: malformed JSON, unknown calls and fields, oversized bodies, a wrong version, a
// client that leaves mid-stream and a flood each get their answer, and the server keeps serving.
func TestServeBadInput(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.startServe()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", env.socket())
	}}}
	post := func(path, body, ver string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://vmmpm"+path, strings.NewReader(body))
		req.Header.Set("X-Vmmpm-Version", ver)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name, path, body, ver string
		status                int
		says                  string
	}{
		{"malformed JSON", "/v1/get", `{"kind":`, version, 400, "not valid JSON"},
		{"unknown field", "/v1/get", `{"kind":"modules","id":1,"extra":true}`, version, 400, "unknown field"},
		{"unknown call", "/v1/format_disk", `{}`, version, 404, "has no call"},
		{"too large", "/v1/close_tasks", `{"ids":[` + strings.Repeat("1,", server.MaxBody) + `1]}`, version, 413, "larger than"},
		{"other version", "/v1/hello", `{}`, "9.9.9", 409, "use the same version"},
		{"unknown kind", "/v1/list", `{"kind":"passwords"}`, version, 422, "not a kind of record"},
	}
	for _, c := range cases {
		status, body := post(c.path, c.body, c.ver)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, status, body, c.status, c.says)
		}
	}
	// A stream abandoned mid-way.
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := env.client().Events(ctx, 0, false); err != nil {
		t.Fatal(err)
	}
	cancel()
	// A flood: many calls at once; each is answered (200 or 429), none hangs.
	errs := make(chan error, 300)
	for i := 0; i < 300; i++ {
		go func() {
			status, _ := post("/v1/jobs_view", `{"limit": 20}`, version)
			if status != 200 && status != 429 {
				errs <- fmt.Errorf("flood call answered %d", status)
				return
			}
			errs <- nil
		}()
	}
	for i := 0; i < 300; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// Still serving everyone else.
	if out := mustCLI(t, "--db", env.db, "--socket", env.socket(), "datacenter", "list"); !strings.Contains(out, "DC One") {
		t.Errorf("after the bad input the server no longer answers:\n%s", out)
	}
}

// TestModuleThroughServer: the Add flow and the password commands through a server: the same output and
// exit codes, the password written to the keyring by the server, and nowhere in its log, the database
// or any error text.
func TestModuleThroughServer(t *testing.T) {
	e := newModuleEnv(t)
	sock := filepath.Join(filepath.Dir(e.db), "s.sock")
	srv := startServe(t, e.db, sock)
	t.Setenv("VMMPM_SOCKET", sock)
	out := e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	if !strings.Contains(out, `added module "KVM one" with id 1`) {
		t.Fatalf("add through the server said %q", out)
	}
	if pw, err := e.keyring(1); err != nil || pw != modulePassword {
		t.Fatalf("keyring after an add through the server: %q %v", pw, err)
	}
	e.refuse(exitBadCreds, "not-the-password\n", []string{"module", "password", "1"}, "refused the email or password")
	if pw, _ := e.keyring(1); pw != modulePassword {
		t.Fatal("a refused password replaced the stored one")
	}
	e.ok(modulePassword+"\n", "module", "password", "1")
	if out := e.ok("", "module", "check", "1"); !strings.Contains(out, "is there") {
		t.Errorf("module check through the server: %q", out)
	}
	e.refuse(exitUsage, "", []string{"module", "check", "9"}, "there is no module 9")
	srv.stop()
	raw, err := os.ReadFile(e.db)
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"the server's log": srv.out.String(), "the database": string(raw),
		"the commands' output": e.out.String()} {
		if strings.Contains(text, modulePassword) || strings.Contains(text, "not-the-password") {
			t.Errorf("a password shows in %s", what)
		}
	}
}

// TestCommandsSameThroughServer runs one script of commands twice, on two fresh databases against one
// emulator: directly, and through a server. Every line printed, on stdout and stderr, and every exit
// code must be the same (times aside).
func TestCommandsSameThroughServer(t *testing.T) {
	t.Setenv("VMMPM_KEYRING_SERVICE", fmt.Sprintf("vmmpm-test-same-%d-%d", os.Getpid(), time.Now().UnixNano()))
	dir := t.TempDir()
	// Each run gets its own emulator, so VM and task ids match; its URL is written as SIM.
	prepare := func(name string) (specs [2]string, url string) {
		vm := httptest.NewServer(sim.New(sim.Config{TaskTime: 0}))
		t.Cleanup(vm.Close)
		specs = [2]string{filepath.Join(dir, name+"-module.json"), filepath.Join(dir, name+"-tariff.json")}
		mustWrite(t, specs[0], `{"product_type": "vps", "module": "vmmanager6", "url": "`+vm.URL+`", "username": "admin@example.com",
			"datacenter": "DC One", "department": "Support", "name": "KVM", "cluster": "kvm-main",
			"params": {"session_ttl": 3600, "queue": true, "queue_key": "q-__PMID__", "queue_count": 1}}`)
		mustWrite(t, specs[1], `{"name": "small", "datacenter": "DC One", "modules": [1], "cpu": 1, "ram_mib": 1024,
			"disk_mib": 10240, "os_id": 1, "ipv4_count": 1}`)
		return specs, vm.URL
	}
	const spec, tariff = "MODULE_SPEC", "TARIFF_SPEC"
	script := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"datacenter", "add", "DC One"}},
		{"", []string{"datacenter", "add", "Partner", "--external-id", "ext-1"}},
		{"", []string{"datacenter", "add", "dc one"}},
		{"", []string{"department", "add", "Support"}},
		{"", []string{"datacenter", "list", "--json"}},
		{modulePassword + "\n", []string{"module", "add", "--spec", spec}},
		{modulePassword + "\n", []string{"module", "add", "--spec", spec}},
		{"", []string{"department", "edit", "1", "--name", "Support team"}},
		{"", []string{"department", "edit", "7", "--name", "x"}},
		{"wrong\n", []string{"module", "password", "1"}},
		{"", []string{"module", "list"}},
		{"", []string{"module", "show", "1", "--json"}},
		{"", []string{"module", "set", "1", "queue_key=vmm-__PMID__", "session_ttl=600"}},
		{"", []string{"module", "set", "1", "queue_key=bad key"}},
		{"", []string{"tariff", "add", "--spec", tariff}},
		{"", []string{"tariff", "list", "--json"}},
		{"", []string{"service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "2"}},
		{"", []string{"service", "create", "--client", "client@example.com", "--tariff", "nope"}},
		{"idle", nil}, // every job done: the engine here, or the server's
		{"", []string{"service", "list", "--json"}},
		{"", []string{"service", "suspend", "99"}},
		{"", []string{"jobs", "--json"}},
		{"", []string{"jobs", "--module", "5"}},
		{"", []string{"jobs", "cancel", "2"}},
		{"", []string{"jobs", "retry", "1"}},
		{"", []string{"tasks", "--json"}},
		{"", []string{"tasks", "close", "3"}},
		{"", []string{"datacenter", "rm", "1"}},
		{"", []string{"module", "rm", "1"}},
	}
	run := func(name, db string, socket []string) []string {
		specs, url := prepare(name)
		var got []string
		for _, s := range script {
			if s.stdin == "idle" {
				if socket == nil {
					mustCLI(t, "--db", db, "engine", "--until-idle")
				} else {
					waitJobs(t, server.NewClient(socket[1], version), 2)
				}
				continue
			}
			args := strings.NewReplacer(spec, specs[0], tariff, specs[1]).Replace(strings.Join(s.args, "\x00"))
			out, errOut, code := runCLI(t, s.stdin, append(append([]string{"--db", db}, socket...), strings.Split(args, "\x00")...)...)
			text := fmt.Sprintf("$ %s\nexit %d\n%s%s", strings.Join(s.args, " "), code, out, errOut)
			got = append(got, strings.ReplaceAll(text, url, "SIM"))
		}
		return got
	}
	direct := run("direct", filepath.Join(dir, "direct.db"), nil)
	servedDB := filepath.Join(dir, "served.db")
	sock := filepath.Join(dir, "s.sock")
	startServe(t, servedDB, sock).stop() // serve creates the database, as a first start would
	startServe(t, servedDB, sock)
	served := run("served", servedDB, []string{"--socket", sock})
	// Times differ, and where the queued operations will run is said as it is.
	// (Minutes-only stamps too: module list's LAST CHECK, which a minute rolling over would change.)
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?|"(enqueued|started|finished|updated|created)_at": "[^"]*"|open operations are queued; .*`)
	for i := range direct {
		d, s := stamp.ReplaceAllString(direct[i], "TIME"), stamp.ReplaceAllString(served[i], "TIME")
		if d != s {
			t.Errorf("through the server the output differs:\n--- direct\n%s\n--- served\n%s", d, s)
		}
	}
}

func mustWrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeTwoTUIs: two TUIs attached to one server show the same jobs, and a job cancelled in one
// shows as cancelled in the other (the time it took is logged; the bound here is loose for a loaded CI).
func TestServeTwoTUIs(t *testing.T) {
	env := newEngineEnv(t, time.Minute) // opens stay running, so the newest ones stay queued
	env.cli("tariff", "add", "--spec", env.spec)
	env.startServe()
	if _, err := env.client().CreateServices(context.Background(), "1", 4, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	a, b := env.startTUI(), env.startTUI()
	for _, tui := range []*tui{a, b} {
		tui.expect("attached to pid")
		tui.key("3")
		// Job 4's row, not just "queued": the help bar's "c cancel queued" shows before the page is read,
		// and a c pressed then has no job to cancel.
		tui.expect("enqueued on q-1-2") // job 4 waits behind job 2 on its lane
	}
	a.key("c")
	a.expect("Cancel job 4 (open of service 4)?")
	a.key("y")
	asked := time.Now()
	b.expect("cancelled")
	t.Logf("a cancel in one TUI showed in the other after %s", time.Since(asked))
	if d := time.Since(asked); d > 3*time.Second {
		t.Errorf("the other TUI showed the cancel after %s", d)
	}
	j, err := backend.Load[store.Job](context.Background(), env.client(), 4)
	if err != nil || j.State != store.JobCancelled {
		t.Fatalf("job 4: %v %v, want cancelled", j, err)
	}
	a.quit()
	b.quit()
}

// TestServeRecordsWhoActed: a job queued through the server names its caller as the kernel gives it
// (the socket's peer uid), in the job and its log, and the server's log names the caller of each call
// that changes something; a job queued without a server names this process's user the same way.
func TestServeRecordsWhoActed(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	me := backend.UserCaller(os.Getuid(), backend.ViaSocket).String()
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small")
	srv := env.startServe()
	env.cli("--socket", env.socket(), "service", "create", "--client", "client@example.com", "--tariff", "small")
	jobs := waitJobs(t, env.client(), 2)
	for _, j := range jobs {
		if j.By != me || !strings.Contains(j.Log[0].Text, "by "+me) {
			t.Errorf("job %d: by %q, first log line %q; want %q", j.ID, j.By, j.Log[0].Text, me)
		}
	}
	seen := 0
	termtest.Expect(t, srv.out, &seen, `msg=call name=create_services by="`+me+`"`)
	if strings.Contains(srv.out.String(), "name=jobs_view") || strings.Contains(srv.out.String(), "name=hello") {
		t.Errorf("the server's log names calls that change nothing:\n%s", srv.out)
	}
}

// TestServeStoppedIsNoticed: a server stopped with SIGSTOP keeps its socket but answers nothing; an
// attached TUI says so within 5 s, a command gives up within 10 s with one sentence, and after SIGCONT
// both carry on.
func TestServeStoppedIsNoticed(t *testing.T) {
	env := newEngineEnv(t, 0)
	srv := env.startServe()
	tui := env.startTUI()
	pid := srv.cmd.Process.Pid
	tui.expect(fmt.Sprintf("attached to pid %d", pid))
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.cmd.Process.Signal(syscall.SIGCONT) })
	stopped := time.Now()
	tui.expect(fmt.Sprintf("server pid %d NOT ANSWERING", pid))
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("the TUI said the server answers nothing after %s, want within 5 s", d)
	}
	began := time.Now()
	_, errOut, code := runCLI(t, "", "--db", env.db, "--socket", env.socket(), "status")
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("status beside a stopped server took %s, want under 10 s", d)
	}
	requireSentence(t, errOut, "did not answer in time")
	if code == 0 || strings.Contains(errOut, "context deadline") || strings.Contains(errOut, `Post "`) {
		t.Errorf("status beside a stopped server: exit %d, %q; want one sentence without Go's text", code, errOut)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	tui.expect(fmt.Sprintf("attached to pid %d", pid))
	if out := mustCLI(t, "--db", env.db, "--socket", env.socket(), "status"); !strings.Contains(out, fmt.Sprintf("pid %d", pid)) {
		t.Errorf("status after SIGCONT: %q", out)
	}
	tui.quit()
}

// TestStandAgainAfterARefusedWrite: a term that ended on a job write the shared database refused
// (another vmmpm wrote the jobs beside this engine) makes serve stand by again, as a lost lease does;
// on a bbolt file, which only this process writes, the same refusal ends serve with its sentence.
func TestStandAgainAfterARefusedWrite(t *testing.T) {
	stale := fmt.Errorf("writing the job state to db failed: %w", &queue.StaleError{Job: 4, Held: store.JobQueued, Stored: store.JobRunning})
	busy := fmt.Errorf("writing the job state to db failed: %w", &queue.RunningError{Job: 5, Other: 4, Service: 2})
	for _, c := range []struct {
		err    error
		shared bool
		want   bool
	}{
		{stale, true, true}, {busy, true, true}, {stale, false, false}, {busy, false, false},
		{backend.ErrLeaseLost, true, true}, {backend.ErrHandedOver, true, true},
		{errors.New("the database is damaged"), true, false},
	} {
		if got := standAgain(c.err, c.shared); (got != "") != c.want {
			t.Errorf("standAgain(%v, shared %v) = %q, want standing by again: %v", c.err, c.shared, got, c.want)
		}
	}
}
