package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The module's import rules (ARCHITECTURE.md) are checked here, where main wires every package.

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
		"store":     {"store/kv"},
		"store/kv":  nil, // the key/value layer (and its implementations) knows nothing of what it stores
		"vmm":       nil,
		"queue":     {"store", "store/kv", "vmm"},
		"wizard":    {"store", "store/kv", "vmm", "queue"},
		"stats":     {"store", "store/kv", "queue"},
		"reconcile": {"store", "store/kv", "vmm", "queue"},
		"backend":   {"store", "store/kv", "vmm", "queue", "wizard", "stats", "reconcile", "webhook", "lease"},
		"server":    {"backend", "store", "queue", "wizard", "stats", "vmm", "reconcile"},
		"webhook":   {"store", "store/kv", "queue"},
		"api":       {"backend", "store", "queue", "stats", "webhook", "wizard"},
		"lease":     nil, // the lanes' leases know nothing of the engine or the store they will fence
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
		top := ruledPackage(filepath.ToSlash(path))
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
			target := ruledPackage(rest)
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

// ruledPackage is the package the import rules name for a path inside the module: its top folder,
// except store/kv, which the rules name on its own.
func ruledPackage(path string) string {
	if path == "store/kv" || strings.HasPrefix(path, "store/kv/") {
		return "store/kv"
	}
	top, _, _ := strings.Cut(path, "/")
	return top
}

func TestRuledPackage(t *testing.T) {
	for path, want := range map[string]string{
		"store/db.go": "store", "store/kv/bolt.go": "store/kv", "store/kv": "store/kv", "store/kv/pgkv/pgkv.go": "store/kv",
		"store/kvx/a.go": "store", "queue/index.go": "queue", "main.go": "main.go",
	} {
		if got := ruledPackage(path); got != want {
			t.Errorf("ruledPackage(%q) = %q, want %q", path, got, want)
		}
	}
}
