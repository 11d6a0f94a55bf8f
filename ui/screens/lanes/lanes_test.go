package lanes_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"vmmpm/queue"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/screens/lanes"
	"vmmpm/ui/theme"
)

var now = uitest.Now

// feed is a collector fed as the engine would feed it: jobs queued, running, ended.
type feed struct {
	c  *stats.Collector
	id uint64
}

func (f *feed) job(module uint64, key, typ, end string, start time.Time, d, answer time.Duration, msg string) {
	f.id++
	j := store.Job{ID: f.id, ServiceID: 100 + f.id, ModuleID: module, Type: typ, QueueKey: key, State: store.JobRunning,
		StartedAt: start, Attempt: 1, Log: []store.LogLine{{At: start, Text: "attempt 1 of 8 started"}}}
	f.ev(j)
	if answer > 0 {
		j.Log = append(j.Log, store.LogLine{At: start.Add(answer), Text: "VMmanager task 7 (host_create) recorded"})
	}
	j.State, j.Error = end, msg
	j.Log = append(j.Log, store.LogLine{At: start.Add(d), Text: end})
	if end != store.JobRetrying {
		j.FinishedAt = start.Add(d)
	}
	f.ev(j)
}

func (f *feed) ev(j store.Job) {
	f.c.Observe(queue.Event{Kind: queue.JobChanged, Job: &j, ModuleID: j.ModuleID})
}

func (f *feed) running(module uint64, key, typ string, since time.Time, attempt, waiting int) {
	f.id++
	f.ev(store.Job{ID: f.id, ServiceID: 100 + f.id, ModuleID: module, Type: typ, QueueKey: key, State: store.JobRunning,
		StartedAt: since, Attempt: attempt})
	f.c.Observe(queue.Event{Kind: queue.LaneChanged, ModuleID: module, Lane: key, LaneBusy: true, LaneDepth: waiting + 1})
}

// world is two modules over the last hour: fra-kvm busy and well, with one slow lane; fra-lxd refused
// by VMmanager (503 bursts, then bad credentials) with a stuck lane.
func world() *stats.Snapshot {
	f := &feed{c: stats.New()}
	for i := range 50 {
		at := now.Add(-time.Duration(50-i) * time.Minute)
		key := fmt.Sprintf("vmm6-1-%d", i%3+1)
		f.job(1, key, store.OpOpen, store.JobDone, at, time.Duration(20+i%7)*time.Second, 300*time.Millisecond, "")
		if i%4 == 0 {
			f.job(1, key, store.OpReboot, store.JobDone, at.Add(30*time.Second), 8*time.Second, 200*time.Millisecond, "")
		}
	}
	f.job(1, "vmm6-1-2", store.OpSuspend, store.JobFailed, now.Add(-20*time.Minute), time.Second, 0, "VM svc-77 is missing in VMmanager: it was removed there.")
	for i := range 6 {
		f.job(2, "vmm6-2-1", store.OpOpen, store.JobRetrying, now.Add(-time.Duration(6-i)*40*time.Second), 2*time.Second, 0,
			"VMmanager kept answering 503 (asleep or overloaded) for the whole retry period: try again in a minute.")
	}
	f.job(2, "vmm6-2-1", store.OpOpen, store.JobFailed, now.Add(-30*time.Second), time.Second, 0,
		"VMmanager refused the email or password: check both and try again.")
	f.running(1, "vmm6-1-1", store.OpOpen, now.Add(-95*time.Second), 1, 4)  // slow: p95 of open is about 26 s
	f.running(1, "vmm6-1-2", store.OpReboot, now.Add(-3*time.Second), 1, 0) // normal
	f.running(2, "vmm6-2-1", store.OpOpen, now.Add(-14*time.Minute), 3, 12) // stuck
	f.job(2, "vmm6-2-2", store.OpOpen, store.JobRetrying, now.Add(-20*time.Second), time.Second, 0,
		"VMmanager answered HTTP 500 (error 5000: boom); VMmanager had an internal error; try again later.")
	f.c.Observe(queue.Event{Kind: queue.LaneChanged, ModuleID: 2, Lane: "vmm6-2-2", LaneDepth: 2}) // its head backs off
	s := f.c.Snapshot(now, []uint64{1, 2})
	s.Modules[0].Name, s.Modules[1].Name = "fra-kvm", "fra-lxd"
	s.Modules[0].LastCheck = &store.Check{At: now.Add(-5 * time.Minute), OK: true}
	s.Modules[1].LastCheck = &store.Check{At: now.Add(-2 * time.Minute), OK: false, Message: "VMmanager refused the email or password."}
	s.Modules[1].SetHealth(false, "VMmanager refused the email or password: check both and try again.")
	s.Modules[0].Logins = &stats.Logins{Count: 1, Since: now.Add(-50 * time.Minute), Until: now.Add(10 * time.Minute), SessionTTL: time.Hour}
	s.Modules[1].Logins = &stats.Logins{SessionTTL: 30 * time.Minute} // its password refused: no session now
	s.FitLanes(1, []string{"vmm6-1-1", "vmm6-1-2", "vmm6-1-3"})
	return s
}

