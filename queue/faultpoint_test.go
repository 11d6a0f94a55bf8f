package queue

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envStopChild = "VMMPM_STOP_HERE_CHILD"

// TestStopHereStopsAtOnce: a process that stops itself at a fault point is stopped before the next
// line of the goroutine that stopped it runs (the chaos test's frozen engine must not re-check its
// lease before the freeze). A child writes "before", stops, writes "after"; once the kernel shows it
// stopped, its output file holds only "before"; SIGCONT lets it write the rest.
func TestStopHereStopsAtOnce(t *testing.T) {
	if out := os.Getenv(envStopChild); out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			os.Exit(3)
		}
		fmt.Fprintln(f, "before")
		stopHere()
		fmt.Fprintln(f, "after")
		os.Exit(0)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStopHereStopsAtOnce$")
	cmd.Env = append(os.Environ(), envStopChild+"="+out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	stat := fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b, err := os.ReadFile(stat)
		// The state follows the command name in parentheses: "T" is stopped.
		if i := bytes.LastIndexByte(b, ')'); err == nil && i > 0 && strings.HasPrefix(string(b[i+1:]), " T") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not stop within 30 s (%s)", b)
		}
	}
	if got, _ := os.ReadFile(out); string(got) != "before\n" {
		t.Fatalf("stopped child wrote %q, want only its line before the stop", got)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child after SIGCONT: %v", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "before\nafter\n" {
		t.Errorf("woken child wrote %q", got)
	}
}
