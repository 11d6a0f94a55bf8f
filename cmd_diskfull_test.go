package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"vmmpm/internal/disktest"
)

// TestTUIShowsDiskPause runs the TUI (engine inside) on a database on a 3 MiB tmpfs filled to the brim:
// the status line says the engine is paused and why, and once the filler is deleted every job finishes
// without a restart (CI runs as root, which mounting needs).
func TestTUIShowsDiskPause(t *testing.T) {
	dir := disktest.Tmpfs(t, "3m")
	env := newEngineEnvAt(t, time.Millisecond, filepath.Join(dir, "vmmpm.db"))
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "small", "--count", "60")
	filler := filepath.Join(dir, "filler")
	disktest.Fill(t, filler)

	tui := env.startTUI()
	tui.expect("engine PAUSED: disk full on " + dir)
	tui.expect("bytes free")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	tui.key("3")
	tui.expect("Done 60")
	tui.quit()
	noVMTwice(t, env)
}
