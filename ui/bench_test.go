package ui_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// BenchmarkStartupFirstFrame measures start-up on a database holding the job history: open the file,
// start the engine (it loads its index of the history), build the app, draw the first frame of the home
// screen, then switch to Jobs and draw its first frame with the newest page. One op is one start-up.
func BenchmarkStartupFirstFrame(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run("jobs="+strconv.Itoa(n), func(b *testing.B) {
			path := uitest.History(b, n)
			var home, jobs time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				f := uitest.OpenAt(b, path, uitest.Executor(), false)
				app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), NoTick: true})
				d := uitest.Drive(b, app).Send(tea.WindowSizeMsg{Width: uitest.Width, Height: uitest.Height})
				if !strings.Contains(d.View(), "fra-kvm") {
					b.Fatal("home screen without its module")
				}
				home += time.Since(start)
				d.Keys("3")
				if !strings.Contains(d.View(), "All "+strconv.Itoa(n)) {
					b.Fatalf("jobs pane does not show %d jobs:\n%s", n, d.View())
				}
				jobs += time.Since(start)
				b.StopTimer()
				f.Close()
				b.StartTimer()
			}
			b.ReportMetric(home.Seconds()*1000/float64(b.N), "ms_to_home_frame")
			b.ReportMetric(jobs.Seconds()*1000/float64(b.N), "ms_to_jobs_frame")
		})
	}
}
