package server

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// benchEngine is a database with one module (queues on, 8 lanes) and a tariff, an engine with a
// zero-latency executor, and a server for it on a socket.
func benchEngine(b *testing.B) (*queue.Engine, *store.Tariff, string) {
	b.Helper()
	return benchEngineWith(b, 0)
}

// benchEngineWith is benchEngine with operations that take opTime.
func benchEngineWith(b *testing.B, opTime time.Duration) (*queue.Engine, *store.Tariff, string) {
	b.Helper()
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	dc, dept := &store.DataCenter{Name: "dc"}, &store.Department{Name: "ops"}
	p := store.DefaultParams()
	p.Queue, p.QueueKey, p.QueueCount = true, "b-__PMID__", 8
	m := &store.Module{Name: "bench", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: "https://vmm.invalid",
		Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Enabled: true, Params: p,
		Cluster: store.Cluster{ID: 1, Name: "kvm", Virtualization: store.VirtKVM}}
	t := &store.Tariff{Name: "t", DataCenterID: 1, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	for _, r := range []store.Record{dc, dept, m, t} {
		if err := db.Save(r); err != nil {
			b.Fatal(err)
		}
	}
	noop := queue.ExecutorFunc(func(ctx context.Context, _ *queue.Op) (queue.Result, error) {
		if opTime > 0 {
			select {
			case <-time.After(opTime):
			case <-ctx.Done():
				return queue.Result{}, ctx.Err()
			}
		}
		return queue.Result{}, nil
	})
	secrets := store.NewMemorySecrets()
	e, err := queue.New(db, secrets, queue.Options{Executor: noop})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	sock := filepath.Join(dir, "s.sock")
	ln, err := Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(backend.NewLocal(db, secrets, e, "bench"), db, "bench", sock, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln, time.Second) }()
	b.Cleanup(func() { cancel(); <-done })
	return e, t, sock
}

// run enqueues m opens (untimed), runs the engine until idle and returns how long that took, after
// checking every job ended done.
func runOpens(b *testing.B, e *queue.Engine, t *store.Tariff, m int) time.Duration {
	b.Helper()
	if _, err := e.CreateServices(t.ID, m, "bench@example.org"); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := e.RunUntilIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if c := e.Counts()[1]; c.Done%m != 0 || c.Queued+c.Running+c.Retrying+c.Failed != 0 {
		b.Fatalf("not every job ended done: %+v", c)
	}
	return took
}

// BenchmarkEngineWithClients compares the engine's jobs/s with 10 attached clients streaming every
// event against the same engine with none, in one run (ratio = with ÷ without), and reports the p99 of
// event latency: a job's finish time (set just before its commit) to the moment a client decodes it.
// light: the clients read the light stream, as attached TUIs do (no latency: it carries no jobs);
// full: every job whole, as `jobs --follow` does. The clients run in this process, so their decoding competes for the same cores.
func BenchmarkEngineWithClients(b *testing.B) {
	for _, light := range []bool{true, false} {
		name := map[bool]string{true: "light", false: "full"}[light]
		b.Run(name, func(b *testing.B) { benchClients(b, light) })
	}
}

// BenchmarkEventLatency measures how long a job's end takes to reach 10 clients on full streams while
// the engine runs at a pace its clients keep up with (20 ms operations on 8 lanes, about 400 jobs/s):
// from the job's finish time, set just before its commit, to the client decoding it.
func BenchmarkEventLatency(b *testing.B) {
	const m, clients = 800, 10
	var lat []time.Duration
	for b.Loop() {
		e, t, sock := benchEngineWith(b, 20*time.Millisecond)
		stop := streamClients(b, sock, clients, false)
		runOpens(b, e, t, m)
		lat = append(lat, stop()...)
	}
	if len(lat) < b.N*800*clients*9/10 {
		b.Fatalf("clients saw %d job ends, want about %d", len(lat), b.N*800*clients)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_event_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_event_ms")
}

func benchClients(b *testing.B, light bool) {
	const m, clients = 2000, 10
	var without, with time.Duration
	var lat []time.Duration
	for b.Loop() {
		e0, t0, _ := benchEngine(b)
		without += runOpens(b, e0, t0, m)

		e1, t1, sock := benchEngine(b)
		stop := streamClients(b, sock, clients, light)
		with += runOpens(b, e1, t1, m)
		lat = append(lat, stop()...)
	}
	n := float64(b.N * m)
	b.ReportMetric(n/without.Seconds(), "jobs/s_0_clients")
	b.ReportMetric(n/with.Seconds(), "jobs/s_10_clients")
	b.ReportMetric(without.Seconds()/with.Seconds(), "ratio")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_event_ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_event_ms")
	}
}

// streamClients attaches n clients to the server's event stream (light or full). stop lets the last
// events arrive, ends the streams, waits for the clients and returns each job end they decoded as its
// latency from the job's finish time (full streams only: the light one carries no jobs).
func streamClients(b *testing.B, sock string, n int, light bool) (stop func() []time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	for range n {
		evs, err := NewClient(sock, "bench").Events(ctx, 0, light)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		wg.Go(func() {
			for ev := range evs {
				if ev.Kind == queue.JobChanged && ev.Job.State == store.JobDone {
					d := time.Since(ev.Job.FinishedAt)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}
		})
	}
	return func() []time.Duration {
		time.Sleep(50 * time.Millisecond) // let the last events reach the clients before the streams end
		cancel()
		wg.Wait()
		return lat
	}
}
