package main

import (
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"vmmpm/internal/termtest"
)

// tui is vmmpm running in a pseudo-terminal; every key waits for what the screen shows before the
// next one, never for a fixed time.
type tui struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *termtest.SyncBuffer
	seen   int
	master *os.File
	slave  *os.File
	exited chan error
}

// runInPTY starts cmd on a cols×rows pseudo-terminal as its controlling terminal and answers the
// start-up background query.
func runInPTY(t *testing.T, cols, rows int, cmd *exec.Cmd) *tui {
	t.Helper()
	master, slave := termtest.OpenPTY(t, cols, rows)
	cmd.Env = append(cmd.Env, "TERM=xterm-256color")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	u := &tui{t: t, cmd: cmd, out: &termtest.SyncBuffer{}, master: master, slave: slave, exited: make(chan error, 1)}
	go func() { u.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	go func() { _, _ = io.Copy(u.out, master) }()
	termtest.AnswerBackgroundQuery(t, u.out, &u.seen, master)
	return u
}

func (u *tui) expect(texts ...string) {
	u.t.Helper()
	for _, s := range texts {
		termtest.Expect(u.t, u.out, &u.seen, s)
	}
}

// key types one key; keys written together would arrive as one multi-rune key.
func (u *tui) key(k string) {
	u.t.Helper()
	if _, err := u.master.Write([]byte(k)); err != nil {
		u.t.Fatal(err)
	}
}

// wait returns how vmmpm exited, failing the test if it has not within 20 s.
func (u *tui) wait(after string) error {
	u.t.Helper()
	select {
	case err := <-u.exited:
		return err
	case <-time.After(20 * time.Second):
		u.t.Fatalf("vmmpm did not exit 20 s after %s", after)
		return nil
	}
}

// quit presses q and waits for vmmpm to exit 0, so the database is free for the checks that follow.
func (u *tui) quit() {
	u.t.Helper()
	u.key("q")
	if err := u.wait("q"); err != nil {
		u.t.Fatalf("q: %v, want exit 0", err)
	}
}
