package main

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMain points the XDG defaults at a throwaway folder, so a test that forgets --db never touches
// the real ~/.local/share/vmmpm. Package main must not define another TestMain.
func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" { // a test re-executed this binary as vmmpm itself
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "vmmpm-main-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, env := range []string{"XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"} {
		os.Setenv(env, filepath.Join(dir, env))
	}
	os.Unsetenv("VMMPM_DB")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// envRunMain makes the test binary behave as the vmmpm binary (see vmmpmCmd).
const envRunMain = "VMMPM_TEST_RUN_MAIN"

// vmmpmCmd is the vmmpm program with args, run from this test binary in its own process.
func vmmpmCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	return cmd
}

// runCLI runs the command tree in-process and returns what it printed and its exit code.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI runs the command tree and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("vmmpm %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// requireSentence checks a failure printed exactly one line, prefixed "vmmpm: ", containing want.
func requireSentence(t *testing.T, stderr, want string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "vmmpm: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one line starting \"vmmpm: \": %q", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not say %q", stderr, want)
	}
}

// tempDB returns a database path in a fresh temp folder.
func tempDB(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "vmmpm.db")
}

// TestTerminalLibsMatch keeps the import rule's library list honest: it catches subpackages and
// nothing that merely shares a prefix.
func TestTerminalLibsMatch(t *testing.T) {
	for p, want := range map[string]bool{
		"github.com/charmbracelet/bubbles/key": true, "github.com/charmbracelet/huh": true,
		"github.com/muesli/termenv": true, "golang.org/x/term": true,
		"github.com/charmbraceletx/x": false, "golang.org/x/terminal": false, "golang.org/x/sys/unix": false, "go.etcd.io/bbolt": false,
	} {
		if got := isTerminalLib(p); got != want {
			t.Errorf("isTerminalLib(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestVersionFlag(t *testing.T) {
	out, _, code := runCLI(t, "", "--version")
	if code != 0 || !strings.Contains(out, version) {
		t.Fatalf("--version: code %d, out %q", code, out)
	}
}

// terminalLibs are the terminal libraries only ui and main may import (every Charm library, termenv,
// x/term): the domain packages stay usable headless (vmmpm engine, serve, --spec).
var terminalLibs = []string{"github.com/charmbracelet", "github.com/muesli/termenv", "golang.org/x/term"}

// isTerminalLib says whether import path p is one of terminalLibs or a package inside one.
func isTerminalLib(p string) bool {
	return slices.ContainsFunc(terminalLibs, func(lib string) bool { return p == lib || strings.HasPrefix(p, lib+"/") })
}

// TestImportRules enforces ARCHITECTURE.md: ui and main may import anything; the domain packages
// only what is listed, never ui, and no terminal library (bubbletea, bubbles, lipgloss, huh, termenv).
func TestImportRules(t *testing.T) {
	allowed := map[string][]string{
		"store":   nil,
		"vmm":     nil,
		"queue":   {"store", "vmm"},
		"wizard":  {"store", "vmm", "queue"},
		"stats":   {"store", "queue"},
		"backend": {"store", "vmm", "queue", "wizard", "stats"},
		"server":  {"backend", "store", "queue", "wizard", "stats", "vmm"},
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		top, _, _ := strings.Cut(filepath.ToSlash(path), "/")
		rules, ruled := allowed[top]
		if !ruled || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			rest, ours := strings.CutPrefix(p, "vmmpm/")
			target, _, _ := strings.Cut(rest, "/")
			if ours && target != top && !slices.Contains(rules, target) {
				t.Errorf("%s imports %s: %s may import only %v (ARCHITECTURE.md)", path, p, top, rules)
			}
			if isTerminalLib(p) {
				t.Errorf("%s imports %s: the domain packages know nothing of the terminal; that belongs in ui", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
