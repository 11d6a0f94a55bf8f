package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/vmm/sim"

	"golang.org/x/sys/unix"
)

const modulePassword = "demo-password" // the emulator's admin password; must never leak

// moduleEnv is a temp database with data centers and departments, the emulator on loopback and an
// isolated service in the real keyring (run under dbus-run-session, see TEAM.md).
type moduleEnv struct {
	t      *testing.T
	db     string
	simURL string
	out    strings.Builder // everything the commands printed, checked for the password
}

func newModuleEnv(t *testing.T) *moduleEnv {
	t.Helper()
	t.Setenv("VMMPM_KEYRING_SERVICE", fmt.Sprintf("vmmpm-test-cli-%d-%d", os.Getpid(), time.Now().UnixNano()))
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	srv := httptest.NewServer(sim.New(sim.Config{}))
	t.Cleanup(srv.Close)
	e := &moduleEnv{t: t, db: tempDB(t), simURL: srv.URL}
	e.ok("", "datacenter", "add", "Moscow")
	e.ok("", "datacenter", "add", "Partner DC", "--external-id", "ext-42")
	e.ok("", "department", "add", "Support")
	return e
}

func (e *moduleEnv) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	out, errOut, code := runCLI(e.t, stdin, append([]string{"--db", e.db}, args...)...)
	e.out.WriteString(out + errOut)
	return out, errOut, code
}

func (e *moduleEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}

// refuse runs a command that must fail with code and a message containing every fragment.
func (e *moduleEnv) refuse(code int, stdin string, args []string, fragments ...string) {
	e.t.Helper()
	_, errOut, got := e.run(stdin, args...)
	if got != code {
		e.t.Fatalf("%v: exit %d, want %d: %s\n%s", args, got, code, errOut, e.out.String())
	}
	for _, f := range fragments {
		if !strings.Contains(errOut, f) {
			e.t.Fatalf("%v: stderr %q lacks %q", args, errOut, f)
		}
	}
}

func (e *moduleEnv) spec(edit func(map[string]any)) string {
	e.t.Helper()
	s := map[string]any{
		"product_type": "vps", "module": "vmmanager6", "url": e.simURL, "username": "admin@example.com",
		"insecure_tls": false, "datacenter": "Moscow", "department": "Support", "name": "KVM one", "sort": 10,
		"cluster": "kvm-main", "use_recipes": false, "recipe_wait": "os", "additional_interface": true,
	}
	if edit != nil {
		edit(s)
	}
	b, _ := json.Marshal(s)
	p := filepath.Join(e.t.TempDir(), "spec.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *moduleEnv) modules() []*store.Module {
	e.t.Helper()
	var ms []*store.Module
	if err := json.Unmarshal([]byte(e.ok("", "module", "list", "--json")), &ms); err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func (e *moduleEnv) keyring(id uint64) (string, error) { return store.NewKeyring().Get(id) }

func TestModuleAddSpecRefusalsSaveNothing(t *testing.T) {
	e := newModuleEnv(t)
	pw := modulePassword + "\n"
	add := func(edit func(map[string]any)) []string { return []string{"module", "add", "--spec", e.spec(edit)} }

	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["datacenter"] = "Partner DC" }), "datacenter", "External Data Center id")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["cluster"] = "lxd-main" }), "additional_interface", "lxd-main")
	e.refuse(exitBadCreds, "wrong-password\n", add(nil), "refused the email or password")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["name"] = strings.Repeat("x", 65) }), "name", "at most 64")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["sort"] = 10000 }), "sort", "between 0 and 9999")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["product_type"] = "dedicated" }), "product_type")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["cluster"] = "nope" }), "cluster", "kvm-main")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["params"] = map[string]any{"queue_key": "bad key!"} }), "queue_key", "position 4")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["params"] = map[string]any{"queue_count": 65} }), "queue_count")
	e.refuse(exitUsage, pw, add(func(s map[string]any) { s["url"] = e.simURL + "/vmmgr" }), "path")
	e.refuse(exitUsage, "", add(nil), "password")
	e.refuse(exitUsage, pw, []string{"module", "add"}, "needs a terminal", "--spec")
	e.refuse(exitUnreachable, pw, add(func(s map[string]any) { s["url"] = "http://127.0.0.1:1" }), "refused the connection")
	tlsSrv := quietTLSServer(t, sim.New(sim.Config{}))
	e.refuse(exitUnreachable, pw, add(func(s map[string]any) { s["url"] = tlsSrv.URL }), "self-signed",
		`skip TLS verification ("insecure_tls": true in the spec, or module set ID insecure_tls=on)`)

	if ms := e.modules(); len(ms) != 0 {
		t.Fatalf("refusals saved %d modules", len(ms))
	}
	if _, err := e.keyring(1); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("a refusal left a password in the keyring: %v", err)
	}
}

