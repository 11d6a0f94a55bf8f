package store_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"vmmpm/store"
)

const runUnderCI = "run the tests with `bash .ci/run`, or inside the dbus-run-session command of README's Running on a headless server"

// testKeyring is the real OS keyring under a service name no other test run uses.
func testKeyring(t *testing.T) *store.Keyring {
	t.Helper()
	t.Setenv("VMMPM_KEYRING_SERVICE", fmt.Sprintf("vmmpm-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	k, ok := store.NewKeyring().(*store.Keyring)
	if !ok {
		t.Fatalf("NewKeyring returned %T, want *store.Keyring", store.NewKeyring())
	}
	return k
}

// requireUsable fails (never skips) when the Secret Service cannot be reached, saying how to get one.
func requireUsable(t *testing.T, err error) {
	t.Helper()
	for _, c := range []error{store.ErrNoSession, store.ErrNoProvider, store.ErrLocked, store.ErrSecretTimeout} {
		if errors.Is(err, c) {
			t.Fatalf("this test needs an unlocked Secret Service on the D-Bus session bus and found none (%v); %s", err, runUnderCI)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// secretTool reads the entry the way any other Secret Service client would.
func secretTool(t *testing.T, service string, moduleID uint64) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("secret-tool"); err != nil {
		t.Fatalf("secret-tool (libsecret-tools) is missing; %s", runUnderCI)
	}
	out, err := exec.Command("secret-tool", "lookup", "service", service, "username", fmt.Sprintf("module-%d", moduleID)).Output()
	return string(out), err
}

func TestKeyringRoundTripRealSecretService(t *testing.T) {
	k := testKeyring(t)
	requireUsable(t, k.Set(7, "first-pw"))
	t.Cleanup(func() { _ = k.Delete(7); _ = k.Delete(8) })
	if err := k.Set(7, "second pw ü"); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if err := k.Set(8, "other"); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get(7); err != nil || got != "second pw ü" {
		t.Fatalf("Get(7) = %q, %v; want the overwritten password", got, err)
	}
	if got, err := secretTool(t, k.Service, 7); err != nil || got != "second pw ü" {
		t.Fatalf("secret-tool sees %q (%v); want the password stored under service %s", got, err, k.Service)
	}
	if err := k.Delete(7); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(7); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrSecretNotFound", err)
	}
	if got, err := k.Get(8); err != nil || got != "other" {
		t.Fatalf("deleting module 7 touched module 8: %q, %v", got, err)
	}
	if !strings.Contains(k.Describe(), k.Service) || !strings.Contains(k.Describe(), "Secret Service") {
		t.Errorf("Describe() = %q, want the service name and where secrets live", k.Describe())
	}
}

// A job's password is kept under its own readable entry, job-<id>, apart from every module's.
func TestKeyringJobSecret(t *testing.T) {
	k := testKeyring(t)
	id := store.JobSecretID(42)
	requireUsable(t, k.Set(id, "root-pw"))
	t.Cleanup(func() { _ = k.Delete(id) })
	out, err := exec.Command("secret-tool", "lookup", "service", k.Service, "username", "job-42").Output()
	if err != nil || string(out) != "root-pw" {
		t.Fatalf("secret-tool lookup username job-42 = %q (%v)", out, err)
	}
	if _, err := k.Get(42); !errors.Is(err, store.ErrSecretNotFound) || !strings.Contains(err.Error(), "module 42") {
		t.Fatalf("module 42 must not see job 42's password: %v", err)
	}
	if err := k.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(id); err == nil || !strings.Contains(err.Error(), "password of job 42") {
		t.Fatalf("a job secret's error names the job: %v", err)
	}
}

func TestKeyringNotFound(t *testing.T) {
	k := testKeyring(t)
	_, err := k.Get(424242)
	if !errors.Is(err, store.ErrSecretNotFound) {
		requireUsable(t, err)
		t.Fatal("Get of a module never stored succeeded")
	}
	var se *store.SecretError
	if !errors.As(err, &se) || se.Op != "read" || se.ModuleID != 424242 || !errors.Is(err, keyring.ErrNotFound) {
		t.Fatalf("not-found error lacks its fields or cause: %#v", err)
	}
	if !strings.Contains(err.Error(), "module 424242") || !strings.Contains(err.Error(), "vmmpm module password") {
		t.Fatalf("not-found sentence: %q", err)
	}
	if err := k.Delete(424242); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("Delete of a missing module: %v, want ErrSecretNotFound", err)
	}
}

// CheckSecrets passes on a working store whether or not it holds anything (the no-session case is in
// TestKeyringNoDBusSession).
func TestCheckSecretsUsable(t *testing.T) {
	for _, s := range []store.Secrets{testKeyring(t), store.NewMemorySecrets()} {
		if err := store.CheckSecrets(s); err != nil {
			t.Errorf("%s: %v", s.Describe(), err)
		}
	}
}

func TestKeyringRefusesBadRequests(t *testing.T) {
	k := testKeyring(t)
	for name, err := range map[string]error{"id 0": k.Set(0, "pw"), "empty password": k.Set(5, "")} {
		if !errors.Is(err, store.ErrSecretInvalid) {
			t.Errorf("%s: %v, want ErrSecretInvalid", name, err)
		}
	}
}

// environWithout returns the environment minus the named variables.
func environWithout(names ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

func TestKeyringNoDBusSession(t *testing.T) {
	empty := t.TempDir() // PATH without dbus-launch, runtime dir without a bus socket
	env := append(environWithout("DBUS_SESSION_BUS_ADDRESS", "PATH", "XDG_RUNTIME_DIR"),
		"PATH="+empty, "XDG_RUNTIME_DIR="+empty)
	got := keyringChild(t, child(t, "keyring", env, true))
	if !strings.Contains(got["check"], "passwords cannot be kept: there is no D-Bus session bus") {
		t.Errorf("the start-up probe without a D-Bus session: %s", got["check"])
	}
	for _, op := range []string{"set", "get", "check"} {
		if !strings.HasPrefix(got[op], "cause=nosession ") ||
			!strings.Contains(got[op], "there is no D-Bus session bus; run vmmpm in a desktop session, or on a server under dbus-run-session") {
			t.Errorf("%s without a D-Bus session: %s", op, got[op])
		}
	}
}

// busConfig is a private session bus that activates nothing, so no Secret Service can appear on it.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

func dbusRunSession(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dbus-run-session")
	if err != nil {
		t.Fatalf("dbus-run-session (dbus-user-session) is missing; %s", runUnderCI)
	}
	return p
}

func TestKeyringNoSecretServiceProvider(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bus.conf")
	if err := os.WriteFile(conf, []byte(busConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := child(t, "keyring", nil, false, dbusRunSession(t), "--config-file="+conf, "--")
	got := keyringChild(t, cmd)
	for _, op := range []string{"set", "get"} {
		if !strings.HasPrefix(got[op], "cause=noprovider ") || !strings.Contains(got[op], "nothing provides the Secret Service") {
			t.Errorf("%s on a bus without a Secret Service: %s", op, got[op])
		}
	}
}

func TestKeyringLockedCollection(t *testing.T) {
	// A fresh session bus starts gnome-keyring by D-Bus activation with a new HOME: its default
	// collection does not exist and nobody can answer the unlock prompt.
	// Without a display the prompt fails at once; on a desktop it would wait for a click, so drop it.
	home := t.TempDir()
	env := append(environWithout("HOME", "XDG_DATA_HOME", "DISPLAY", "WAYLAND_DISPLAY"),
		"HOME="+home, "XDG_DATA_HOME="+home, envTimeout+"=3s")
	cmd := child(t, "keyring", env, true, dbusRunSession(t), "--")
	got := keyringChild(t, cmd)
	for _, op := range []string{"set", "get"} {
		if !strings.HasPrefix(got[op], "cause=locked ") || !strings.Contains(got[op], "is locked and could not be unlocked") {
			t.Errorf("%s with a locked collection: %s", op, got[op])
		}
	}
}

func TestKeyringTimeout(t *testing.T) {
	// A socket that accepts and never answers: the D-Bus handshake blocks, as an unanswered prompt does.
	sock := filepath.Join(t.TempDir(), "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	env := []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + sock, envTimeout + "=300ms"}
	got := keyringChild(t, child(t, "keyring", env, false))
	for _, op := range []string{"set", "get"} {
		if !strings.HasPrefix(got[op], "cause=timeout ") || !strings.Contains(got[op], "did not answer in time") {
			t.Errorf("%s against a silent bus: %s", op, got[op])
		}
	}
	if d, err := time.ParseDuration(got["elapsed"]); err != nil || d > 5*time.Second {
		t.Errorf("two calls with a 300ms deadline took %s", got["elapsed"])
	}
}

func TestNewKeyringServiceName(t *testing.T) {
	t.Setenv("VMMPM_KEYRING_SERVICE", "")
	if k := store.NewKeyring().(*store.Keyring); k.Service != "vmmpm" || k.Timeout != store.DefaultSecretTimeout {
		t.Fatalf("default keyring: service %q timeout %v", k.Service, k.Timeout)
	}
	t.Setenv("VMMPM_KEYRING_SERVICE", "vmmpm-other")
	if k := store.NewKeyring().(*store.Keyring); k.Service != "vmmpm-other" {
		t.Fatalf("VMMPM_KEYRING_SERVICE ignored: %q", k.Service)
	}
}

func TestMemorySecrets(t *testing.T) {
	m := store.NewMemorySecrets()
	if _, ok := m.(*store.Keyring); ok || !strings.Contains(m.Describe(), "memory only") {
		t.Fatalf("memory store describes itself as %q", m.Describe())
	}
	if err := m.Set(3, "pw"); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Get(3); err != nil || got != "pw" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := m.Delete(3); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(3); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := m.Set(0, "pw"); !errors.Is(err, store.ErrSecretInvalid) {
		t.Fatalf("Set(0): %v", err)
	}
}

// TestKeyringPasswordVersion: the version of a module's password a host holds is its own entry beside
// the password (module-ID-version), apart from the module's password itself.
func TestKeyringPasswordVersion(t *testing.T) {
	k := testKeyring(t)
	id := store.PasswordVersionID(42)
	if store.IsModuleSecret(id) || !store.IsModuleSecret(42) || store.IsModuleSecret(store.JobSecretID(42)) || store.IsModuleSecret(store.WebhookSecretID(42)) {
		t.Fatal("IsModuleSecret mistakes a version, job or webhook entry for a module's password")
	}
	requireUsable(t, k.Set(id, "3"))
	t.Cleanup(func() { _ = k.Delete(id) })
	out, err := exec.Command("secret-tool", "lookup", "service", k.Service, "username", "module-42-version").Output()
	if err != nil || string(out) != "3" {
		t.Fatalf("secret-tool lookup username module-42-version = %q (%v)", out, err)
	}
	if _, err := k.Get(42); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("module 42's password must not be its version entry: %v", err)
	}
}
