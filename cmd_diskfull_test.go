package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestTUIShowsDiskPause runs the TUI (engine inside) on a database on a 3 MiB tmpfs filled to the brim:
// the status line says the engine is paused and why, and once the filler is deleted every job finishes
// without a restart (CI runs as root, which mounting needs).
func TestTUIShowsDiskPause(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a 3 MiB tmpfs to fill its disk needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	env := newEngineEnvAt(t, time.Millisecond, filepath.Join(dir, "vmmpm.db"))
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "small", "--count", "60")
	filler := filepath.Join(dir, "filler")
	fillUp(t, filler)

	tui := env.startTUI()
	tui.expect("engine PAUSED: disk full on " + dir)
	tui.expect("bytes free")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	_, _ = tui.master.Write([]byte("3"))
	tui.expect("Done 60")
	tui.quit()
	noVMTwice(t, env)
}

// fillUp writes path until the file system has no room left.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