func TestModuleLifecycle(t *testing.T) {
	e := newModuleEnv(t)
	out := e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	if !strings.Contains(out, `added module "KVM one" with id 1`) {
		t.Fatalf("add said %q", out)
	}
	ms := e.modules()
	if len(ms) != 1 || ms[0].Cluster.Name != "kvm-main" || !ms[0].AdditionalInterface || ms[0].URL != e.simURL {
		t.Fatalf("modules %+v", *ms[0])
	}
	if pw, err := e.keyring(1); err != nil || pw != modulePassword {
		t.Fatalf("keyring: %q %v", pw, err)
	}
	// A second module with the same sort on the same data center is saved, with a warning.
	_, errOut, code := e.run(modulePassword+"\n", "module", "add", "--spec", e.spec(func(s map[string]any) {
		s["name"], s["cluster"], s["additional_interface"] = "LXD one", 2, false
	}))
	if code != 0 || !strings.Contains(errOut, "warning: sort 10 is also used by module \"KVM one\"") {
		t.Fatalf("duplicate sort: exit %d, %q", code, errOut)
	}
	e.refuse(exitUsage, modulePassword+"\n", []string{"module", "add", "--spec", e.spec(nil)}, "name", "unique")

	e.refuse(exitUsage, "", []string{"module", "set", "1", "queue_key=bad key!"}, "queue_key", "position 4")
	e.refuse(exitUsage, "", []string{"module", "set", "1", "queue_key=__NOPE__"}, "queue_key", "__NOPE__")
	e.refuse(exitUsage, "", []string{"module", "set", "1", "queue=on", "queue_count=99"}, "queue_count")
	e.refuse(exitUsage, "", []string{"module", "set", "9", "queue=on"}, "no module 9")
	out = e.ok("", "module", "set", "1", "queue=on", "queue_key=vmm-__PMID__-__TYPE__", "queue_count=3", "session_ttl=600")
	if !strings.Contains(out, "vmm-1-open-1 … vmm-1-open-3") {
		t.Fatalf("set must preview the keys: %q", out)
	}
	var m store.Module
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Params != (store.Params{SessionTTL: 600, Queue: true, QueueKey: "vmm-__PMID__-__TYPE__", QueueCount: 3}) {
		t.Fatalf("show --json params %+v", m.Params)
	}
	text := e.ok("", "module", "show", "1")
	for _, want := range []string{"kvm-main (id 1, KVM)", "Moscow (id 1)", "queue keys:", "vmm-1-open-1 … vmm-1-open-3"} {
		if !strings.Contains(text, want) {
			t.Fatalf("show lacks %q:\n%s", want, text)
		}
	}

	out = e.ok("", "module", "check", "1")
	if !strings.Contains(out, "logged in") {
		t.Fatalf("check said %q", out)
	}
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastCheck == nil || !m.LastCheck.OK || time.Since(m.LastCheck.At) > time.Minute {
		t.Fatalf("last_check not refreshed: %+v", m.LastCheck)
	}

	e.ok("", "module", "rm", "1")
	if _, err := e.keyring(1); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("rm left the keyring entry: %v", err)
	}
	if ms := e.modules(); len(ms) != 1 || ms[0].ID != 2 {
		t.Fatalf("after rm: %+v", ms)
	}
	e.refuse(exitUsage, "", []string{"module", "rm", "1"}, "no module 1")
	e.ok("", "module", "rm", "2")

	assertNoPassword(t, e)
}

