package ui_test

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/theme"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// world is a fixture with history: five services opened (service 3 failed with a department task),
// then three more queued behind them in the KVM module's two lanes, the last one cancelled.
func world(t *testing.T) *uitest.Fixture {
	t.Helper()
	f := uitest.Open(t, uitest.Executor(3))
	f.Services(t, 5)
	f.RunIdle(t)
	f.Services(t, 3)
	if err := f.Engine.Cancel(8); err != nil {
		t.Fatal(err)
	}
	return f
}

type appRun struct {
	*uitest.Driver
	clip *bytes.Buffer
}

func start(t *testing.T, f *uitest.Fixture) *appRun {
	t.Helper()
	clip := &bytes.Buffer{}
	app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), Now: func() time.Time { return uitest.Now },
		Clipboard: clip, NoTick: true})
	d := uitest.Drive(t, app)
	d.Send(tea.WindowSizeMsg{Width: uitest.Width, Height: uitest.Height})
	return &appRun{Driver: d, clip: clip}
}

// dbPath is the temporary database path on the status line, which changes from run to run.
var dbPath = regexp.MustCompile(`db /\S+ +`)

// TestGolden pins every screen at 120×40 with no colour; regenerate with `go test ./ui -update`.
func TestGolden(t *testing.T) {
	f := world(t)
	cases := []struct {
		name string
		keys []string
	}{
		{"modules", nil},
		{"services", []string{"2"}},
		{"jobs", []string{"3"}},
		{"jobs_failed", []string{"3", "right", "right", "right", "right"}},
		{"job_detail", []string{"3", "G", "k", "k", "enter"}},
		{"tasks", []string{"4"}},
		{"catalog", []string{"5"}},
		{"tariffs", []string{"6"}},
		{"params", []string{"1", "enter"}},
		{"help", []string{"3", "?"}},
		{"confirm_delete", []string{"1", "d"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := start(t, f)
			r.Keys(c.keys...)
			view := dbPath.ReplaceAllString(r.View(), "db <temp> ")
			if n := strings.Count(view, "\n") + 1; n != uitest.Height {
				t.Errorf("view has %d lines, want %d", n, uitest.Height)
			}
			golden.RequireEqual(t, []byte(view))
		})
	}
}

func TestScreenKeys(t *testing.T) {
	f := world(t)
	r := start(t, f)
	uitest.Must(t, r.View(), "[1 Modules]", "fra-kvm", "fra-lxd")
	r.Keys("tab")
	uitest.Must(t, r.View(), "[2 Services]")
	r.Keys("shift+tab", "shift+tab")
	uitest.Must(t, r.View(), "[8 Webhooks]", "no webhooks: add one with vmmpm webhook add URL")
	r.Keys("7")
	uitest.Must(t, r.View(), "[7 Lanes]", "vmm6-1-1", "vmm6-1-2", "fra-kvm", "fra-lxd")
	r.Keys("6")
	uitest.Must(t, r.View(), "[6 Tariffs]", "VPS S")
	r.Keys("4")
	uitest.Must(t, r.View(), "[4 Tasks]", "open of service 3 failed", "VMmanager answered HTTP 400")
	r.Keys("3")
	uitest.Must(t, r.View(), "[3 Jobs]", "Queued 2", "Failed 1", "Done 4", "Cancelled 1")
	if r.Quit {
		t.Fatal("quit before q")
	}
	r.Keys("q")
	if !r.Quit {
		t.Fatal("q did not quit")
	}
}

func TestQuitKeysNeverInsideTextField(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("/")
	r.Type("q1")
	if r.Quit {
		t.Fatal("q quit while typing in the filter")
	}
	uitest.Must(t, r.View(), "/q1", "[1 Modules]")
	r.Keys("ctrl+c")
	if r.Quit {
		t.Fatal("ctrl+c quit from inside the filter instead of leaving it")
	}
	r.Keys("ctrl+c")
	if !r.Quit {
		t.Fatal("ctrl+c outside a text field did not quit")
	}
}

func TestHelpNamesTheQuitKey(t *testing.T) {
	r := start(t, world(t))
	uitest.Must(t, r.View(), "? toggle help", "q quit")
	r.Keys("?")
	uitest.Must(t, r.View(), "Keys — Modules", "q         quit", "ctrl+c", "t     test connection", "/      filter")
	r.Keys("esc")
	uitest.MustNot(t, r.View(), "Keys — Modules")
}

func TestFilterAndCopy(t *testing.T) {
	r := start(t, world(t))
	r.Keys("/")
	r.Type("lxd")
	r.Keys("enter")
	v := r.View()
	uitest.Must(t, v, "fra-lxd", "filter: lxd")
	uitest.MustNot(t, v, "fra-kvm")
	r.Keys("y")
	if got := r.clip.String(); got != "\x1b]52;c;Mg==\a" { // base64("2")
		t.Fatalf("clipboard got %q, want the OSC 52 sequence for id 2", got)
	}
	uitest.Must(t, r.View(), "copied id 2")
	r.Keys("esc")
	uitest.Must(t, r.View(), "fra-kvm", "fra-lxd")
}

