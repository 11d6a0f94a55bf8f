package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"
)

// CrashReport writes what a recovered panic was, with the stack, to a file of its own beside the log
// ($XDG_STATE_HOME/vmmpm/crash-<time>.txt, mode 0600) and returns the one sentence to show instead:
// a stack never reaches the admin's terminal. Passwords are never in what panics carry (they live in
// the keyring and in argument lists the engine does not print).
func CrashReport(p any, stack []byte) error {
	now := time.Now()
	dir := filepath.Dir(DefaultLogPath())
	path := filepath.Join(dir, "crash-"+now.UTC().Format("20060102T150405.000000000Z")+".txt")
	body := fmt.Sprintf("vmmpm crash report, %s, pid %d\n\n%v\n\n%s", now.Format(time.RFC3339Nano), os.Getpid(), p, stack)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = os.WriteFile(path, []byte(body), 0o600)
	}
	if err != nil {
		return fmt.Errorf("vmmpm stopped on an internal error (a bug, not your input), and its report could not be written to %s (%v); please report the command you ran", dir, err)
	}
	return fmt.Errorf("vmmpm stopped on an internal error (a bug, not your input); nothing more was changed, and the details are in %s: please send that file with a report", path)
}

// Recovered turns a panic recovered at an entry point (r is recover()'s value) into CrashReport's
// sentence; nil when nothing panicked.
func Recovered(r any) error {
	if r == nil {
		return nil
	}
	return CrashReport(r, debug.Stack())
}

// ExitOnPanic, deferred at the top of a goroutine nothing in the process can stand in for (the engine's
// committer, its probes), turns a panic into the crash report's sentence on stderr and exit 1: the
// file holds what was committed, and the next start goes on from there. Never a stack on the terminal.
func ExitOnPanic() {
	if err := Recovered(recover()); err != nil {
		fmt.Fprintln(os.Stderr, "vmmpm: "+err.Error())
		os.Exit(1)
	}
}

// LogPanic, deferred at the top of a goroutine whose work may stop alone (the figures, webhook
// deliveries), turns a panic into a crash report and one log line saying what stopped; the rest goes on.
func LogPanic(log *slog.Logger, what string) {
	if err := Recovered(recover()); err != nil {
		if log == nil {
			log = slog.Default()
		}
		log.Error(what+" stopped; the rest goes on", "error", err.Error())
	}
}
