package riverpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgEnv names the server both sides run on, as .ci/test and run.sh export it.
const pgEnv = "VMMPM_TEST_POSTGRES"

// serverURL is the postgres:// address pgEnv names; the benchmark starts no server of its own.
func serverURL(b *testing.B) string {
	b.Helper()
	u := os.Getenv(pgEnv)
	if u == "" {
		b.Fatalf("%s is unset: run bash bench/riverpg/run.sh, which starts a throwaway PostgreSQL, or set it to a server's postgres:// address", pgEnv)
	}
	if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		b.Fatalf("%s is not a postgres:// address; set it to one such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", pgEnv)
	}
	return u
}

// freshSchema creates a schema for this run alone, dropped when b ends, and returns the address
// whose connections use it (search_path), so runs never see each other's tables.
func freshSchema(b *testing.B, prefix string) string {
	b.Helper()
	base := serverURL(b)
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	schema := prefix + "_" + hex.EncodeToString(raw[:])
	exec(b, base, "CREATE SCHEMA "+schema)
	b.Cleanup(func() { exec(b, base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		b.Fatalf("%s does not parse as an address (%v); set it to one such as postgres://postgres@127.0.0.1:5432/postgres", pgEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown parameters as run-time settings
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on its own connection.
func exec(b *testing.B, u, sql string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		b.Fatalf("connect to %s: %v", pgEnv, err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		b.Fatalf("%s: %v", sql, err)
	}
}
