package main

import (
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/internal/disktest"
)

// TestListOnReadOnlyFileSystem: a database that cannot be written is still listed, read-only, and the
// command says so; a command that changes records is refused.
func TestListOnReadOnlyFileSystem(t *testing.T) {
	dir := disktest.Tmpfs(t, "4m")
	db := filepath.Join(dir, "vmmpm.db")
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	disktest.ReadOnly(t, dir)
	out, errOut, code := runCLI(t, "", "--db", db, "datacenter", "list")
	if code != 0 || !strings.Contains(out, "DC One") {
		t.Fatalf("datacenter list on a read-only file system: exit %d, %q %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "read-only") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("stderr does not say, in one line, that the database is read-only: %q", errOut)
	}
	if out, _, code := runCLI(t, "", "--db", db, "jobs"); code != 0 {
		t.Errorf("jobs on a read-only file system: exit %d, %q", code, out)
	}
	if _, _, code := runCLI(t, "", "--db", db, "datacenter", "add", "DC Two"); code == 0 {
		t.Error("datacenter add succeeded on a read-only file system")
	}
}
