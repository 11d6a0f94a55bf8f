package backend_test

import (
	"testing"

	"vmmpm/backend"
	"vmmpm/backend/backendtest"
)

// TestConformance runs the Backend suite against Local, in this process: it keeps no events to
// resume from and its event numbers start again with each engine.
func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Driver{
		Open: func(t *testing.T, env *backendtest.Env) backend.Backend {
			return backend.NewLocal(env.DB, env.Secrets, env.Engine, env.Version)
		},
	})
}
