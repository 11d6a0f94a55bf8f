// Package storetest gives tests a database address, so the same tests prove both store drivers: a
// bbolt file in the test's temporary folder, or, when VMMPM_TEST_STORE=postgres (as .ci/test sets for
// its second run), a PostgreSQL schema of the test's own (pgtest), dropped when the test ends.
package storetest

import (
	"os"
	"path/filepath"
	"testing"

	"vmmpm/internal/pgtest"
)

// Env selects the driver the tests run on: "postgres", or unset/"bbolt" for a file.
const Env = "VMMPM_TEST_STORE"

// Postgres reports whether this run proves the PostgreSQL driver.
func Postgres() bool { return os.Getenv(Env) == "postgres" }

// Path is an address for a new, empty database: store.Open takes either kind.
func Path(t testing.TB) string {
	t.Helper()
	if Postgres() {
		return pgtest.URL(t)
	}
	return filepath.Join(t.TempDir(), "vmmpm.db")
}

// Main runs a package's tests and stops the PostgreSQL cluster pgtest may have started for them:
// call it from TestMain as os.Exit(storetest.Main(m)).
func Main(m *testing.M) int { return pgtest.Main(m) }
