// Package uitest builds real fixtures for the TUI's tests and benchmarks: a bbolt file in a temp folder,
// in-memory secrets, the real engine with a deterministic executor, and a fixed clock and colour
// profile so golden files do not move.
package uitest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"vmmpm/backend"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/theme"
	"vmmpm/vmm"
)

// Epoch is when fixture jobs are enqueued; Now is the fixed "now" of every test screen.
var (
	Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	Now   = Epoch.Add(95 * time.Second)
)

// Width and Height are the golden-file terminal size.
const (
	Width  = 120
	Height = 40
)

// Plain fixes the colour profile to none, as NO_COLOR does, so golden files hold text only.
func Plain() *theme.Theme {
	lipgloss.SetColorProfile(termenv.Ascii)
	return theme.New(true)
}

// Fixture is a seeded database with the engine on it.
type Fixture struct {
	DB      *store.DB
	Secrets store.Secrets
	Engine  *queue.Engine
	Data    *common.Data

	DC, Legacy      *store.DataCenter
	Support, Provis *store.Department
	KVM, LXD        *store.Module
	Tariff          *store.Tariff

	closeOnce sync.Once
}

// Open creates the fixture in t's temp folder; the engine is built but not running.
func Open(tb testing.TB, exec queue.Executor) *Fixture {
	tb.Helper()
	return OpenAt(tb, filepath.Join(tb.TempDir(), "vmmpm.db"), exec, true)
}

// OpenAt opens path; seed adds the catalog records first.
func OpenAt(tb testing.TB, path string, exec queue.Executor, seed bool) *Fixture {
	tb.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	f := &Fixture{DB: db, Secrets: store.NewMemorySecrets()}
	if seed {
		f.seed(tb)
	} else {
		f.load(tb)
	}
	f.Engine, err = queue.New(db, f.Secrets, queue.Options{Executor: exec, Now: func() time.Time { return Epoch },
		BackoffBase: time.Millisecond, PollEvery: 10 * time.Millisecond, MaxAttempts: 3})
	if err != nil {
		tb.Fatal(err)
	}
	f.Data = common.NewData(backend.NewLocal(db, f.Secrets, f.Engine, "test"), f.Secrets)
	tb.Cleanup(f.Close)
	return f
}

// Close stops the engine and closes the database; later calls do nothing.
func (f *Fixture) Close() {
	f.closeOnce.Do(func() {
		_ = f.Engine.Close()
		_ = f.DB.Close()
	})
}

