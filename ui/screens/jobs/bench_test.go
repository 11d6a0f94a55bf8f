package jobs

import (
	"strconv"
	"testing"

	"vmmpm/store"
	"vmmpm/ui/internal/uitest"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// pane opens the history of n jobs and returns the jobs pane with its first page read, as after the
// first tick.
func pane(tb testing.TB, n int) *Model {
	tb.Helper()
	f := uitest.OpenAt(tb, uitest.History(tb, n), uitest.Executor(), false)
	m := New(f.Context())
	// The first page is read before the header knows its modules; the app then re-reads the window.
	for cmd := m.Activate(); cmd != nil; {
		cmd = m.Update(cmd())
	}
	if m.table.Total() != n || len(m.page.jobs) != m.table.VisibleRows() {
		tb.Fatalf("pane over %d jobs shows %d of total %d", n, len(m.page.jobs), m.table.Total())
	}
	return m
}

func viewLoop(b *testing.B, m *Model) {
	b.ReportAllocs()
	for b.Loop() {
		m.ctx.Frame++ // the spinner moves, as on every tick
		if len(m.View()) == 0 {
			b.Fatal("empty view")
		}
	}
}

// view is one frame of m, for uitest.PairedRatio.
func view(m *Model) func() {
	return func() {
		m.ctx.Frame++
		_ = m.View()
	}
}

// BenchmarkJobsPaneView draws the pane over 1,000 and 100,000 jobs in a real bbolt file. Only the visible
// rows are formatted, so ns/op and allocs/op must not grow with the history; the 100,000 case reports
// its ratio to the 1,000 case measured in the same run (spec §11: within 1.2×).
func BenchmarkJobsPaneView(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run("jobs="+strconv.Itoa(n), func(b *testing.B) {
			m := pane(b, n)
			if n > 1000 {
				base := pane(b, 1000)
				defer func() { b.ReportMetric(uitest.PairedRatio(view(base), view(m)), "ratio_vs_1k") }()
				b.ResetTimer()
			}
			viewLoop(b, m)
		})
	}
}

// BenchmarkJobsPaneTick is one whole refresh as the tick does it when events arrived: the visible page,
// lane positions and counts from the engine, then the view.
func BenchmarkJobsPaneTick(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run("jobs="+strconv.Itoa(n), func(b *testing.B) {
			m := pane(b, n)
			w := m.current()
			b.ReportAllocs()
			for b.Loop() {
				msg := m.read(w).(pageMsg)
				m.apply(msg)
				if len(m.View()) == 0 {
					b.Fatal("empty view")
				}
			}
		})
	}
}

// TestViewFormatsOnlyVisibleRows: the table asks for the cells of the rows on screen and no others.
func TestViewFormatsOnlyVisibleRows(t *testing.T) {
	m := pane(t, 1000)
	m.View()
	rows := m.table.VisibleRows()
	if len(m.page.jobs) != rows || rows >= 100 {
		t.Fatalf("page holds %d jobs for %d visible rows", len(m.page.jobs), rows)
	}
	m.table.SetCursor(500)
	m.Update(m.fetch(true)())
	if got := m.page.offset; got != m.table.Offset() || m.page.jobs[0].ID != uint64(1000-got) {
		t.Fatalf("after moving to row 500 the page starts at %d with job %d", got, m.page.jobs[0].ID)
	}
	if j := m.selectedJob(); j == nil || j.ID != 500 || j.State != store.JobDone {
		t.Fatalf("selected %+v", j)
	}
}