// assertNoPassword: the password is nowhere in the database file, the output, or the state folder (log).
func assertNoPassword(t *testing.T, e *moduleEnv) {
	t.Helper()
	raw, err := os.ReadFile(e.db)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), modulePassword) {
		t.Fatal("the password is in the database file")
	}
	if strings.Contains(e.out.String(), modulePassword) {
		t.Fatal("a command printed the password")
	}
	_ = filepath.WalkDir(os.Getenv("XDG_STATE_HOME"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), modulePassword) {
				t.Fatalf("the password is in %s", p)
			}
		}
		return nil
	})
}

func TestModuleCheckFailureIsRecorded(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	if err := store.NewKeyring().Set(1, "changed-meanwhile"); err != nil {
		t.Fatal(err)
	}
	e.refuse(exitBadCreds, "", []string{"module", "check", "1"}, "refused the email or password")
	var m store.Module
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastCheck == nil || m.LastCheck.OK || !strings.Contains(m.LastCheck.Message, "refused") {
		t.Fatalf("failed check not recorded: %+v", m.LastCheck)
	}
	e.ok("", "module", "rm", "1")
}

func TestModuleListTable(t *testing.T) {
	e := newModuleEnv(t)
	if out := e.ok("", "module", "list"); !strings.HasPrefix(out, "ID") {
		t.Fatalf("empty list must print the header: %q", out)
	}
	if out := e.ok("", "module", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty list --json = %q", out)
	}
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	out := e.ok("", "module", "list")
	if !strings.Contains(out, "KVM one") || !strings.Contains(out, "kvm-main (KVM)") {
		t.Fatalf("list %q", out)
	}
	e.ok("", "module", "rm", "1")
}

func TestModulePasswordReplacesKeyringEntry(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	if err := store.NewKeyring().Set(1, "stale"); err != nil {
		t.Fatal(err)
	}
	e.refuse(exitBadCreds, "wrong-again\n", []string{"module", "password", "1"}, "refused the email or password")
	if got, err := e.keyring(1); err != nil || got != "stale" {
		t.Fatalf("a refused password must leave the keyring as it was: %q, %v", got, err)
	}
	e.ok(modulePassword+"\n", "module", "password", "1")
	if got, err := e.keyring(1); err != nil || got != modulePassword {
		t.Fatalf("keyring after module password: %q, %v", got, err)
	}
	e.ok("", "module", "check", "1")
	e.ok("", "module", "rm", "1")
}

// TestModuleRmWaitsForJobs: a module with queued operations stays, and so does one with live services;
// once its services are closed it goes, with a warning for the tariff that still lists it.
func TestModuleRmWaitsForJobs(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "2")
	refuseCLI(t, "module 1 still has 2 unfinished operation(s), the first is job 1; wait for them or cancel them first",
		"--db", env.db, "module", "rm", "1")
	env.cli("engine", "--until-idle")
	// The two services are active on module 1's VMmanager: removing it would orphan their VMs.
	refuseCLI(t, "module 1 still has 2 live service(s) (1, 2) whose VMs only it can suspend or close; close those services first, or change the module with module set (or e on Modules) instead of removing and re-adding it",
		"--db", env.db, "module", "rm", "1")
	env.cli("service", "close", "1", "2", "--yes")
	env.cli("engine", "--until-idle")
	out, errOut, code := runCLI(t, "", "--db", env.db, "module", "rm", "1")
	if code != 0 || out != "removed module 1 \"vmm\" and its password\n" ||
		errOut != "vmmpm: warning: tariff \"small\" (id 1) still lists module 1; it is skipped when choosing a module\n" {
		t.Fatalf("rm after the jobs: exit %d, %q, %q", code, out, errOut)
	}
	if _, err := store.NewKeyring().Get(1); err == nil {
		t.Error("rm left the password in the keyring")
	}
}