func (f *Fixture) seed(tb testing.TB) {
	f.DC = &store.DataCenter{Name: "Frankfurt"}
	f.Legacy = &store.DataCenter{Name: "Legacy DC", ExternalID: "ext-7"}
	f.Support = &store.Department{Name: "Support"}
	f.Provis = &store.Department{Name: "Provisioning"}
	err := f.DB.Update(func(tx *store.Tx) error {
		for _, r := range []store.Record{f.DC, f.Legacy, f.Support, f.Provis} {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		f.KVM = module("fra-kvm", f.DC.ID, f.Support.ID, store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM})
		f.KVM.Params.Queue, f.KVM.Params.QueueCount = true, 2
		f.KVM.LastCheck = &store.Check{At: Epoch, OK: true}
		f.LXD = module("fra-lxd", f.DC.ID, f.Provis.ID, store.Cluster{ID: 2, Name: "lxd-main", Virtualization: store.VirtLXD})
		f.LXD.InsecureTLS, f.LXD.Sort = true, 10
		for _, m := range []*store.Module{f.KVM, f.LXD} {
			if err := tx.Put(m); err != nil {
				return err
			}
		}
		f.Tariff = &store.Tariff{Name: "VPS S", DataCenterID: f.DC.ID, ModuleIDs: []uint64{f.KVM.ID}, CPU: 1,
			RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "vps@ID@.example.net"}
		return tx.Put(f.Tariff)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// load reads the seeded records back (a fixture reopened on an existing file).
func (f *Fixture) load(tb testing.TB) {
	f.KVM, _ = store.Load[store.Module](f.DB, 1)
	f.Tariff, _ = store.Load[store.Tariff](f.DB, 1)
}

func module(name string, dc, dept uint64, c store.Cluster) *store.Module {
	return &store.Module{Name: name, ProductType: store.ProductVPS, Kind: store.KindVMmanager6,
		URL: "https://vmm.example.net", Username: "admin@example.com", DataCenterID: dc, DepartmentID: dept,
		Cluster: c, Enabled: true, RecipeWait: store.RecipeWaitOS, Params: store.DefaultParams()}
}

// Context is a screen context at the golden size with the fixed clock.
func (f *Fixture) Context() *common.Context {
	ctx := common.New(Plain(), f.Data)
	ctx.Width, ctx.Height, ctx.Now = Width, Height, func() time.Time { return Now }
	return ctx
}

// Executor succeeds at once, except for the services in fail, which fail for good.
func Executor(fail ...uint64) queue.Executor {
	bad := map[uint64]bool{}
	for _, id := range fail {
		bad[id] = true
	}
	return queue.ExecutorFunc(func(_ context.Context, op *queue.Op) (queue.Result, error) {
		if bad[op.Job.ServiceID] {
			op.Logf("VMmanager refused the VM")
			err := &vmm.APIError{Status: 400, Code: 3001, Msg: "not enough free IPv4 addresses in the pool"}
			return queue.Result{}, &queue.Error{Err: err, Msg: vmm.Describe(err)} // as the VMmanager executor reports it
		}
		id := op.Job.ServiceID
		op.Logf("VM %s is %s", queue.VMName(id), "ready")
		return queue.Result{Service: func(s *store.Service) {
			if op.Job.Type == store.OpOpen {
				s.Status = store.ServiceActive
				s.VM = store.VM{HostID: 100 + id, AccountID: 2, IPv4: []string{fmt.Sprintf("203.0.113.%d", id%250+1)}}
			}
		}}, nil
	})
}

// RunIdle runs the engine until nothing is left to do.
func (f *Fixture) RunIdle(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.Engine.RunUntilIdle(ctx); err != nil {
		tb.Fatal(err)
	}
}

// Services creates n services of the fixture tariff (their open jobs are queued).
func (f *Fixture) Services(tb testing.TB, n int) []store.Service {
	tb.Helper()
	s, err := f.Engine.CreateServices(f.Tariff.ID, n, "client@example.org")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Strip removes ANSI sequences and trailing spaces on each line.
func Strip(s string) string {
	lines := strings.Split(ansi.Strip(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// Key builds the key message a terminal sends for a name such as "enter", "ctrl+c" or "j". A name it
// does not know is typed as runes, which the app splits into one key each: add special keys above.
func Key(name string) tea.KeyMsg {
	for t, n := range keyNames {
		if n == name {
			return tea.KeyMsg{Type: t}
		}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(name)}
}

var keyNames = map[tea.KeyType]string{
	tea.KeyEnter: "enter", tea.KeyEsc: "esc", tea.KeyCtrlC: "ctrl+c", tea.KeyTab: "tab",
	tea.KeyShiftTab: "shift+tab", tea.KeyUp: "up", tea.KeyDown: "down", tea.KeyLeft: "left",
	tea.KeyRight: "right", tea.KeyCtrlU: "ctrl+u", tea.KeyCtrlD: "ctrl+d", tea.KeySpace: "space",
	tea.KeyBackspace: "backspace", tea.KeyHome: "home", tea.KeyEnd: "end", tea.KeyCtrlR: "ctrl+r",
	tea.KeyCtrlA: "ctrl+a", tea.KeyCtrlS: "ctrl+s",
}

// Must fails the test unless view shows every one of want.
func Must(t testing.TB, view string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(view, w) {
			t.Fatalf("screen lacks %q:\n%s", w, view)
		}
	}
}

// MustNot fails the test when view shows any of bad.
func MustNot(t testing.TB, view string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(view, b) {
			t.Fatalf("screen shows %q:\n%s", b, view)
		}
	}
}
