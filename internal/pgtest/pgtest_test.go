package pgtest

import (
	"context"
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestSchemaOfItsOwn: two tests' schemas never see each other's tables, and a schema is gone after
// its test.
func TestSchemaOfItsOwn(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("a", func(t *testing.T) {
		p := New(t)
		if _, err := p.Exec(ctx, "CREATE TABLE mine (x int)"); err != nil {
			t.Fatal(err)
		}
		if err := p.QueryRow(ctx, "SELECT current_schema()").Scan(&first); err != nil {
			t.Fatal(err)
		}
	})
	p := New(t)
	var schema string
	if err := p.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if schema == first || schema == "public" {
		t.Fatalf("second test's schema %q: want a fresh one, not %q or public", schema, first)
	}
	if _, err := p.Exec(ctx, "CREATE TABLE mine (x int)"); err != nil {
		t.Fatalf("a table of the same name in another schema: %v", err)
	}
	var left bool
	if err := p.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", first).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Fatalf("schema %s outlived its test", first)
	}
}

// TestStartsItsOwnCluster: without VMMPM_TEST_POSTGRES a cluster is started from Debian's
// PostgreSQL (as root through the postgres user), answers, and is gone with its folder after stop.
func TestStartsItsOwnCluster(t *testing.T) {
	c, err := startCluster()
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, c.url)
	var fsync string
	if err := conn.QueryRow(context.Background(), "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	c.stop()
	if fsync != "off" {
		t.Errorf("fsync = %s, want off on a throwaway cluster", fsync)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("folder %s left after stop (%v)", c.dir, err)
	}
	select {
	case <-c.exited:
	default:
		t.Error("postgres still running after stop")
	}
}

func TestSearchPath(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5/db?sslmode=disable": "postgres://u@h:5/db?search_path=s&sslmode=disable",
		"host=h port=5":                       "host=h port=5 search_path=s",
	} {
		if got := withSearchPath(in, "s"); got != want {
			t.Errorf("withSearchPath(%q) = %q, want %q", in, got, want)
		}
	}
}
