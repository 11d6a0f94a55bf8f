package lanes_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/screens/lanes"
	"vmmpm/ui/theme"
)

// history is the figures after n jobs over the last 24 hours in 64 lanes of two modules, written to
// a real bbolt file and read back as a restarted process does, with every lane running something.
func history(tb testing.TB, n int) *stats.Snapshot {
	tb.Helper()
	f := &feed{c: stats.New()}
	types := []string{store.OpOpen, store.OpReboot, store.OpSuspend, store.OpResume}
	outs := []string{store.JobDone, store.JobDone, store.JobDone, store.JobDone, store.JobDone, store.JobDone, store.JobRetrying, store.JobFailed}
	step := 24 * time.Hour / time.Duration(n)
	for i := range n {
		module := uint64(i%2 + 1)
		at := now.Add(-24*time.Hour + time.Duration(i)*step)
		f.job(module, fmt.Sprintf("vmm6-%d-%d", module, i%32+1), types[i%len(types)], outs[i%len(outs)], at,
			time.Duration(5+i%40)*time.Second, time.Duration(100+i%300)*time.Millisecond, "VMmanager answered 503")
	}
	for i := range 64 {
		module := uint64(i%2 + 1)
		f.running(module, fmt.Sprintf("vmm6-%d-%d", module, i/2+1), store.OpOpen, now.Add(-time.Duration(i)*time.Second), 1, i%5)
	}
	db, err := store.Open(filepath.Join(tb.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if err := f.c.Flush(db, now); err != nil {
		tb.Fatal(err)
	}
	c := stats.New()
	if err := c.Load(db, now); err != nil {
		tb.Fatal(err)
	}
	s := f.c.Snapshot(now, []uint64{1, 2}) // running jobs are not kept in the file: take them from the live one
	loaded := c.Snapshot(now, []uint64{1, 2})
	if loaded.Modules[0].Day != s.Modules[0].Day || len(s.Lanes) != 64 {
		tb.Fatalf("the history read back differs: %+v vs %+v, %d lanes", loaded.Modules[0].Day, s.Modules[0].Day, len(s.Lanes))
	}
	return s
}

func benchScreen(tb testing.TB, n int) *lanes.Model {
	lipgloss.SetColorProfile(termenv.TrueColor)
	tb.Cleanup(func() { lipgloss.SetColorProfile(termenv.Ascii) })
	return screen(120, 40, theme.New(false), history(tb, n))
}

// pairedRatio is the cost of one frame of big over one of base, measured in the same run.
func pairedRatio(base, big *lanes.Model) float64 {
	return uitest.PairedRatio(func() { _ = base.View() }, func() { _ = big.View() })
}

// BenchmarkLanesView draws the lanes view (64 lanes, truecolor, 120×40) after 1,000 and 100,000 jobs
// in the history. A frame draws from the snapshot only, whose size depends on lanes and minutes, not
// on jobs: the 100,000 case reports its ratio to the 1,000 case measured in the same run (≤ 1.2×).
func BenchmarkLanesView(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run("jobs="+strconv.Itoa(n), func(b *testing.B) {
			m := benchScreen(b, n)
			if n > 1000 {
				base := benchScreen(b, 1000)
				defer func() { b.ReportMetric(pairedRatio(base, m), "ratio_vs_1k") }()
				b.ResetTimer()
			}
			b.ReportAllocs()
			for b.Loop() {
				if len(m.View()) == 0 {
					b.Fatal("empty view")
				}
			}
		})
	}
}

// TestLanesViewCostDoesNotGrowWithHistory is the benchmark's bound as a test, with slack for a
// shared machine: a frame over 100,000 jobs costs at most 1.5× one over 1,000.
func TestLanesViewCostDoesNotGrowWithHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	if r := pairedRatio(benchScreen(t, 1000), benchScreen(t, 100000)); r > 1.5 {
		t.Errorf("a frame over 100,000 jobs costs %.2f× one over 1,000", r)
	}
}
