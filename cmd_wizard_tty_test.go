package main

import (
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAccessibleWizardCtrlC runs `vmmpm module add --accessible` on a real terminal and presses ctrl+c,
// once at the first prompt and once at the password prompt (echo off): each time vmmpm stops at once
// with exit 1 and "nothing was saved", and the terminal echoes again.
func TestAccessibleWizardCtrlC(t *testing.T) {
	for _, at := range []string{"Product type", "Password"} {
		t.Run(at, func(t *testing.T) {
			cmd := vmmpmCmd("module", "add", "--accessible", "--no-color", "--db", tempDB(t))
			cmd.Env = environWithout(cmd.Env, "DBUS_SESSION_BUS_ADDRESS")
			u := runInPTY(t, 100, 30, cmd)
			answer := func(prompt, line string) {
				t.Helper()
				u.expect(prompt)
				u.key(line)
			}
			if at == "Password" {
				answer("enter the number 1", "1\n")
				answer("enter the number 1", "1\n")
				answer("URL", "vmm.example.com\n")
				answer("Username", "admin@example.com\n")
			}
			answer(at, "\x03")
			u.expect("nothing was saved")
			if ee, ok := u.wait("ctrl+c").(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("ctrl+c: want exit 1")
			}
			tio, err := unix.IoctlGetTermios(int(u.slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 {
				t.Error("ctrl+c left the terminal without echo")
			}
			if s := u.out.String(); strings.Contains(s[u.seen:], "URL") {
				t.Errorf("the prompts went on after ctrl+c: %q", s[u.seen:])
			}
		})
	}
}
