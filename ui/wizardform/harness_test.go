package wizardform

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"vmmpm/backend"
	"vmmpm/server"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii) // goldens are plain text
	os.Exit(m.Run())
}

// probe hosts the wizard like the TUI shell would, and keeps the last rendered view for assertions.
type probe struct {
	wiz       *Model
	watch     string // a secret that must never be drawn
	leaked    bool
	mu        sync.Mutex
	view      string
	saved     *SavedMsg
	cancelled bool
}

func (p *probe) Init() tea.Cmd { return p.wiz.Init() }

func (p *probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case SavedMsg:
		p.mu.Lock()
		p.saved = &msg
		p.mu.Unlock()
		return p, tea.Quit
	case CancelledMsg:
		p.mu.Lock()
		p.cancelled = true
		p.mu.Unlock()
		return p, tea.Quit
	}
	_, cmd := p.wiz.Update(msg)
	return p, cmd
}

func (p *probe) View() string {
	v := p.wiz.View()
	p.mu.Lock()
	p.view = v
	if p.watch != "" && strings.Contains(v, p.watch) {
		p.leaked = true
	}
	p.mu.Unlock()
	return v
}

// watchFor sets a secret that must never be drawn; the program is already running, so take the lock.
func (p *probe) watchFor(secret string) {
	p.mu.Lock()
	p.watch = secret
	p.mu.Unlock()
}

func (p *probe) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.view
}

// harness: a real temp database, the real keyring (isolated service) and the emulator on loopback.
type harness struct {
	t       *testing.T
	w, h    int // terminal size
	db      *store.DB
	secrets store.Secrets
	simURL  string
	p       *probe
	tm      *teatest.TestModel
}

type seedFn func(t *testing.T, db *store.DB)

func seedDefault(t *testing.T, db *store.DB) {
	t.Helper()
	for _, r := range []store.Record{
		&store.DataCenter{Name: "Partner DC", ExternalID: "ext-42"}, &store.DataCenter{Name: "Moscow"},
		&store.Department{Name: "Support"}, &store.Department{Name: "Sales"},
	} {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
}

func newHarness(t *testing.T, srv *httptest.Server, seed seedFn) *harness {
	t.Helper()
	return newHarnessWith(t, srv, seed, func(*harness) Options { return Options{} })
}

// newHarnessWith is newHarness with wizard options built from the harness (its emulator URL, say).
func newHarnessWith(t *testing.T, srv *httptest.Server, seed seedFn, opts func(*harness) Options) *harness {
	t.Helper()
	return newHarnessOn(t, srv, seed, opts, false)
}

// newAttachedHarness is newHarness with the wizard talking to a server over a real socket, as in a
// TUI attached to `vmmpm serve`: the checks, the keyring and the save happen on the server's side.
func newAttachedHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, nil, seedDefault, func(*harness) Options { return Options{} }, true)
}

// serve puts b behind a server on a socket in t's folder and returns a client of it.
func serve(t *testing.T, b backend.Backend) backend.Backend {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(b, nil, "test", sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	c := server.NewClient(sock, "test")
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newHarnessOn(t *testing.T, srv *httptest.Server, seed seedFn, opts func(*harness) Options, attached bool) *harness {
	t.Helper()
	t.Setenv("VMMPM_KEYRING_SERVICE", testService())
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if seed != nil {
		seed(t, db)
	}
	if srv == nil {
		srv = httptest.NewServer(sim.New(sim.Config{}))
		t.Cleanup(srv.Close)
	}
	h := &harness{t: t, db: db, secrets: store.NewKeyring(), simURL: srv.URL}
	o := opts(h)
	h.w, h.h = 100, 30
	if o.Width != 0 {
		h.w, h.h = o.Width, o.Height
	}
	o.Width, o.Height = h.w, h.h
	var b backend.Backend = backend.NewLocal(db, h.secrets, nil, "test")
	if attached {
		b = serve(t, b)
	}
	h.p = &probe{wiz: New(b, o)}
	h.tm = teatest.NewTestModel(t, h.p, teatest.WithInitialTermSize(h.w, h.h))
	t.Cleanup(func() { _ = h.tm.Quit() })
	return h
}

// waitFor polls the rendered view until cond holds (lazygit-style: assertions wait, never sleep).
func (h *harness) waitFor(what string, cond func(string) bool) string {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := h.p.last()
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; screen:\n%s", what, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitText(s string) string {
	h.t.Helper()
	return h.waitFor(fmt.Sprintf("%q", s), func(v string) bool { return strings.Contains(v, s) })
}

// focus waits until the field titled title has the focus bar.
func (h *harness) focus(title string) {
	h.t.Helper()
	h.waitText("┃ " + title)
}

// stable waits until the view stops changing (dynamic descriptions are computed asynchronously).
func (h *harness) stable() string {
	h.t.Helper()
	prev, same := "", 0
	deadline := time.Now().Add(10 * time.Second)
	for same < 8 {
		if time.Now().After(deadline) {
			h.t.Fatal("the view never settled")
		}
		time.Sleep(10 * time.Millisecond)
		if v := h.p.last(); v == prev {
			same++
		} else {
			prev, same = v, 0
		}
	}
	return prev
}

// testService is unique per run but always the same length, so snapshots can mask it without reflowing.
func testService() string {
	return fmt.Sprintf("vmmpm-test-ui-%020d", uint64(time.Now().UnixNano())^uint64(os.Getpid())<<40)
}

var (
	portRE    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	serviceRE = regexp.MustCompile(`vmmpm-test-ui-\d{20}`)
)

// mask replaces what differs between runs with same-width stand-ins.
func mask(v string) string {
	v = portRE.ReplaceAllStringFunc(v, func(s string) string {
		return "127.0.0.1:" + strings.Repeat("P", len(s)-len("127.0.0.1:"))
	})
	v = serviceRE.ReplaceAllString(v, "vmmpm-test-ui-"+strings.Repeat("X", 20))
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// snapshot compares the settled view with testdata/<test>/<name>.golden (regenerate with -update).
func (h *harness) snapshot(name string) {
	h.t.Helper()
	v := mask(h.stable())
	if n := strings.Count(v, "\n"); n != h.h {
		h.t.Fatalf("%s: the view is %d lines, want %d", name, n, h.h)
	}
	h.t.Run(name, func(t *testing.T) { golden.RequireEqual(t, []byte(v)) })
}

func (h *harness) typeText(s string) { h.tm.Type(s) }
func (h *harness) key(k tea.KeyType) { h.tm.Send(tea.KeyMsg{Type: k}) }
func (h *harness) enter()            { h.key(tea.KeyEnter) }

func (h *harness) finish() *probe {
	h.t.Helper()
	h.tm.WaitFinished(h.t, teatest.WithFinalTimeout(10*time.Second))
	return h.p
}
