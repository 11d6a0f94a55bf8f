package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"vmmpm/internal/termtest"
	"vmmpm/server"
)

// startServeIn starts a real `vmmpm serve` in dir on the relative database name db, its socket where
// $XDG_RUNTIME_DIR=runtime puts it (no --socket), and waits until it answers.
func startServeIn(t *testing.T, dir, db, runtime string) *serveProc {
	t.Helper()
	cmd := vmmpmCmd("--db", db, "serve")
	cmd.Dir = dir
	cmd.Env = append(environWithout(cmd.Env, "VMMPM_SOCKET", "XDG_RUNTIME_DIR"), "XDG_RUNTIME_DIR="+runtime)
	return runServe(t, cmd)
}

// runServe starts cmd, a `vmmpm serve`, and waits until it says it started; it is killed at the end
// of the test if still running.
func runServe(t *testing.T, cmd *exec.Cmd) *serveProc {
	t.Helper()
	p := startProc(t, cmd)
	seen := 0
	termtest.Expect(t, p.out, &seen, "server started")
	return p
}

// startProc starts a serve process without waiting for anything; it is killed when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd) *serveProc {
	t.Helper()
	p := &serveProc{t: t, cmd: cmd, out: &termtest.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); p.done <- <-p.done })
	return p
}

// cronCLI runs vmmpm as cron or `sudo -i` would: no $XDG_RUNTIME_DIR, no VMMPM_SOCKET, in another
// working directory.
func cronCLI(t *testing.T, dir string, args ...string) (out string, code int) {
	t.Helper()
	cmd := vmmpmCmd(args...)
	cmd.Dir = dir
	cmd.Env = environWithout(cmd.Env, "VMMPM_SOCKET", "XDG_RUNTIME_DIR")
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(b), cmd.ProcessState.ExitCode()
}

// TestFoundFromAnywhere (issue 23 point 6): a server started in its database's folder with a runtime
// folder is found by commands that have neither (cron, sudo -i) and run elsewhere, through the record
// it keeps beside the database; when its socket is gone, the refusal names it and how to reach it; a
// clean stop removes the record, and one a killed server left is ignored.
func TestFoundFromAnywhere(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	runtime, err := os.MkdirTemp("", "rt") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(runtime)
	elsewhere := t.TempDir()
	srv := startServeIn(t, filepath.Dir(env.db), filepath.Base(env.db), runtime)
	pid := strconv.Itoa(srv.cmd.Process.Pid)
	sock := filepath.Join(runtime, "vmmpm", server.SocketName)
	if r, ok := server.FindRecord(env.db); !ok || r.Socket != sock || strconv.Itoa(r.PID) != pid {
		t.Fatalf("the record beside the database: %+v, %v; want pid %s socket %s", r, ok, pid, sock)
	}

	if out, code := cronCLI(t, elsewhere, "--db", env.db, "status"); code != 0 || !strings.Contains(out, "pid "+pid) {
		t.Fatalf("status from cron: exit %d\n%s", code, out)
	}
	// A stale --socket (or VMMPM_SOCKET) that answers nothing does not hide the recorded server.
	if out, code := cronCLI(t, elsewhere, "--db", env.db, "--socket", filepath.Join(elsewhere, "gone.sock"), "status"); code != 0 || !strings.Contains(out, "pid "+pid) {
		t.Fatalf("status with a stale --socket: exit %d\n%s", code, out)
	}
	out, code := cronCLI(t, elsewhere, "--db", env.db, "service", "create", "--client", "ann@example.org", "--tariff", "small")
	if code != 0 || !strings.Contains(out, "the vmmpm server (pid "+pid+") carries them out") {
		t.Fatalf("service create from cron: exit %d\n%s", code, out)
	}
	cmd := vmmpmCmd("jobs", "--json") // the database from VMMPM_DB, as a crontab line would set it
	cmd.Dir, cmd.Env = elsewhere, append(environWithout(cmd.Env, "VMMPM_SOCKET", "XDG_RUNTIME_DIR"), "VMMPM_DB="+env.db)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), `"type": "open"`) {
		t.Fatalf("jobs with VMMPM_DB from cron: %v\n%s", err, b)
	}

	// The runtime folder went away (systemd removes it at logout) while the server runs.
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	out, code = cronCLI(t, elsewhere, "--db", env.db, "jobs")
	if code == 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("jobs beside an unreachable server: exit %d, want one sentence:\n%s", code, out)
	}
	for _, want := range []string{"is held by vmmpm serve (pid " + pid + ")", sock, "--socket PATH or VMMPM_SOCKET"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}

	srv.stop()
	if _, err := os.Stat(server.RecordPath(env.db)); !os.IsNotExist(err) {
		t.Errorf("a clean stop left the record: %v", err)
	}
	srv = startServeIn(t, filepath.Dir(env.db), filepath.Base(env.db), runtime)
	_ = srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done
	srv.done <- nil
	if _, err := os.Stat(server.RecordPath(env.db)); err != nil {
		t.Fatalf("a killed server leaves its record: %v", err)
	}
	if out, code := cronCLI(t, elsewhere, "--db", env.db, "jobs"); code != 0 || strings.Contains(out, "held by") {
		t.Errorf("jobs after the server was killed (its record stale): exit %d\n%s", code, out)
	}
}
