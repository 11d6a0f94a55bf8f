package queue

import (
	"slices"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// loadFigures is what one run of the polling scenario measured.
type loadFigures struct {
	opens        int
	requests     int           // every request the emulator answered, the login included
	polls        int           // GET /vm/v3/task
	pollsPerSec  float64       // task polls per second while at least `busy` tasks ran on the module
	busySeconds  float64       // how long that was
	finishToDone time.Duration // median from the host_create task's end in VMmanager to the job's done
	worstToDone  time.Duration
}

func (l loadFigures) perOpen() float64 { return float64(l.requests) / float64(l.opens) }

// loadScenario opens `opens` services over `lanes` lanes of one module against an emulator whose tasks
// take taskTime, with the engine's default polling scaled by scale (1 = the product's 2 s), and
// measures the load on VMmanager. legacy runs the executor as it was before batched polling: each job
// polls its own task and looks its account and cluster up every time.
func loadScenario(tb testing.TB, opens, lanes int, taskTime time.Duration, scale float64, legacy bool) loadFigures {
	tb.Helper()
	f := newFixture(tb, sim.Config{TaskTime: taskTime, Seed: 7, Trace: true}, queueParams("load-__PMID__", lanes))
	poll := time.Duration(float64(DefaultPollEvery) * scale)
	x := NewVMMExecutor(f.secrets, poll).(*vmmExecutor)
	x.legacy = legacy
	opt := Options{Executor: x, PollEvery: poll, BackoffBase: time.Duration(float64(time.Second) * scale)}
	e := f.engine(opt)
	if _, err := e.CreateServices(f.tariff.ID, opens, "load@example.org"); err != nil {
		tb.Fatal(err)
	}
	runIdle(tb, e, 10*taskTime*time.Duration(opens/lanes+1)+time.Minute)
	checkAllDone(tb, f, opens)

	out := loadFigures{opens: opens}
	reqs := f.sim.Requests()
	out.requests = len(reqs)
	spans := f.sim.Tasks()
	// Windows during which at least `lanes` host_create tasks ran at once.
	type edge struct {
		at time.Time
		d  int
	}
	var edges []edge
	ends := map[int]time.Time{} // VM id → end of its host_create
	for _, s := range spans {
		if s.Name == "host_create" {
			edges = append(edges, edge{s.Start, 1}, edge{s.End, -1})
			ends[s.HostID] = s.End
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d
	})
	var windows [][2]time.Time
	cur := 0
	for _, ed := range edges {
		was := cur
		cur += ed.d
		switch {
		case was < lanes && cur >= lanes:
			windows = append(windows, [2]time.Time{ed.at})
		case was >= lanes && cur < lanes:
			windows[len(windows)-1][1] = ed.at
		}
	}
	busyPolls := 0
	for _, r := range reqs {
		if r.Route != "GET /vm/v3/task" {
			continue
		}
		out.polls++
		for _, w := range windows {
			if !r.At.Before(w[0]) && r.At.Before(w[1]) {
				busyPolls++
			}
		}
	}
	for _, w := range windows {
		out.busySeconds += w[1].Sub(w[0]).Seconds()
	}
	if out.busySeconds > 0 {
		out.pollsPerSec = float64(busyPolls) / out.busySeconds
	}
	var lat []time.Duration
	for _, j := range allJobs(tb, f.db) {
		s, err := store.Load[store.Service](f.db, j.ServiceID)
		if err != nil {
			tb.Fatal(err)
		}
		end, ok := ends[int(s.VM.HostID)]
		if !ok {
			tb.Fatalf("no host_create task for VM %d of service %d", s.VM.HostID, s.ID)
		}
		lat = append(lat, j.FinishedAt.Sub(end))
	}
	slices.Sort(lat)
	out.finishToDone, out.worstToDone = lat[len(lat)/2], lat[len(lat)-1]
	return out
}

// BenchmarkPollingLoad is the measurement: 32 opens over 16 lanes of one module against the
// emulator with 20 s tasks, run once as the executor did before batched polling (legacy) and once as
// it does now, in the same run. Goals: at most 6 requests per open, at most 1 task poll per second
// while 16 tasks run, a median of at most 2 s from a task's end in VMmanager to its job's done.
//
//	go test ./queue -run '^$' -bench PollingLoad -benchtime 1x
func BenchmarkPollingLoad(b *testing.B) {
	const opens, lanes, taskTime = 32, 16, 20 * time.Second
	var before, after loadFigures
	for b.Loop() {
		before = loadScenario(b, opens, lanes, taskTime, 1, true)
		after = loadScenario(b, opens, lanes, taskTime, 1, false)
	}
	report := func(prefix string, l loadFigures) {
		b.ReportMetric(l.perOpen(), prefix+"-req/open")
		b.ReportMetric(l.pollsPerSec, prefix+"-polls/s")
		b.ReportMetric(l.finishToDone.Seconds(), prefix+"-median-done-s")
		b.ReportMetric(l.worstToDone.Seconds(), prefix+"-worst-done-s")
	}
	report("before", before)
	report("after", after)
	if after.perOpen() > 0 {
		b.ReportMetric(before.perOpen()/after.perOpen(), "req-ratio")
	}
	if after.pollsPerSec > 0 {
		b.ReportMetric(before.pollsPerSec/after.pollsPerSec, "polls-ratio")
	}
	b.Logf("before: %d requests (%d task polls) for %d opens; after: %d requests (%d task polls); %.1f s with %d tasks running (after)",
		before.requests, before.polls, opens, after.requests, after.polls, after.busySeconds, lanes)
}

// The scenario (32 opens over 16 lanes, tasks 10 PollEvery long, as 20 s tasks are with the
// default 2 s) at a tenth of the time: every job ends done, at most 6 requests reach VMmanager per
// open, and while 16 tasks run the module is polled at most once per half PollEvery (once a second
// at full scale). The timings are in BenchmarkPollingLoad; these are counts.
func TestPollingLoad(t *testing.T) {
	const scale = 0.1
	l := loadScenario(t, 32, 16, 2*time.Second, scale, false)
	t.Logf("%d requests (%d task polls) for %d opens; %.1f polls/s over %.1f s with 16 tasks running; median %s from a task's end to its job's done",
		l.requests, l.polls, l.opens, l.pollsPerSec, l.busySeconds, l.finishToDone)
	if l.perOpen() > 6 {
		t.Errorf("%d requests for %d opens (%.1f per open), want at most 6 per open", l.requests, l.opens, l.perOpen())
	}
	if full := l.pollsPerSec * scale; full > 1 {
		t.Errorf("%.2f task polls per PollEvery/2 while 16 tasks ran (%d polls in all), want at most 1", full, l.polls)
	}
	if l.busySeconds == 0 {
		t.Error("16 tasks never ran at once")
	}
}
