package store_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/store"
)

// panicInGoroutine is the child of TestExitOnPanic: a goroutine with ExitOnPanic deferred panics.
func panicInGoroutine() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer store.ExitOnPanic()
		var jobs []int
		_ = jobs[len(os.Args)+2] // a real runtime panic: index out of range
	}()
	<-done
	os.Exit(0) // not reached: ExitOnPanic exits 1
}

// TestExitOnPanic: a panic in a goroutine nothing can stand in for ends the process with exit 1 and
// one sentence naming the crash report; no stack reaches the terminal.
func TestExitOnPanic(t *testing.T) {
	state := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envRole+"=panic", "XDG_STATE_HOME="+state)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("the child ended with %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	out := stderr.String()
	if strings.Count(strings.TrimSpace(out), "\n") != 0 || strings.Contains(out, "goroutine") || !strings.HasPrefix(out, "vmmpm: ") {
		t.Fatalf("stderr is not one sentence:\n%s", out)
	}
	reports, _ := filepath.Glob(filepath.Join(state, "vmmpm", "crash-*.txt"))
	if len(reports) != 1 || !strings.Contains(out, reports[0]) {
		t.Fatalf("reports %v; stderr %q", reports, out)
	}
}

// TestLogPanic: a panic in a goroutine whose work may stop alone becomes one log line and a report.
func TestLogPanic(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer store.LogPanic(log, "the figures")
		panic("a bug in the figures")
	}()
	<-done
	if out := buf.String(); !strings.Contains(out, "the figures stopped; the rest goes on") || !strings.Contains(out, "crash-") ||
		strings.Contains(out, "goroutine") {
		t.Fatalf("the log says:\n%s", out)
	}
}
