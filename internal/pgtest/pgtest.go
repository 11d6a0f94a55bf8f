// Package pgtest gives tests a PostgreSQL schema of their own: on the server VMMPM_TEST_POSTGRES
// names (as .ci/test exports it), or else on a throwaway cluster started once per test binary from
// Debian's PostgreSQL, the same way .ci/test starts one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Env names the variable holding the test server's address (postgres://…).
const Env = "VMMPM_TEST_POSTGRES"

// startDeadline bounds initdb plus the first answer on a loaded 2-core CI machine.
const startDeadline = 2 * time.Minute

var (
	once    sync.Once
	base    string
	baseErr error
	started *cluster
)

// Main runs a package's tests and then stops the cluster New started, if any: call it from
// TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if started != nil {
		started.stop()
	}
	return code
}

// BaseURL is the address of the test server itself (its default schema), starting one if needed.
func BaseURL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if base = os.Getenv(Env); base != "" {
			return
		}
		started, baseErr = startCluster()
		if baseErr == nil {
			base = started.url
		}
	})
	if baseErr != nil {
		t.Fatalf("pgtest: no PostgreSQL to test against (%v): run bash .ci/test, or set %s to a server's postgres:// address", baseErr, Env)
	}
	return base
}

// URL creates a schema for this test alone, dropped when the test ends, and returns the address whose
// connections use it (search_path). Several pools on it (Open) stand for several hosts.
func URL(t testing.TB) string {
	t.Helper()
	b := BaseURL(t)
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	schema := "test_" + hex.EncodeToString(raw[:])
	admin := connect(t, b)
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		c := connect(t, b)
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(b, schema)
}

// New is a pool on a fresh schema of this test's own, closed when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return Open(t, URL(t))
}

// Open is a pool on address u, closed when the test ends (before its schema is dropped).
func Open(t testing.TB, u string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatalf("pgtest: pool on %s: %v", u, err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", u, err)
	}
	return c
}

// withSearchPath adds search_path to a URL or a keyword/value connection string; pgx sends
// unknown parameters as run-time settings.
func withSearchPath(conn, schema string) string {
	if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
		return conn + " search_path=" + schema
	}
	u, err := url.Parse(conn)
	if err != nil {
		return conn + "?search_path=" + schema // pgx reports the malformed address itself
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// cluster is a throwaway PostgreSQL in a temporary folder.
type cluster struct {
	dir    string
	url    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when postgres has exited
}

// startCluster runs initdb (as the postgres user when root: initdb refuses root) and postgres
// on a free loopback port, without fsync, and waits until it answers.
func startCluster() (*cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vmmpm-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	cred, err := c.owner()
	if err == nil {
		err = c.run(cred, filepath.Join(bin, "initdb"), "--no-sync", "-D", c.data(), "-U", "postgres", "--auth=trust")
	}
	for try := 0; err == nil && c.cmd == nil && try < 5; try++ {
		err = c.start(cred, filepath.Join(bin, "postgres"))
	}
	if err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// findBin picks the newest Debian PostgreSQL, else one on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	for _, d := range slices.Backward(dirs) {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%s is unset and no initdb was found under /usr/lib/postgresql or on PATH", Env)
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

// owner hands the folder to the postgres user when we are root and says whom to run as.
func (c *cluster) owner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user Debian's package creates: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (c *cluster) command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	// Dies with the test binary even when Main never runs (a panic, a forgotten TestMain).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

func (c *cluster) run(cred *syscall.Credential, name string, args ...string) error {
	if out, err := c.command(cred, name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(name), err, out)
	}
	return nil
}

// start runs postgres on a port that was free a moment ago; when it was taken meanwhile postgres
// exits and start reports nil with c.cmd unset, so the caller tries another port.
func (c *cluster) start(cred *syscall.Credential, postgres string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(c.dir, "server.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := c.command(cred, postgres, "-D", c.data(), "-p", strconv.Itoa(port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	for deadline := time.Now().Add(startDeadline); time.Now().Before(deadline); {
		select {
		case <-exited:
			return nil
		case <-time.After(50 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			c.cmd, c.url, c.exited = cmd, u, exited
			return nil
		}
	}
	_ = cmd.Process.Kill()
	<-exited
	out, _ := os.ReadFile(log.Name())
	return fmt.Errorf("postgres did not answer within %v: %s", startDeadline, out)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts postgres down at once (SIGQUIT: nothing here needs keeping) and removes the folder.
func (c *cluster) stop() {
	if c.cmd != nil {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		<-c.exited
	}
	_ = os.RemoveAll(c.dir)
}
