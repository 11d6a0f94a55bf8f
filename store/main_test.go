package store_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/storetest"
	"vmmpm/store"
)

// Child roles: the test binary re-executes itself with envRole set to play a second process.
const (
	envRole    = "VMMPM_STORE_TEST_ROLE"
	envDB      = "VMMPM_STORE_TEST_DB"
	envTimeout = "VMMPM_STORE_TEST_TIMEOUT"
	childPW    = "pw-never-print-4711"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "":
		os.Exit(storetest.Main(m))
	case "hold":
		os.Exit(holdDB(os.Getenv(envDB)))
	case "keyring":
		os.Exit(tryKeyring())
	case "panic":
		panicInGoroutine()
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envRole, os.Getenv(envRole))
		os.Exit(2)
	}
}

// holdDB opens the database, says "ready", and keeps it open until stdin closes.
func holdDB(path string) int {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		fmt.Println("close:", err)
		return 1
	}
	return 0
}

// tryKeyring stores and reads a password and prints what each call returned, one line each.
func tryKeyring() int {
	k := store.NewKeyring().(*store.Keyring)
	if d, err := time.ParseDuration(os.Getenv(envTimeout)); err == nil {
		k.Timeout = d
	}
	start := time.Now()
	setErr := k.Set(1, childPW)
	_, getErr := k.Get(1)
	fmt.Printf("set cause=%s msg=%v\n", causeName(setErr), setErr)
	fmt.Printf("get cause=%s msg=%v\n", causeName(getErr), getErr)
	checkErr := store.CheckSecrets(k)
	fmt.Printf("check cause=%s msg=%v\n", causeName(checkErr), checkErr)
	fmt.Printf("elapsed=%s\n", time.Since(start))
	return 0
}

func causeName(err error) string {
	for name, c := range map[string]error{"none": nil, "nosession": store.ErrNoSession,
		"noprovider": store.ErrNoProvider, "locked": store.ErrLocked, "notfound": store.ErrSecretNotFound,
		"timeout": store.ErrSecretTimeout, "invalid": store.ErrSecretInvalid, "failed": store.ErrSecretFailed} {
		if c == nil && err == nil || c != nil && errors.Is(err, c) {
			return name
		}
	}
	return "unclassified"
}

// child starts the test binary in role with extra environment; env replaces the parent's if clean.
func child(t *testing.T, role string, env []string, clean bool, argv0 ...string) *exec.Cmd {
	t.Helper()
	args := append(argv0, os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	if !clean {
		env = append(os.Environ(), env...)
	}
	cmd.Env = append(env, envRole+"="+role)
	return cmd
}

// keyringChild runs the keyring role to the end and returns its output lines by prefix.
func keyringChild(t *testing.T, cmd *exec.Cmd) map[string]string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keyring child failed: %v\n%s", err, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && (k == "set" || k == "get" || k == "check") {
			lines[k] = v
		}
		if v, ok := strings.CutPrefix(l, "elapsed="); ok {
			lines["elapsed"] = v
		}
	}
	if lines["set"] == "" || lines["get"] == "" {
		t.Fatalf("keyring child printed no results:\n%s", out)
	}
	if strings.Contains(string(out), childPW) {
		t.Fatalf("the password appeared in the child's output:\n%s", out)
	}
	return lines
}

// startHolder starts a child that holds path open and returns once it says "ready".
func startHolder(t *testing.T, path string) (pid int, release func()) {
	t.Helper()
	cmd := child(t, "hold", []string{envDB + "=" + path}, false)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			_ = cmd.Process.Kill()
			t.Fatalf("holder said %q, want ready", l)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("holder did not get ready in 30 s")
	}
	var released bool
	release = func() {
		if released {
			return
		}
		released = true
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder exited with %v", err)
		}
	}
	t.Cleanup(release)
	return cmd.Process.Pid, release
}