func TestStatusLineShowsSecretsAndTLS(t *testing.T) {
	r := start(t, world(t))
	uitest.Must(t, r.View(), "secrets: memory only", "module 1: TLS verified")
	r.Keys("j")
	uitest.Must(t, r.View(), "module 2: TLS NOT VERIFIED (insecure)")
}

// A pinned certificate or a CA file is said as such, not as plain "verified".
func TestStatusLineShowsPinAndCAFile(t *testing.T) {
	f := world(t)
	f.KVM.TLSPin = strings.Repeat("ab", 32)
	f.LXD.InsecureTLS, f.LXD.TLSCAFile = false, "/etc/vmmpm/vmm-ca.pem"
	if err := errors.Join(f.DB.Save(f.KVM), f.DB.Save(f.LXD)); err != nil {
		t.Fatal(err)
	}
	r := start(t, f)
	uitest.Must(t, r.View(), "module 1: TLS pinned")
	r.Keys("j")
	uitest.Must(t, r.View(), "module 2: TLS verified (CA file)")
}

// TestNoColor: with NO_COLOR's profile nothing on screen is an escape sequence; with a colour profile
// the same screen has some, so the check can fail.
func TestNoColor(t *testing.T) {
	f := world(t)
	defer uitest.Plain()
	lipgloss.SetColorProfile(termenv.ANSI256)
	colour := ui.New(ui.Options{Data: f.Data, Theme: theme.New(false), NoTick: true, Now: func() time.Time { return uitest.Now }})
	d := uitest.Drive(t, colour).Send(tea.WindowSizeMsg{Width: 120, Height: 40}).Keys("3")
	if !strings.Contains(d.Model.View(), "\x1b[") {
		t.Fatal("a colour profile produced no colour codes: the no-colour check below would prove nothing")
	}
	plain := ui.New(ui.Options{Data: f.Data, Theme: theme.Setup(true), NoTick: true, Now: func() time.Time { return uitest.Now }})
	d = uitest.Drive(t, plain).Send(tea.WindowSizeMsg{Width: 120, Height: 40})
	for _, k := range []string{"1", "2", "3", "4", "5", "6", "?"} {
		d.Keys(k)
		if v := d.Model.View(); strings.Contains(v, "\x1b") {
			t.Fatalf("screen %s has escape codes with no colour: %q", k, v)
		}
	}
}

func TestDataChangesReloadOnTick(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("2")
	uitest.MustNot(t, r.View(), "       9 ")
	if _, err := f.Engine.CreateServices(f.Tariff.ID, 1, "late@example.org"); err != nil {
		t.Fatal(err)
	}
	// Nothing bumped the version: the screen may not know yet. A bump plus a tick reloads it.
	f.Data.Bump()
	r.Send(ui.TickForTest())
	uitest.Must(t, r.View(), "late@example.org")
	if s, _ := store.Load[store.Service](f.DB, 9); s == nil {
		t.Fatal("service 9 missing")
	}
}

// noSession answers like the OS keyring does without a D-Bus session (store classifies the real case).
type noSession struct{}

func (noSession) fail(op string, id uint64) error {
	return &store.SecretError{Op: op, ModuleID: id, Cause: store.ErrNoSession,
		Err: errors.New(`exec: "dbus-launch": executable file not found in $PATH`)}
}
func (s noSession) Get(id uint64) (string, error) { return "", s.fail("read", id) }
func (s noSession) Set(id uint64, _ string) error { return s.fail("store", id) }
func (s noSession) Delete(id uint64) error        { return s.fail("remove", id) }
func (noSession) Describe() string                { return `OS keyring (Secret Service), service "vmmpm"` }

// TestKeyringProblemShownAtStart: an unusable keyring is said when the TUI starts, not after a wizard.
func TestKeyringProblemShownAtStart(t *testing.T) {
	f := world(t)
	f.Data.Secrets = noSession{}
	v := start(t, f).View()
	uitest.Must(t, v, "secrets: keyring UNUSABLE (no D-Bus session bus)", "there is no D-Bus session bus")
	ok := start(t, world(t)).View()
	uitest.MustNot(t, ok, "UNUSABLE")
}

// TestEngineStoppedIsShown: an engine that stops on its own is said at once and stays on the status line.
func TestEngineStoppedIsShown(t *testing.T) {
	r := start(t, world(t))
	uitest.MustNot(t, r.View(), "engine STOPPED")
	r.Send(ui.EngineStoppedMsg{Err: errors.New("disk full")})
	uitest.Must(t, r.View(), "engine STOPPED: jobs are not running", "the engine stopped, so no job runs")
	r.Keys("3")
	uitest.Must(t, r.View(), "engine STOPPED: jobs are not running")
}

// TestWizardHasOneHelpBar: inside the TUI the wizard's keys show once, in the app's bar, and follow its
// phase (y/n while it asks before leaving).
func TestWizardHasOneHelpBar(t *testing.T) {
	r := start(t, world(t))
	r.Keys("a")
	v := r.View()
	uitest.Must(t, v, "Step 1 of 5", "ctrl+c leave the wizard (asks first)")
	if n := strings.Count(v, "esc back"); n != 1 {
		t.Fatalf("esc back shown %d times, want once:\n%s", n, v)
	}
	r.Keys("ctrl+c")
	uitest.Must(t, r.View(), "Leave the wizard and discard this module?", "y yes")
}