// TestModuleDeepCheck: `module check ID --deep` runs the deep check with the stored password, prints
// the probe table, keeps the outcome with the module, and exits 6 naming the probe a VMmanager answers
// differently (here an emulator that renames a field).
func TestModuleDeepCheck(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	out := e.ok("", "module", "check", "1", "--deep")
	if !strings.Contains(out, "PROBE") || strings.Contains(out, "mismatch\n") || !strings.Contains(out, "0 mismatch, 6 inconclusive") {
		t.Fatalf("deep check against the emulator:\n%s", out)
	}
	var m store.Module
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastDeep == nil || !m.LastDeep.OK || m.LastDeep.Probes == 0 {
		t.Fatalf("the deep check was not kept with the module: %+v", m.LastDeep)
	}

	quirky := httptest.NewServer(sim.New(sim.Config{Quirks: []sim.Quirk{{Kind: "field", From: "virtualization_type", To: "virt"}}}))
	t.Cleanup(quirky.Close)
	e.ok("", "module", "set", "1", "url="+quirky.URL)
	e.refuse(exitDiffers, "", []string{"module", "check", "1", "--deep"}, "answers differently", "clusters")
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastDeep == nil || m.LastDeep.OK || len(m.LastDeep.Differs) == 0 {
		t.Fatalf("a failed deep check was not kept: %+v", m.LastDeep)
	}
}

// TestModuleDeepCheckWrite: `module check ID --deep --write --record DIR` against the emulator creates a
// throwaway VM on the module's cluster, passes with nothing inconclusive, keeps the outcome, records
// masked answers and leaves no VM; against an emulator that renames start_task it exits 6 naming the
// field, and still leaves no VM. --write without --deep is refused.
func TestModuleDeepCheckWrite(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	e.refuse(exitUsage, "", []string{"module", "check", "1", "--write"}, "--write and --record need --deep")

	s := sim.New(sim.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e.ok("", "module", "set", "1", "url="+srv.URL)
	dir := filepath.Join(t.TempDir(), "rec")
	out, errOut, code := e.run("", "module", "check", "1", "--deep", "--write", "--record", dir)
	if code != exitOK || !strings.Contains(out, "write: deferred change and restart") || !strings.Contains(out, "0 mismatch, 0 inconclusive") ||
		!strings.Contains(errOut, "throwaway VM") || !strings.Contains(errOut, "masked answers to "+dir) {
		t.Fatalf("--deep --write: exit %d\n%s\n%s", code, out, errOut)
	}
	if st := s.Stats(); st.LiveHosts != 0 || len(st.HostsCreated) != 1 {
		t.Fatalf("after --write: %d live VMs, created %v", st.LiveHosts, st.HostsCreated)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*write-create.json"))
	if len(files) == 0 {
		t.Fatalf("no recorded answer of the create step in %s", dir)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), modulePassword) || strings.Contains(string(b), "admin@example.com") {
			t.Fatalf("%s holds the password or the email", f)
		}
	}
	var m store.Module
	if err := json.Unmarshal([]byte(e.ok("", "module", "show", "1", "--json")), &m); err != nil {
		t.Fatal(err)
	}
	if m.LastDeep == nil || !m.LastDeep.OK || !m.LastDeep.Write || len(m.LastDeep.Inconclusive) != 0 {
		t.Fatalf("the write check was not kept with the module: %+v", m.LastDeep)
	}

	quirky := sim.New(sim.Config{Quirks: []sim.Quirk{{Kind: "field", From: "start_task", To: "restart_job"}}})
	qsrv := httptest.NewServer(quirky)
	t.Cleanup(qsrv.Close)
	e.ok("", "module", "set", "1", "url="+qsrv.URL)
	e.refuse(exitDiffers, "", []string{"module", "check", "1", "--deep", "--write"}, "answers differently", "write: deferred change and restart")
	if st := quirky.Stats(); st.LiveHosts != 0 {
		t.Fatalf("a failed --write left %d VMs", st.LiveHosts)
	}
	if !strings.Contains(e.out.String(), "has no start_task") {
		t.Fatalf("the mismatch does not name start_task:\n%s", e.out.String())
	}
}

