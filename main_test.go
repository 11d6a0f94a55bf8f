package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command tree in-process and returns what it printed and its exit code.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// tempDB returns a database path in a fresh temp folder.
func tempDB(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "vmmpm.db")
}

func TestVersionFlag(t *testing.T) {
	out, _, code := runCLI(t, "", "--version")
	if code != 0 || !strings.Contains(out, version) {
		t.Fatalf("--version: code %d, out %q", code, out)
	}
}