func screen(w, h int, th *theme.Theme, s *stats.Snapshot) *lanes.Model {
	ctx := common.New(th, nil)
	ctx.Width, ctx.Height, ctx.Now = w, h, func() time.Time { return now }
	m := lanes.New(ctx)
	m.Update(lanes.LoadedMsg{Snapshot: s})
	return m
}

// TestGolden pins the lanes view with its module panel at two sizes in three colour profiles and
// without colour; regenerate with `go test ./ui/screens/lanes -update`.
func TestGolden(t *testing.T) {
	defer lipgloss.SetColorProfile(termenv.Ascii)
	lipgloss.SetHasDarkBackground(true)
	profiles := []struct {
		name string
		p    termenv.Profile
	}{{"nocolor", termenv.Ascii}, {"ansi16", termenv.ANSI}, {"ansi256", termenv.ANSI256}, {"truecolor", termenv.TrueColor}}
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		for _, p := range profiles {
			t.Run(fmt.Sprintf("%dx%d_%s", size[0], size[1], p.name), func(t *testing.T) {
				lipgloss.SetColorProfile(p.p)
				m := screen(size[0], size[1], theme.New(p.p == termenv.Ascii), world())
				m.Update(key("j")) // the cursor on the second lane: its module's panel below
				view := m.View()
				checkSize(t, view, size[0], size[1]-common.HeaderLines-common.FooterLines)
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

func checkSize(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) > h {
		t.Errorf("view has %d lines, the body has %d", len(lines), h)
	}
	for i, l := range lines {
		if n := lipgloss.Width(l); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i, n, w, uitest.Strip(l))
		}
	}
}

func key(s string) tea.KeyMsg { return uitest.Key(s) }

// TestAtAGlance: the words an admin reads without a table are there: which lane is slow or stuck,
// which module is flagged and why, and the panel follows the selected lane's module.
func TestAtAGlance(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	m := screen(120, 40, theme.New(true), world())
	v := uitest.Strip(m.View())
	if !strings.Contains(lineWith(v, "fra-lxd "), "FLAGGED") {
		t.Errorf("fra-lxd is not flagged:\n%s", v)
	}
	for _, want := range []string{"SLOW", "STUCK", "── fra-kvm (module 1) · logins 1 / 1h session ──",
		"1m35s", "14m0s", "12", "last check ok 5m ago"} {
		if !strings.Contains(v, want) {
			t.Errorf("the view lacks %q:\n%s", want, v)
		}
	}
	slow := lineWith(v, "vmm6-1-1")
	if !strings.Contains(slow, "SLOW") || strings.Contains(lineWith(v, "vmm6-1-2"), "SLOW") {
		t.Errorf("only vmm6-1-1 is slow:\n%s", v)
	}
	if !strings.Contains(lineWith(v, "vmm6-2-1"), "STUCK") {
		t.Errorf("vmm6-2-1 is stuck:\n%s", v)
	}
	if l := lineWith(v, "vmm6-2-2"); !strings.Contains(l, "waiting to retry") || !strings.Contains(l, " 2 ") {
		t.Errorf("vmm6-2-2's head backs off with two in the lane: %q", l)
	}
	m.Update(key("G"))
	v = uitest.Strip(m.View())
	for _, want := range []string{"── fra-lxd (module 2) · logins 0 / 30m session ──", "FLAGGED: VMmanager refused", "last check FAILED 2m ago"} {
		if !strings.Contains(v, want) {
			t.Errorf("with the fra-lxd lane selected the panel lacks %q:\n%s", want, v)
		}
	}
	if got := m.Selected().ID; got != "vmm6-2-2" {
		t.Errorf("selected %q, want vmm6-2-2", got)
	}
}

func lineWith(v, s string) string {
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, s) && !strings.Contains(l, "──") {
			return l
		}
	}
	return ""
}

// TestManyLanesScroll: more lanes than rows scroll with the cursor and say which are shown.
func TestManyLanesScroll(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	f := &feed{c: stats.New()}
	for i := range 64 {
		f.job(1, fmt.Sprintf("vmm6-1-%d", i+1), store.OpOpen, store.JobDone, now.Add(-time.Minute), time.Second, 0, "")
	}
	s := f.c.Snapshot(now, []uint64{1})
	m := screen(80, 24, theme.New(true), s)
	v := uitest.Strip(m.View())
	if !strings.Contains(v, "of 64 (j/k)") || strings.Contains(v, "vmm6-1-64") {
		t.Fatalf("64 lanes at 80×24:\n%s", v)
	}
	m.Update(key("G"))
	v = uitest.Strip(m.View())
	if !strings.Contains(v, "vmm6-1-64") || !strings.Contains(v, "of 64") {
		t.Errorf("after G the last lane shows:\n%s", v)
	}
	checkSize(t, m.View(), 80, 24-common.HeaderLines-common.FooterLines)
	// The lists' movement keys, shared with every table: g top, ctrl+d half a page, pgdown a page.
	m.Update(key("g"))
	if !strings.Contains(uitest.Strip(m.View()), "› vmm6-1-1 ") {
		t.Fatalf("after g the cursor is not on the first lane:\n%s", uitest.Strip(m.View()))
	}
	first := m.Selected().ID
	m.Update(key("ctrl+d"))
	half := m.Selected().ID
	m.Update(key("pgdown"))
	if page := m.Selected().ID; half == first || page == half || page == first {
		t.Errorf("from lane %s ctrl+d moved to %s and pgdown then to %s: want a move each time", first, half, page)
	}
}

