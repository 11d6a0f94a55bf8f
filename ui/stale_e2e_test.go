package ui_test

import (
	"context"
	"net"
	"regexp"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// socketServer serves b on a real Unix socket at sock until its stop is called; stop ends the server
// at once (no grace), as far as its clients can tell the same as a killed one.
func socketServer(t *testing.T, b backend.Backend, sock string) (stop func()) {
	t.Helper()
	srv, err := server.New(b, nil, "test", sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ctx, ln, 0) }()
	return func() { cancel(); <-served }
}

var staleMark = regexp.MustCompile(`STALE: server gone · showing \d\d:\d\d:\d\d`)

// TestStalePictureAfterServerGone: a TUI attached over a real Unix socket to a server that is then
// stopped keeps every screen's last picture (the jobs counts and rows, the services, the lanes, the
// module names, the tasks), each marked stale with the time it was read, and no screen turns empty;
// once a server answers again on the socket, the screens read again (a service created meanwhile shows)
// and the mark goes.
func TestStalePictureAfterServerGone(t *testing.T) {
	f := world(t)
	local := backend.NewLocal(f.DB, f.Secrets, f.Engine, "test")
	term, _, sock, stop := attachedTUI(t, local, ui.Config{}, 120)
	term.Wait("attached to pid", "fra-kvm")
	term.Key("3")
	term.Wait("Queued 2", "Failed 1", "Done 4", "cancelled by the administrator")

	stop()
	term.Wait("server GONE", "showing the picture of")
	jobs := term.WaitFor("the jobs pane marked stale", 30*time.Second, staleMark.MatchString)
	uitest.Must(t, jobs, "1 fra-kvm", "Queued 2", "Failed 1", "Done 4", "Cancelled 1", "vmm6-1-2", "0/2")
	uitest.MustNot(t, jobs, "no jobs in this tab")
	term.Key("right") // a tab not read before the server went says so, not "no jobs"
	term.Wait("[Queued 2]", "this tab was not read before the server went")

	// Screens never shown before the server went were read at start: their pictures are there too.
	for _, s := range []struct{ key, marker string }{
		{"2", "vps5.example.net"}, {"7", "vmm6-1-1"}, {"1", "fra-lxd"}, {"4", "open of service 3 failed"},
	} {
		term.Key(s.key)
		term.Wait(s.marker)
		v := term.WaitFor("screen "+s.key+" marked stale", 30*time.Second, staleMark.MatchString)
		uitest.Must(t, v, s.marker)
		uitest.MustNot(t, v, "no services", "no open tasks", "nothing was read")
	}
	lanes := func() string { term.Key("7"); return term.Wait("vmm6-1-1", "vmm6-1-2", "fra-kvm") }()
	uitest.MustNot(t, lanes, "reading the figures")
	uitest.MustNot(t, lanes, "nothing listens on") // the status line says the server is gone; the screen does not again
	term.Key("2")
	services := term.Wait("vps1.example.net")
	uitest.Must(t, services, "fra-kvm", "203.0.113.6", "VPS S")

	// Back: a service created meanwhile shows once the socket answers again.
	if _, err := local.CreateServices(context.Background(), "1", 1, "late@example.org"); err != nil {
		t.Fatal(err)
	}
	restart := socketServer(t, local, sock)
	defer restart()
	term.Wait("late@example.org")
	term.WaitFor("the stale mark gone", 30*time.Second, func(f string) bool { return !staleMark.MatchString(f) })
	term.Gone("server GONE")
	term.Key("q")
	term.Finished(10 * time.Second)
}
