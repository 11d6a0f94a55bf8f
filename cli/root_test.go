package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"vmmpm/internal/disktest"
	"vmmpm/internal/pgtest"
)

// TestMain points the XDG defaults at a throwaway folder, so a test that forgets --db never touches
// the real ~/.local/share/vmmpm. Package main must not define another TestMain.
func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" { // a test re-executed this binary as vmmpm itself
		if d, err := time.ParseDuration(os.Getenv(envFollowPoll)); err == nil {
			FollowPoll = d
		}
		os.Exit(Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(envReceiver) != "" { // a test re-executed this binary as a webhook receiver
		os.Exit(runReceiver())
	}
	dir, err := os.MkdirTemp("", "vmmpm-main-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, env := range []string{"XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"} {
		os.Setenv(env, filepath.Join(dir, env))
	}
	os.Unsetenv("VMMPM_DB")
	code := pgtest.Main(m) // stops the PostgreSQL the shared-database tests may have started
	os.RemoveAll(dir)
	os.Exit(code)
}

// envRunMain makes the test binary behave as the vmmpm binary (see vmmpmCmd).
const envRunMain = "VMMPM_TEST_RUN_MAIN"

// envFollowPoll sets FollowPoll in a re-executed vmmpm (jobs --follow's poll of a shared database).
const envFollowPoll = "VMMPM_TEST_FOLLOW_POLL"

// vmmpmCmd is the vmmpm program with args, run from this test binary in its own process. CI is left
// out: termenv takes it to mean "no terminal", and these programs run on a real one.
func vmmpmCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(environWithout(os.Environ(), "CI"), envRunMain+"=1")
	return cmd
}

// runCLI runs the command tree in-process and returns what it printed and its exit code.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI runs the command tree and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("vmmpm %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// requireSentence checks a failure printed exactly one line, prefixed "vmmpm: ", containing want.
func requireSentence(t *testing.T, stderr, want string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "vmmpm: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one line starting \"vmmpm: \": %q", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q does not say %q", stderr, want)
	}
}

// tempDB returns a database path in a fresh temp folder.
func tempDB(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "vmmpm.db")
}

func TestVersionFlag(t *testing.T) {
	out, _, code := runCLI(t, "", "--version")
	if code != 0 || !strings.Contains(out, version) {
		t.Fatalf("--version: code %d, out %q", code, out)
	}
}

// TestListOnReadOnlyFileSystem: a database that cannot be written is still listed, read-only, and the
// command says so; a command that changes records is refused.
func TestListOnReadOnlyFileSystem(t *testing.T) {
	dir := disktest.Tmpfs(t, "4m")
	db := filepath.Join(dir, "vmmpm.db")
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	disktest.ReadOnly(t, dir)
	out, errOut, code := runCLI(t, "", "--db", db, "datacenter", "list")
	if code != 0 || !strings.Contains(out, "DC One") {
		t.Fatalf("datacenter list on a read-only file system: exit %d, %q %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "read-only") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("stderr does not say, in one line, that the database is read-only: %q", errOut)
	}
	if out, _, code := runCLI(t, "", "--db", db, "jobs"); code != 0 {
		t.Errorf("jobs on a read-only file system: exit %d, %q", code, out)
	}
	if out, errOut, code := runCLI(t, "", "--db", db, "status"); code != 0 || !strings.Contains(out, "database:") {
		t.Errorf("status on a read-only file system: exit %d, %q %q", code, out, errOut)
	}
	if _, _, code := runCLI(t, "", "--db", db, "datacenter", "add", "DC Two"); code == 0 {
		t.Error("datacenter add succeeded on a read-only file system")
	}
}

// TestSamePathResolvesLinks: a --db that is a link to the served file names the same database.
func TestSamePathResolvesLinks(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "vmmpm.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	if !samePath(link, db) || samePath(filepath.Join(dir, "other.db"), db) {
		t.Errorf("samePath(link, db) = %v, samePath(other, db) = %v; want true, false", samePath(link, db),
			samePath(filepath.Join(dir, "other.db"), db))
	}
}
