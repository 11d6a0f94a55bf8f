package ui_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/server"
	"vmmpm/ui"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
)

// closeSeen is a backend whose Close is seen by the test.
type closeSeen struct {
	backend.Backend
	closed chan struct{}
}

func (c *closeSeen) Close() error { close(c.closed); return nil }

// TestFallbackWhileServerStoodDown: a TUI attached over a real Unix socket whose server stops says
// "reattaching…" while the fallback maker finds none; once it makes one, the status line says the
// server stood down and shows the fallback's mode, the screens read it and follow its events (a
// service created meanwhile shows with no key pressed); when the socket answers again, the TUI is
// attached again and the fallback closed.
func TestFallbackWhileServerStoodDown(t *testing.T) {
	was := common.FallbackAfter
	common.FallbackAfter = 200 * time.Millisecond
	// Put back after the TUI's Close (cleanups run last registered first), which waits for the
	// goroutine that reads it: a defer would run before, beside that goroutine (the race detector saw it).
	t.Cleanup(func() { common.FallbackAfter = was })
	f := world(t)
	local := backend.NewLocal(f.DB, f.Secrets, f.Engine, "test")
	view := backend.NewLocal(f.DB, f.Secrets, f.Engine, "test")
	view.Mode = backend.ModeReadOnly
	fb := &closeSeen{Backend: view, closed: make(chan struct{})}
	var asked atomic.Int32
	fallback := func(context.Context) (backend.Backend, error) {
		if asked.Add(1) == 1 {
			return nil, errors.New("no other host holds the engine lease")
		}
		return fb, nil
	}

	term, c, sock, stop := attachedTUI(t, local, ui.Config{Fallback: fallback}, 160)
	term.Wait("attached to pid", "fra-kvm")
	term.Key("2")
	term.Wait("vps1.example.net")
	if n := asked.Load(); n != 0 {
		t.Fatalf("the fallback was asked %d times while the server answered", n)
	}

	stop()
	term.Wait("server GONE", "reattaching…")
	term.Wait(fmt.Sprintf("server pid %d stood down", os.Getpid()),
		"STANDBY view: no engine holds the lease now; attaching again when it serves")
	uitest.MustNot(t, term.Frame(), "STALE", "reattaching…")
	if n := asked.Load(); n != 2 {
		t.Errorf("the fallback was asked %d times; want 2 (once refused, once made)", n)
	}
	if _, err := local.CreateServices(context.Background(), "1", 1, "meanwhile@example.org"); err != nil {
		t.Fatal(err)
	}
	term.Wait("meanwhile@example.org")

	restart := socketServer(t, local, sock)
	defer restart()
	term.WaitFor("attached again", 30*time.Second, func(frame string) bool {
		return strings.Contains(frame, "attached to pid") && !strings.Contains(frame, "stood down")
	})
	select {
	case <-fb.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the fallback was not closed once the server answered again")
	}
	if _, err := c.CreateServices(context.Background(), "1", 1, "after@example.org"); err != nil {
		t.Fatal(err)
	}
	term.Wait("after@example.org")
	term.Key("q")
	term.Finished(10 * time.Second)
}

// attachedTUI serves local on a real Unix socket and runs the TUI attached to it (cfg with the client
// as its Backend): the terminal, the client, the socket and the server's stop.
func attachedTUI(t *testing.T, local backend.Backend, cfg ui.Config, cols int) (*termtest.Terminal, *server.Client, string, func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "vui") // not t.TempDir: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	stop := socketServer(t, local, sock)
	c := server.NewClient(sock, "test")
	t.Cleanup(func() { _ = c.Close() })
	cfg.Backend, cfg.Theme, cfg.Clipboard = c, uitest.Plain(), io.Discard
	app := ui.NewApp(cfg)
	t.Cleanup(app.Close)
	return termtest.Start(t, app, cols, 40), c, sock, stop
}