// TestAccessibleWizardCtrlC runs `vmmpm module add --accessible` on a real terminal and presses ctrl+c,
// once at the first prompt and once at the password prompt (echo off): each time vmmpm stops at once
// with exit 1 and "nothing was saved", and the terminal echoes again.
func TestAccessibleWizardCtrlC(t *testing.T) {
	for _, at := range []string{"Product type", "Password"} {
		t.Run(at, func(t *testing.T) {
			cmd := vmmpmCmd("module", "add", "--accessible", "--no-color", "--db", tempDB(t))
			cmd.Env = environWithout(cmd.Env, "DBUS_SESSION_BUS_ADDRESS")
			u := runInPTY(t, 100, 30, cmd)
			answer := func(prompt, line string) {
				t.Helper()
				u.expect(prompt)
				u.key(line)
			}
			if at == "Password" {
				answer("enter the number 1", "1\n")
				answer("enter the number 1", "1\n")
				answer("URL", "vmm.example.com\n")
				answer("Username", "admin@example.com\n")
			}
			answer(at, "\x03")
			u.expect("nothing was saved")
			if ee, ok := u.wait("ctrl+c").(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("ctrl+c: want exit 1")
			}
			tio, err := unix.IoctlGetTermios(int(u.slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 {
				t.Error("ctrl+c left the terminal without echo")
			}
			if s := u.out.String(); strings.Contains(s[u.seen:], "URL") {
				t.Errorf("the prompts went on after ctrl+c: %q", s[u.seen:])
			}
		})
	}
}

// TestModuleSetEveryWizardField (issue 10 point 3): module set takes every field of the Add wizard;
// what changes the login or the cluster is checked live first, a failed check changes nothing, and
// cluster and data center stay put while live services are bound to the module.
func TestModuleSetEveryWizardField(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	e.ok("", "datacenter", "add", "Kazan")
	set := func(kv ...string) []string { return append([]string{"module", "set", "1"}, kv...) }

	e.refuse(exitUsage, "", set("cluster=lxd-main"), "additional_interface", "lxd-main")
	e.refuse(exitUsage, "", set("cluster=nope", "additional_interface=off"), "cluster", "kvm-main", "lxd-main")
	e.refuse(exitUnreachable, "", set("url=http://127.0.0.1:1"), "refused the connection")
	e.refuse(exitBadCreds, "", set("username=nobody@example.com"), "refused the email or password")
	e.refuse(exitUsage, "", set("recipe_wait=later"), "recipe_wait")
	e.refuse(exitUsage, "", set("reconcile_every=10s"), "reconcile_every", "between 1m and 720h")
	e.refuse(exitUsage, "", set("attempt_timeout=start=5m"), "attempt_timeout", `names "start", which is not an operation`)
	if m := e.modules()[0]; m.URL != e.simURL || m.Username != "admin@example.com" || m.Cluster.Name != "kvm-main" {
		t.Fatalf("refused sets changed the module: %+v", *m)
	}

	e.ok("", set("cluster=lxd-main", "additional_interface=off", "use_recipes=on", "recipe_wait=recipe",
		"datacenter=Kazan", "name=LXD one", "insecure_tls=off", "url="+e.simURL+"/", "username=admin@example.com",
		"enabled=off", "activation_limit=3", "reconcile_every=90m", "attempt_timeout=open=45m,reinstall=1h")...)
	e.ok("", set("attempt_timeout=open=")...) // drops open's limit, keeps reinstall's
	m := e.modules()[0]
	if m.Cluster.Name != "lxd-main" || m.Cluster.Virtualization != store.VirtLXD || m.AdditionalInterface ||
		!m.UseRecipes || m.RecipeWait != store.RecipeWaitRecipe || m.DataCenterID != 3 || m.Name != "LXD one" ||
		m.Enabled || m.ActivationLimit != 3 || m.URL != e.simURL || m.ReconcileEvery != "1h30m" || m.AttemptTimeout != "reinstall=1h" {
		t.Fatalf("after module set: %+v", *m)
	}
	if m.LastCheck == nil || !m.LastCheck.OK || !strings.Contains(m.LastCheck.Message, "when the module was edited") {
		t.Fatalf("the live check is not recorded: %+v", m.LastCheck)
	}

	// A live service keeps the module on its cluster and data center; other settings still change.
	db, err := store.Open(e.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tf := &store.Tariff{Name: "S", DataCenterID: 3, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	svc := &store.Service{TariffID: 1, ModuleID: 1, ClientEmail: "c@example.com", Status: store.ServiceSuspended,
		VM: store.VM{HostID: 9}}
	if err := db.Save(tf); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(svc); err != nil {
		t.Fatal(err)
	}
	db.Close()
	e.refuse(exitUsage, "", set("cluster=kvm-main"), "cluster: cannot change while module 1 has 1 live service(s) (1)", "close them first")
	e.refuse(exitUsage, "", set("datacenter=Moscow"), "datacenter: cannot change while module 1 has 1 live service(s) (1)")
	e.ok("", set("sort=5", "enabled=on")...)
	if m := e.modules()[0]; m.Cluster.Name != "lxd-main" || m.DataCenterID != 3 || m.Sort != 5 || !m.Enabled {
		t.Fatalf("after the refusals: %+v", *m)
	}
	if strings.Contains(e.out.String(), modulePassword) {
		t.Fatal("the password reached the output")
	}
}

// liveService binds an active service (with a VM) to module 1, as an open that succeeded leaves it.
func liveService(t *testing.T, path string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tf := &store.Tariff{Name: "S", DataCenterID: 1, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	if err := db.Save(tf); err != nil {
		t.Fatal(err)
	}
	svc := &store.Service{TariffID: tf.ID, ModuleID: 1, ClientEmail: "c@example.com", Status: store.ServiceActive,
		VM: store.VM{HostID: 9}}
	if err := db.Save(svc); err != nil {
		t.Fatal(err)
	}
}

// TestModuleDeleteAndEditInATerminal (issue 10 points 2 and 3, TUI): on Modules, d on a module with a
// live service asks, then refuses naming the service; e opens the wizard filled with the module's
// values, and with the password left empty it logs in with the stored one, and saves the new name,
// enabled and activation limit over the same module.
func TestModuleDeleteAndEditInATerminal(t *testing.T) {
	e := newModuleEnv(t)
	e.ok(modulePassword+"\n", "module", "add", "--spec", e.spec(nil))
	e.ok("", "datacenter", "add", "Kazan")
	liveService(t, e.db)
	u := startTUI(t, e.db)
	u.expect("Modules", "KVM one")
	u.key("d")
	u.expect(`Delete module 1 "KVM one"`)
	u.key("y")
	u.expect("module 1 still has 1 live service(s) (1)")

	u.key("e")
	u.expect(`Edit module 1 "KVM one"`, "┃ URL", e.simURL)
	u.key(keyEnter)
	u.expect("┃ Username")
	u.key(keyEnter)
	u.expect("┃ Password", "Leave empty to keep the stored password.")
	u.key(keyEnter)
	u.expect("┃ Skip TLS verification")
	u.key(keyEnter)
	u.expect("┃ Data center") // the login's notice is drawn below it
	// Waited for anywhere in the output, not looked up once: the notice may reach the terminal a frame
	// after the focus bar (without it, this times out: leaving Integration did not log in again).
	termtest.Expect(t, u.out, new(int), "Logged in to "+e.simURL)
	// Another data center is refused when the page is left: the module has a live service.
	u.key(keyDown)
	u.expect("Kazan")
	for _, f := range []string{"┃ Name", "┃ Department", "┃ Sort"} {
		u.key(keyEnter)
		u.expect(f)
	}
	u.key(keyEnter)
	u.expect("datacenter: cannot change while module 1 has 1 live service(s) (1)")
	u.key(keyUp)
	u.expect("Moscow")
	u.key(keyEnter)
	u.expect("┃ Name")
	u.key("\x15") // ctrl+u clears the name
	for _, r := range "KVM renamed" {
		u.key(string(r))
	}
	u.expect("KVM renamed")
	u.key(keyEnter)
	u.expect("┃ Department")
	u.key(keyEnter)
	u.expect("┃ Sort")
	u.key(keyEnter)
	u.expect("cluster (2 of 3)", "┃ Cluster")
	u.key(keyEnter)
	u.expect("┃ Use recipes")
	u.key(keyEnter)
	u.expect("┃ With recipes")
	u.key(keyEnter)
	u.expect("┃ Additional network interface")
	u.key(keyEnter)
	u.expect("queue and session (3 of 3)", "┃ Session storage period")
	u.key(keyEnter)
	u.expect("┃ Start operations in a queue")
	u.key(keyEnter)
	u.expect("┃ Queue key")
	u.key(keyEnter)
	u.expect("┃ Number of queues")
	u.key(keyEnter)
	u.expect("┃ Enabled")
	u.key("n") // off, and on to the next field
	u.expect("┃ Simultaneous activation limit")
	u.key(keyBackspace)
	u.key("2")
	u.key(keyEnter)
	u.expect("Step 5 of 5 · Review", "(unchanged)", "Activation limit")
	u.key(keyEnter)
	u.expect(`module 1 "KVM renamed" saved`)
	u.quit()

	ms := e.modules()
	if len(ms) != 1 {
		t.Fatalf("%d modules after the edit, want the same one", len(ms))
	}
	m := ms[0]
	if m.ID != 1 || m.Name != "KVM renamed" || m.Enabled || m.ActivationLimit != 2 || m.Cluster.Name != "kvm-main" || m.DataCenterID != 1 ||
		m.LastCheck == nil || !strings.Contains(m.LastCheck.Message, "edited") {
		t.Fatalf("module after the edit: %+v %+v", *m, m.LastCheck)
	}
	if pw, err := e.keyring(1); err != nil || pw != modulePassword {
		t.Fatalf("the stored password must stay: %v", err)
	}
	if strings.Contains(u.out.String(), modulePassword) {
		t.Fatal("the password was drawn on the screen")
	}
}

// TestWizardOnANewDatabaseInATerminal (issue 10 point 4, TUI): with no data center and no department
// yet, a on Modules runs the wizard through; step 4 asks for their names, adds them, and the module is
// saved bound to them, with nothing typed lost.
func TestWizardOnANewDatabaseInATerminal(t *testing.T) {
	e := newModuleEnv(t)
	fresh := tempDB(t)
	e.db = fresh
	u := startTUI(t, fresh)
	u.expect("Modules", "no modules yet")
	u.key("a")
	u.expect("Step 1 of 5")
	u.key(keyEnter)
	u.expect("Step 2 of 5")
	u.key(keyEnter)
	u.expect("Step 3 of 5", "┃ URL")
	u.typeText(e.simURL)
	u.expect(e.simURL)
	u.key(keyEnter)
	u.expect("┃ Username")
	u.typeText("admin@example.com")
	u.expect("admin@example.com")
	u.key(keyEnter)
	u.expect("┃ Password")
	u.typeText(modulePassword)
	u.expect(strings.Repeat("*", len(modulePassword)))
	u.key(keyEnter)
	u.expect("┃ Skip TLS verification")
	u.key(keyEnter)
	u.expect("┃ New data center")
	u.typeText("Moscow")
	u.expect("Moscow")
	u.key(keyEnter)
	u.expect("┃ Name")
	u.typeText("KVM fresh")
	u.expect("KVM fresh")
	u.key(keyEnter)
	u.expect("┃ New department")
	u.typeText("Support")
	u.expect("Support")
	u.key(keyEnter)
	u.expect("┃ Sort")
	u.key(keyEnter)
	u.expect("┃ Cluster", `Added data center "Moscow" and department "Support".`)
	for _, f := range []string{"┃ Use recipes", "┃ With recipes", "┃ Additional network interface", "┃ Session storage period",
		"┃ Start operations in a queue", "┃ Queue key", "┃ Number of queues", "Step 5 of 5"} {
		u.key(keyEnter)
		u.expect(f)
	}
	u.key(keyEnter)
	u.expect(`module 1 "KVM fresh" saved`)
	u.quit()

	m := e.modules()[0]
	if m.Name != "KVM fresh" || m.DataCenterID != 1 || m.DepartmentID != 1 {
		t.Fatalf("module %+v", *m)
	}
	if out := e.ok("", "datacenter", "list"); !strings.Contains(out, "Moscow") {
		t.Fatalf("datacenter list: %q", out)
	}
	t.Cleanup(func() { _ = store.NewKeyring().Delete(1) })
	if strings.Contains(u.out.String(), modulePassword) {
		t.Fatal("the password was drawn on the screen")
	}
}

// recordCalls is a socket in front of target that passes every request on and notes the name of each
// call but hello.
func recordCalls(t *testing.T, target string) (socket string, calls func() []string) {
	t.Helper()
	socket = filepath.Join(filepath.Dir(target), "rec.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var names []string
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "vmmpm"
			if name := strings.TrimPrefix(r.In.URL.Path, "/v1/"); name != "hello" {
				mu.Lock()
				names = append(names, name)
				mu.Unlock()
			}
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", target)
		}},
	}
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return socket, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}

// TestSpecCommandsThroughServerAreOneCall: while `vmmpm serve` holds the database, module add --spec
// and tariff add/edit --spec make one call each (the login to VMmanager runs on the server's side),
// with the output and exit codes they have without a server.
func TestSpecCommandsThroughServerAreOneCall(t *testing.T) {
	e := newModuleEnv(t)
	sock := filepath.Join(filepath.Dir(e.db), "s.sock")
	srv := startServe(t, e.db, sock)
	proxy, calls := recordCalls(t, sock)
	t.Setenv("VMMPM_SOCKET", proxy)
	pw := modulePassword + "\n"
	add := func(edit func(map[string]any)) []string { return []string{"module", "add", "--spec", e.spec(edit)} }

	if out := e.ok(pw, add(nil)...); !strings.Contains(out, `added module "KVM one" with id 1`) {
		t.Fatalf("add through the server said %q", out)
	}
	_, errOut, code := e.run(pw, add(func(s map[string]any) { s["name"], s["cluster"], s["additional_interface"] = "LXD one", 2, false })...)
	if code != 0 || errOut != "vmmpm: warning: sort 10 is also used by module \"KVM one\" (id 1) on this data center; between equal sorts the lower id is tried first\n" {
		t.Fatalf("the duplicate sort's warning through the server: exit %d, %q", code, errOut)
	}
	other := func(s map[string]any) { s["name"] = "other" }
	e.refuse(exitBadCreds, "not-the-password\n", add(other), "refused the email or password")
	e.refuse(exitUnreachable, pw, add(func(s map[string]any) { other(s); s["url"] = "http://127.0.0.1:1" }), "refused the connection")
	tlsSrv := quietTLSServer(t, sim.New(sim.Config{}))
	e.refuse(exitUnreachable, pw, add(func(s map[string]any) { other(s); s["url"] = tlsSrv.URL }), "self-signed",
		`skip TLS verification ("insecure_tls": true in the spec, or module set ID insecure_tls=on)`)
	e.refuse(exitUsage, pw, add(func(s map[string]any) { other(s); s["datacenter"] = "Partner DC" }), "External Data Center id")

	tariff := func(json string) string { return specFile(t, json) }
	if out := e.ok("", "tariff", "add", "--spec", tariff(`{"name": "small", "datacenter": "moscow", "modules": [1],
		"cpu": 1, "ram_mib": 1024, "disk_mib": 10240, "os_id": 1}`)); out != "added tariff \"small\" with id 1\n" {
		t.Fatalf("tariff add through the server said %q", out)
	}
	if out := e.ok("", "tariff", "edit", "1", "--spec", tariff(`{"cpu": 2}`)); out != "updated tariff \"small\" (id 1)\n" {
		t.Fatalf("tariff edit through the server said %q", out)
	}
	e.refuse(exitUsage, "", []string{"tariff", "edit", "9", "--spec", tariff(`{"cpu": 2}`)}, "there is no tariff 9")
	e.refuse(exitUsage, "", []string{"tariff", "edit", "1", "--spec", tariff(`{"os_id": 3}`)}, "os_id", "3 is not one")

	want := []string{"add_module", "add_module", "add_module", "add_module", "add_module", "add_module",
		"save_tariff_spec", "save_tariff_spec", "save_tariff_spec", "save_tariff_spec"}
	if got := calls(); !slices.Equal(got, want) {
		t.Errorf("calls through the server: %q, want %q", got, want)
	}
	srv.stop()
	if strings.Contains(srv.out.String(), modulePassword) || strings.Contains(srv.out.String(), "not-the-password") {
		t.Error("a password shows in the server's log")
	}
	assertNoPassword(t, e)
}
