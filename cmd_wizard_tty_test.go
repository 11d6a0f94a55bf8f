package main

import (
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vmmpm/internal/termtest"
)

// TestAccessibleWizardCtrlC runs `vmmpm module add --accessible` on a real terminal and presses ctrl+c,
// once at the first prompt and once at the password prompt (echo off): each time vmmpm stops at once
// with exit 1 and "nothing was saved", and the terminal echoes again.
func TestAccessibleWizardCtrlC(t *testing.T) {
	for _, at := range []string{"Product type", "Password"} {
		t.Run(at, func(t *testing.T) {
			master, slave := termtest.OpenPTY(t, 100, 30)
			cmd := vmmpmCmd("module", "add", "--accessible", "--no-color", "--db", tempDB(t))
			cmd.Env = append(environWithout(cmd.Env, "DBUS_SESSION_BUS_ADDRESS"), "TERM=xterm-256color")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			out := &termtest.SyncBuffer{}
			go func() { _, _ = io.Copy(out, master) }()
			seen := 0
			termtest.AnswerBackgroundQuery(t, out, &seen, master)
			answer := func(prompt, line string) {
				t.Helper()
				termtest.Expect(t, out, &seen, prompt)
				if _, err := master.Write([]byte(line)); err != nil {
					t.Fatal(err)
				}
			}
			if at == "Password" {
				answer("enter the number 1", "1\n")
				answer("enter the number 1", "1\n")
				answer("URL", "vmm.example.com\n")
				answer("Username", "admin@example.com\n")
			}
			answer(at, "\x03")
			termtest.Expect(t, out, &seen, "nothing was saved")
			select {
			case err := <-exited:
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
					t.Fatalf("ctrl+c: %v, want exit 1", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("vmmpm did not stop 15 s after ctrl+c")
			}
			tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 {
				t.Error("ctrl+c left the terminal without echo")
			}
			if s := out.String(); strings.Contains(s[seen:], "URL") {
				t.Errorf("the prompts went on after ctrl+c: %q", s[seen:])
			}
		})
	}
}
