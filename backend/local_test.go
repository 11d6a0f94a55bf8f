package backend_test

import (
	"os"
	"testing"

	"vmmpm/backend"
	"vmmpm/backend/backendtest"
	"vmmpm/internal/storetest"
)

// TestMain stops the PostgreSQL cluster the suite may have started (VMMPM_TEST_STORE=postgres).
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// TestConformance runs the Backend suite against Local, in this process: it keeps no events to
// resume from and its event numbers start again with each engine.
func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Driver{
		Addr: storetest.Path,
		Open: func(t *testing.T, env *backendtest.Env) backend.Backend {
			return backend.NewLocal(env.DB, env.Secrets, env.Engine, env.Version)
		},
	})
}