// TestRereadOnTheDataVersion: a tick re-reads only when events moved the data version (at most once a
// second) or when the figures are 5 s old; a frame never reads.
func TestRereadOnTheDataVersion(t *testing.T) {
	f := uitest.Open(t, uitest.Executor())
	ctx := f.Context()
	clock := uitest.Now
	ctx.Now = func() time.Time { return clock }
	m := lanes.New(ctx)
	m.Update(m.Activate()())
	if !strings.Contains(uitest.Strip(m.View()), "vmm6-1-2") {
		t.Fatalf("the fixture's lanes do not show:\n%s", uitest.Strip(m.View()))
	}
	if cmd := m.Update(common.TickMsg{}); cmd != nil {
		t.Fatal("a tick with nothing changed re-read the figures")
	}
	f.Data.Bump()
	if cmd := m.Update(common.TickMsg{}); cmd != nil {
		t.Fatal("a tick re-read the figures within a second of the last read")
	}
	clock = clock.Add(lanes.MinReread)
	cmd := m.Update(common.TickMsg{})
	if cmd == nil {
		t.Fatal("a tick after a change did not re-read the figures")
	}
	m.Update(cmd())
	clock = clock.Add(lanes.Reread)
	if m.Update(common.TickMsg{}) == nil {
		t.Fatal("figures 5 s old were not re-read")
	}
}

// TestNothingYet: modules without figures (even without series, as a hand-made snapshot has) and no
// lanes draw a quiet screen that says where lanes come from; no snapshot yet says it is reading.
func TestNothingYet(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	m := screen(80, 24, theme.New(true), &stats.Snapshot{At: now, Modules: []stats.Module{{ID: 1, Name: "fra-kvm", Healthy: true}}})
	v := uitest.Strip(m.View())
	for _, want := range []string{"fra-kvm", "ok", "no lanes: a module with queues on", "last check never",
		"── fra-kvm (module 1) · logins - ──"} { // unknown: no engine to ask
		if !strings.Contains(v, want) {
			t.Errorf("the empty view lacks %q:\n%s", want, v)
		}
	}
	if m.Selected().ID != "" {
		t.Errorf("with no lanes %q is selected", m.Selected().ID)
	}
	if strings.Contains(v, "every lane runs on") {
		t.Errorf("a bbolt file's view names an engine host:\n%s", v)
	}
	shared := screen(80, 24, theme.New(true), &stats.Snapshot{At: now, Engine: "host db-2 (pid 4711)", EngineRenewed: now.Add(-3 * time.Second),
		Modules: []stats.Module{{ID: 1, Name: "fra-kvm", Healthy: true}}})
	if v := uitest.Strip(shared.View()); !strings.Contains(v, "every lane runs on host db-2 (pid 4711), engine lease renewed 3s ago") {
		t.Errorf("a shared database's view does not say which host runs the lanes:\n%s", v)
	}
	ctx := common.New(theme.New(true), nil)
	ctx.Width, ctx.Height = 80, 24
	if v := lanes.New(ctx).View(); !strings.Contains(v, "reading the figures") {
		t.Errorf("before the first read: %q", v)
	}
}

// TestFreeRoom: the module panel shows what the module's VMmanager has free, and what is under the
// module's threshold in a line of its own.
func TestFreeRoom(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	s := world()
	s.Modules[0].SetCapacity(&queue.Capacity{At: now.Add(-20 * time.Second),
		Cluster: queue.ClusterRoom{ID: 1, Name: "kvm-main", CPU: &queue.Room{Total: 64, Used: 60}, RAMMiB: &queue.Room{Total: 262144, Used: 131072}},
		Pools:   []queue.PoolRoom{{ID: 1, Name: "public-v4", IPv4: &queue.Room{Total: 254, Used: 250}}}}, 10)
	v := uitest.Strip(screen(120, 40, theme.New(true), s).View())
	for _, want := range []string{"free: IPv4 4/254 · CPU 4/64 · RAM 128/256 GiB (read 20s ago)",
		"low (under 10% free): pool 1 (public-v4): 4 of 254 IPv4 free", "low (under 10% free): CPU on cluster 1 (kvm-main): 4 of 64 free"} {
		if !strings.Contains(v, want) {
			t.Errorf("the view lacks %q:\n%s", want, v)
		}
	}
}
