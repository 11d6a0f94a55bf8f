package cli

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"vmmpm/internal/disktest"
	"vmmpm/internal/termtest"
	"vmmpm/queue"
	"vmmpm/store"
)

// TestTUIRefusesWithoutTerminal: `vmmpm` with stdin or stdout not a terminal exits 1 with a sentence
// naming the terminal and pointing at the commands, and opens nothing.
func TestTUIRefusesWithoutTerminal(t *testing.T) {
	for _, args := range [][]string{{}, {"--demo"}, {"--mouse"}} {
		db := tempDB(t)
		out, errOut, code := runCLI(t, "", append([]string{"--db", db}, args...)...)
		if code != exitFailure {
			t.Errorf("vmmpm %v: exit %d, want %d", args, code, exitFailure)
		}
		if !strings.Contains(errOut, "needs a terminal") || !strings.Contains(errOut, "vmmpm --help") ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("vmmpm %v: stderr %q, want one sentence about the terminal naming vmmpm --help", args, errOut)
		}
		if out != "" {
			t.Errorf("vmmpm %v printed %q", args, out)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("vmmpm %v created the database before refusing", args)
		}
	}
}

// TestTUIRefusesPipedStdout: a terminal on stdin is not enough; a pipe on stdout is refused too.
func TestTUIRefusesPipedStdout(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var errOut strings.Builder
	code := Run([]string{"--db", tempDB(t)}, r, w, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "terminal") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestRootRejectsArguments(t *testing.T) {
	_, errOut, code := runCLI(t, "", "--db", tempDB(t), "nonsense")
	if code != exitUsage || errOut == "" {
		t.Fatalf("vmmpm nonsense: exit %d, stderr %q", code, errOut)
	}
}

// TestDemoSession: the demo's database is temporary unless --db names one, holds the seed, keeps
// passwords in memory, and a --db that already exists is refused rather than reseeded.
func TestDemoSession(t *testing.T) {
	a := &app{}
	s, err := a.openSession(tuiOptions{demo: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	tmp := s.db.Path()
	mods, _ := store.All[store.Module](s.db)
	depts, _ := store.All[store.Department](s.db)
	tariffs, _ := store.All[store.Tariff](s.db)
	if len(mods) != 1 || mods[0].Cluster.Virtualization != store.VirtKVM || len(depts) != 2 || len(tariffs) != 1 {
		t.Fatalf("demo seed: %d modules, %d departments, %d tariffs", len(mods), len(depts), len(tariffs))
	}
	if !strings.Contains(s.secrets.Describe(), "memory") {
		t.Fatalf("demo secrets live in %q, want memory", s.secrets.Describe())
	}
	if pw, err := s.secrets.Get(mods[0].ID); err != nil || pw == "" {
		t.Fatalf("demo module password: %v", err)
	}
	s.close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary demo database %s survived", tmp)
	}

	keep := filepath.Join(t.TempDir(), "demo.db")
	s, err = a.openSession(tuiOptions{demo: true}, keep)
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("demo with --db did not keep %s: %v", keep, err)
	}
	if _, err := a.openSession(tuiOptions{demo: true}, keep); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("demo on an existing --db: %v", err)
	}
}

// TestEngineLogFile: the TUI's engine writes one line per transition to the log file, created 0600 in a
// 0700 folder, and the demo module's password never reaches it.
func TestEngineLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "vmmpm", "vmmpm.log")
	logger, closeLog := openLog(path)
	a := &app{}
	s, err := a.openSession(tuiOptions{demo: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	eng, err := queue.New(s.db, s.secrets, queue.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.demo.OpenServices(eng, 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eng.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}
	_ = eng.Close()
	closeLog()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), `msg="job done"`); n != 2 {
		t.Fatalf("want 2 job done lines in the log, got %d:\n%s", n, b)
	}
	mods, _ := store.All[store.Module](s.db)
	if pw, _ := s.secrets.Get(mods[0].ID); strings.Contains(string(b), pw) {
		t.Fatal("the module password reached the log")
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

// sgrColour finds SGR escape sequences that set a colour (30–49, 90–107, 38;…, 48;…).
var sgrColour = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m`)

// TestDemoInARealTerminal runs `NO_COLOR=1 vmmpm --demo` in a 120×40 pseudo-terminal with no D-Bus session,
// as an admin would over SSH: Modules appears, ? names the quit key, 3 shows jobs finishing, nothing is
// coloured, and q exits 0.
func TestDemoInARealTerminal(t *testing.T) {
	cmd := vmmpmCmd("--demo")
	cmd.Env = append(environWithout(cmd.Env, "DBUS_SESSION_BUS_ADDRESS", "COLORTERM"), "NO_COLOR=1")
	u := runInPTY(t, 120, 40, cmd)
	expect, key := func(text string) { t.Helper(); u.expect(text) }, u.key
	expect("Modules")
	expect("Demo KVM")
	expect("memory only")
	// Each key waits for its effect: keys written together arrive as one multi-rune key.
	key("?")
	expect("q or ctrl+c quits")
	key("?")
	expect("Demo KVM") // the list is back from under the help
	key("3")
	expect("QUEUE KEY")
	expect("done") // the demo's jobs finish while we watch
	if !sgrColour.MatchString("\x1b[38;5;99mX") || !sgrColour.MatchString("\x1b[1;31mX") {
		t.Fatal("the colour pattern misses colour sequences")
	}
	if c := sgrColour.FindString(u.out.String()); c != "" {
		t.Errorf("NO_COLOR output holds a colour sequence %q", c)
	}
	u.quit()
}

// environWithout drops the named variables from env.
func environWithout(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

// TestTUIShowsDiskPause runs the TUI (engine inside) on a database on a 3 MiB tmpfs filled to the brim:
// the status line says the engine is paused and why, and once the filler is deleted every job finishes
// without a restart (CI runs as root, which mounting needs).
func TestTUIShowsDiskPause(t *testing.T) {
	dir := disktest.Tmpfs(t, "3m")
	env := newEngineEnvAt(t, time.Millisecond, filepath.Join(dir, "vmmpm.db"))
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "60")
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

// startTUI is vmmpm's TUI on db (engine inside) in a 120×40 pseudo-terminal.
func startTUI(t *testing.T, db string) *tui {
	t.Helper()
	cmd := vmmpmCmd("--db", db)
	cmd.Env = append(environWithout(cmd.Env, "COLORTERM"), "NO_COLOR=1")
	return runInPTY(t, 120, 40, cmd)
}

const (
	keyDown      = "\x1b[B"
	keyUp        = "\x1b[A"
	keyBackspace = "\x7f"
	keyEnter     = "\r"
	keyCtrlS     = "\x13"
)

// typeText types s one key at a time.
func (u *tui) typeText(s string) {
	u.t.Helper()
	for _, r := range s {
		u.key(string(r))
	}
}
