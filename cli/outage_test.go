package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"vmmpm/backend"
	"vmmpm/internal/pgtest"
	"vmmpm/server"
	"vmmpm/store"
)

// TestServeOutlivesDatabaseOutage: the database refuses this host's connections for longer than the
// engine lease (as during a failover). serve's engine stops (its lease lapsed), serve itself keeps
// running and tries again every 5 s, and once the database answers it takes the engine again and
// runs new jobs: no restart by hand.
func TestServeOutlivesDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a lease and a rejoin pause")
	}
	base := pgtest.URL(t)
	admin := pgtest.Open(t, base)
	role := outageRole(t, admin, base)
	env := newEngineEnvAt(t, 50*time.Millisecond, role.url)
	env.cli("tariff", "add", "--spec", env.spec)
	sock := filepath.Join(hostDir(t, "o"), "s.sock")
	p := startProc(t, vmmpmCmd("--db", env.db, "--socket", sock, "serve", "--lease-ttl", "3s"))
	seen := 0
	expectWithin(t, p.out, &seen, "server started", 30*time.Second)

	role.refuse(t)
	expectWithin(t, p.out, &seen, "lost its lease", time.Minute)
	expectWithin(t, p.out, &seen, `this host waits as a standby again" why="lease lost"`, 30*time.Second)
	expectWithin(t, p.out, &seen, "cannot rejoin the engines of the shared database", 30*time.Second)
	select {
	case err := <-p.done:
		t.Fatalf("serve exited during the outage (%v):\n%s", err, p.out)
	default:
	}

	role.admit(t)
	expectWithin(t, p.out, &seen, "engine lease taken", time.Minute)
	expectWithin(t, p.out, &seen, "server started", 30*time.Second)
	c := server.NewClient(sock, version)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.CreateServices(ctx, "small", 2, "after@example.com"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the opens enqueued after the outage to finish", func() ([]*store.Job, error) {
		jl, err := c.Jobs(ctx, backend.JobQuery{})
		if err != nil {
			return nil, err
		}
		return jl.Jobs, nil
	}, func(js []*store.Job) bool { return allDone(js, 2) })
}

// pgRole is a login role of the test's own on its schema, whose connections the test can refuse.
type pgRole struct {
	name, url string
	exec      func(sql string) error
}

func outageRole(t *testing.T, admin *pgxpool.Pool, base string) *pgRole {
	t.Helper()
	var raw [4]byte
	_, _ = rand.Read(raw[:])
	r := &pgRole{name: "outage_" + hex.EncodeToString(raw[:])}
	r.exec = func(sql string) error { _, err := admin.Exec(context.Background(), sql); return err }
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	for _, sql := range []string{"CREATE ROLE " + r.name + " LOGIN", "GRANT ALL ON SCHEMA " + schema + " TO " + r.name} {
		if err := r.exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		_ = r.exec("DROP OWNED BY " + r.name + " CASCADE")
		_ = r.exec("DROP ROLE " + r.name)
	})
	u.User = url.User(r.name)
	r.url = u.String()
	return r
}

// refuse makes the database refuse the role's new connections and ends its open ones.
func (r *pgRole) refuse(t *testing.T) {
	t.Helper()
	for _, sql := range []string{"ALTER ROLE " + r.name + " NOLOGIN",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + r.name + "'"} {
		if err := r.exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// admit lets the role connect again.
func (r *pgRole) admit(t *testing.T) {
	t.Helper()
	if err := r.exec("ALTER ROLE " + r.name + " LOGIN"); err != nil {
		t.Fatal(err)
	}
}
