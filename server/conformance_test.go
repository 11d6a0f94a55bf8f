package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/backend/backendtest"
	"vmmpm/internal/storetest"
)

// TestMain stops the PostgreSQL cluster the suite may have started (VMMPM_TEST_STORE=postgres).
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// conformanceKeep is the hub's ring during the suite: small, so outrunning it takes few events.
const conformanceKeep = 16

// TestConformance runs the Backend suite against Client, over a real Unix socket, to a server
// serving a Local: it keeps HubKeep events to resume from, numbers them on across restarts, and
// sends light streams as notices.
func TestConformance(t *testing.T) {
	setVar(t, &HubKeep, conformanceKeep)
	backendtest.Run(t, backendtest.Driver{
		Addr: storetest.Path,
		Caps: backendtest.Caps{Attached: true, Keep: conformanceKeep, DurableSeq: true, Light: true},
		Open: func(t *testing.T, env *backendtest.Env) backend.Backend {
			return serveLocal(t, backend.NewLocal(env.DB, env.Secrets, env.Engine, env.Version), env.DB, env.Version)
		},
	})
}

// setVar sets a package variable for the test's length.
func setVar[T any](t *testing.T, v *T, to T) {
	old := *v
	*v = to
	t.Cleanup(func() { *v = old })
}

// served is a Client to a server of its own; closing it stops the server and closes what it served.
type served struct {
	*Client
	srv  *Server
	once sync.Once
	stop func() error
	err  error
}

func (s *served) Close() error {
	s.once.Do(func() { s.err = s.stop() })
	return s.err
}

// serveLocal serves b (closed with the server) on a socket in a short temporary folder (a socket
// path has at most 107 bytes, and t.TempDir's are long) and dials it.
func serveLocal(t *testing.T, b backend.Backend, seqs SeqStore, version string, log ...*slog.Logger) *served {
	t.Helper()
	dir, err := os.MkdirTemp("", "vs")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, SocketName)
	ln, err := Listen(sock)
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatal(err)
	}
	var logger *slog.Logger
	if len(log) > 0 {
		logger = log[0]
	}
	srv, err := New(b, seqs, version, sock, logger)
	if err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	c, _, err := Dial(t.Context(), sock, version)
	if err != nil || c == nil {
		cancel()
		<-done
		_ = os.RemoveAll(dir)
		t.Fatalf("dialling the server on %s: %v", sock, err)
	}
	s := &served{Client: c, srv: srv}
	s.stop = func() error {
		_ = c.Close()
		cancel()
		err := <-done
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		_ = os.RemoveAll(dir)
		return err
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
