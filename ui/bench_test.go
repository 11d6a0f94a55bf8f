package ui_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/server"
	"vmmpm/ui"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
)

// BenchmarkStartupFirstFrame measures start-up on a database holding the job history: open the file,
// start the engine (it loads its index of the history), build the app, draw the first frame of the home
// screen, then switch to Jobs and draw its first frame with the newest page. One op is one start-up.
// unfinished=100000 holds that many queued jobs for the engine to schedule; each op also starts on a
// database with no jobs, so ratio (jobs frame, backlog ÷ empty) comes from one run.
func BenchmarkStartupFirstFrame(b *testing.B) {
	for _, c := range []struct {
		name   string
		n      int
		queued bool
	}{{"jobs=1000", 1000, false}, {"jobs=100000", 100000, false}, {"unfinished=100000", 100000, true}} {
		b.Run(c.name, func(b *testing.B) {
			var path, empty string
			if c.queued {
				path, empty = uitest.Backlog(b, c.n), uitest.History(b, 0)
			} else {
				path = uitest.History(b, c.n)
			}
			var home, jobs, base time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h, j := firstFrames(b, path, c.n)
				home, jobs = home+h, jobs+j
				if empty != "" {
					_, j := firstFrames(b, empty, 0)
					base += j
				}
			}
			b.ReportMetric(home.Seconds()*1000/float64(b.N), "ms_to_home_frame")
			b.ReportMetric(jobs.Seconds()*1000/float64(b.N), "ms_to_jobs_frame")
			if empty != "" {
				b.ReportMetric(base.Seconds()*1000/float64(b.N), "ms_empty_jobs_frame")
				b.ReportMetric(jobs.Seconds()/base.Seconds(), "ratio")
			}
		})
	}
}

// firstFrames starts the app on path and returns the time to its home frame and to its jobs frame.
func firstFrames(b *testing.B, path string, n int) (home, jobs time.Duration) {
	start := time.Now()
	f := uitest.OpenAt(b, path, uitest.Executor(), false)
	app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), NoTick: true})
	d := uitest.Drive(b, app).Send(tea.WindowSizeMsg{Width: uitest.Width, Height: uitest.Height})
	if !strings.Contains(d.View(), "fra-kvm") {
		b.Fatal("home screen without its module")
	}
	home = time.Since(start)
	d.Keys("3")
	if !strings.Contains(d.View(), "All "+strconv.Itoa(n)) {
		b.Fatalf("jobs pane does not show %d jobs:\n%s", n, d.View())
	}
	jobs = time.Since(start)
	b.StopTimer()
	f.Close()
	b.StartTimer()
	return home, jobs
}

// BenchmarkAttachFirstFrame measures what an admin waits for when a TUI attaches to a running server
// whose database holds the job history: connect to the socket, build the app on the client, draw the
// home screen, switch to Jobs and draw its first page. The server (untimed) runs on the same file. An
// empty history is the baseline of the same run (ratio = 100,000 ÷ empty).
func BenchmarkAttachFirstFrame(b *testing.B) {
	ms := map[int]float64{}
	for _, n := range []int{0, 100000} {
		b.Run("jobs="+strconv.Itoa(n), func(b *testing.B) {
			path := uitest.History(b, n)
			f := uitest.OpenAt(b, path, uitest.Executor(), false)
			sock := filepath.Join(b.TempDir(), "s.sock")
			ln, err := server.Listen(sock)
			if err != nil {
				b.Fatal(err)
			}
			srv, err := server.New(f.Data.Backend(), nil, "bench", sock, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = srv.Serve(ctx, ln, time.Second) }()
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				c := server.NewClient(sock, "bench")
				app := ui.New(ui.Options{Data: common.NewData(c, nil), Theme: uitest.Plain(), NoTick: true})
				d := uitest.Drive(b, app).Send(tea.WindowSizeMsg{Width: uitest.Width, Height: uitest.Height})
				if !strings.Contains(d.View(), "attached to pid") {
					b.Fatalf("the home screen does not say it is attached:\n%s", d.View())
				}
				d.Keys("3")
				if !strings.Contains(d.View(), "All "+strconv.Itoa(n)) {
					b.Fatalf("jobs pane does not show %d jobs:\n%s", n, d.View())
				}
				total += time.Since(start)
				_ = c.Close()
			}
			ms[n] = total.Seconds() * 1000 / float64(b.N)
			b.ReportMetric(ms[n], "ms_to_jobs_frame")
			if ms[0] > 0 && n > 0 {
				b.ReportMetric(ms[n]/ms[0], "ratio_to_empty")
			}
		})
	}
}
