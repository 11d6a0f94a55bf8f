package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store"
	"vmmpm/store/kv"
	"vmmpm/vmm"
)

type boltTx = bolt.Tx

// putPlain is what the engine writes for a job: the record as store.Tx.Put writes it, and the
// queue's entries beside it (index, scheduling entry, counts).
func putPlain(tx *boltTx, j *store.Job) error {
	bk := tx.Bucket([]byte("jobs"))
	if j.ID == 0 {
		id, err := bk.NextSequence()
		if err != nil {
			return err
		}
		j.ID = id
	}
	if err := j.Validate(); err != nil {
		return err
	}
	v, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := bk.Put(store.Key(j.ID), v); err != nil {
		return err
	}
	return putEntries(kv.BoltTx(tx), j, false, nil)
}

// benchFixture is a database with one module (queues on, lanes lanes) and a tariff, no emulator:
// benchmarks plug in their own executor.
func benchFixture(b *testing.B, lanes int) (*store.DB, *store.Tariff) {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	dc := &store.DataCenter{Name: "dc"}
	dept := &store.Department{Name: "ops"}
	for _, r := range []store.Record{dc, dept} {
		if err := db.Save(r); err != nil {
			b.Fatal(err)
		}
	}
	m := &store.Module{Name: "bench", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: "https://vmm.invalid",
		Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID, Enabled: true,
		Cluster: store.Cluster{ID: 1, Name: "kvm", Virtualization: store.VirtKVM}, Params: queueParams("b-__PMID__", lanes)}
	if err := db.Save(m); err != nil {
		b.Fatal(err)
	}
	t := &store.Tariff{Name: "t", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	if err := db.Save(t); err != nil {
		b.Fatal(err)
	}
	return db, t
}

func sleepExecutor(d time.Duration) Executor {
	return ExecutorFunc(func(ctx context.Context, _ *Op) (Result, error) {
		if d > 0 {
			return Result{}, vmm.Sleep(ctx, d)
		}
		return Result{}, nil
	})
}

// runBatch enqueues jobs opens (untimed) and returns how long the engine takes to run them all.
func runBatch(b *testing.B, e *Engine, t *store.Tariff, jobs int) time.Duration {
	b.Helper()
	for left := jobs; left > 0; left -= MaxCreate {
		if _, err := e.CreateServices(t.ID, min(left, MaxCreate), "bench@example.org"); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := e.RunUntilIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkDurableThroughput compares the engine (no-op executor, M jobs, W lanes) with a bare group
// committer on the same file doing the same writes per job (the job record and the queue's entries
// beside it, once for running and once for done, each durable before the next step) from W goroutines. Both run in
// the same iteration, so ratio = engine ÷ group is measured under the same load; the engine's run
// counts only if every job ended done.
func BenchmarkDurableThroughput(b *testing.B) {
	const jobs = 20_000
	for _, w := range []int{4, 64} {
		b.Run(fmt.Sprintf("W=%d", w), func(b *testing.B) {
			db, t := benchFixture(b, w)
			e, err := New(db, store.NewMemorySecrets(), Options{Executor: sleepExecutor(0)})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			var engine, group time.Duration
			// Rounds alternate engine and group so load from elsewhere on the machine hits both alike.
			const rounds = 10
			for b.Loop() {
				for r := range rounds {
					g := newPlainGroup(db.BoltFile())
					if r%2 == 1 {
						group += plainBolt(b, db, jobs/rounds, w, g.commit)
					}
					before := e.Counts()[1].Done
					engine += runBatch(b, e, t, jobs/rounds)
					if got := e.Counts()[1].Done - before; got != jobs/rounds {
						b.Fatalf("%d of %d jobs ended done", got, jobs/rounds)
					}
					if r%2 == 0 {
						group += plainBolt(b, db, jobs/rounds, w, g.commit)
					}
					g.close()
				}
			}
			n := float64(b.N * jobs)
			b.ReportMetric(n/engine.Seconds(), "engine-jobs/s")
			b.ReportMetric(n/group.Seconds(), "group-jobs/s")
			b.ReportMetric(group.Seconds()/engine.Seconds(), "ratio")
		})
	}
}

// plainGroup is the leanest group commit on bare bbolt: writers hand a closure to one goroutine, which
// runs everything pending in one Update as soon as the previous one is durable. It is the engine's
// committer without the engine, so it bounds what the engine can reach.
type plainGroup struct {
	db   *bolt.DB
	reqs chan plainReq
	done chan struct{}
}

type plainReq struct {
	fn  func(*boltTx) error
	err chan error
}

func newPlainGroup(db *bolt.DB) *plainGroup {
	g := &plainGroup{db: db, reqs: make(chan plainReq, 1024), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *plainGroup) commit(fn func(*boltTx) error) error {
	r := plainReq{fn: fn, err: make(chan error, 1)}
	g.reqs <- r
	return <-r.err
}

func (g *plainGroup) close() { close(g.reqs); <-g.done }

func (g *plainGroup) loop() {
	defer close(g.done)
	for r := range g.reqs {
		batch := []plainReq{r}
	drain:
		for {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := g.db.Update(func(tx *boltTx) error {
			for _, r := range batch {
				if err := r.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		for _, r := range batch {
			r.err <- err
		}
	}
}

// plainBolt records running and done for jobs jobs from conc goroutines with the given commit
// function (bolt Update or Batch), writing the same job records the engine writes.
func plainBolt(b *testing.B, db *store.DB, jobs, conc int, commit func(func(*boltTx) error) error) time.Duration {
	b.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conc)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < jobs; i += conc {
				j := &store.Job{ServiceID: 1, ModuleID: 1, Type: store.OpOpen, State: store.JobQueued, MaxAttempts: 8,
					EnqueuedAt: time.Now(), QueueKey: "b-1-1", Lane: 1}
				j.Logf(time.Now(), "enqueued on b-1-1")
				for _, st := range []string{store.JobRunning, store.JobDone} {
					j.State = st
					j.Logf(time.Now(), "%s", st)
					if err := commit(func(tx *boltTx) error { return putPlain(tx, j) }); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkMakespan runs M=200 jobs over N=4 lanes with an executor latency of L=20 ms and compares the
// makespan with the ideal ⌈M/N⌉·L, and with N goroutines doing the same sleeps one after another with
// no engine (sleep-ms: what timers and the scheduler cost on this machine, in the same run), and with
// those sleeps plus one durable bbolt commit per hand-over on the same file (the least a lane can
// wait when each job's end and the next one's start must be on disk before the next call).
func BenchmarkMakespan(b *testing.B) {
	const m, n, lat = 200, 4, 20 * time.Millisecond
	db, t := benchFixture(b, n)
	e, err := New(db, store.NewMemorySecrets(), Options{Executor: sleepExecutor(lat)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var total, sleeps, commits time.Duration
	for b.Loop() {
		total += runBatch(b, e, t, m)
		start := time.Now()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for range (m + n - 1) / n {
					_ = vmm.Sleep(context.Background(), lat)
				}
			})
		}
		wg.Wait()
		sleeps += time.Since(start)
		start = time.Now()
		for i := range (m + n - 1) / n { // one durable commit per hand-over, on the same file
			if err := db.BoltFile().Update(func(tx *boltTx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("bench"), []byte{byte(i)})
			}); err != nil {
				b.Fatal(err)
			}
		}
		commits += time.Since(start)
	}
	makespan := total / time.Duration(b.N)
	ideal := time.Duration((m+n-1)/n) * lat
	b.ReportMetric(float64(makespan.Milliseconds()), "makespan-ms")
	b.ReportMetric(float64(ideal.Milliseconds()), "ideal-ms")
	b.ReportMetric(float64((sleeps / time.Duration(b.N)).Milliseconds()), "sleep-ms")
	b.ReportMetric(makespan.Seconds()/ideal.Seconds(), "ratio")
	b.ReportMetric(total.Seconds()/sleeps.Seconds(), "ratio-vs-sleep")
	// The floor for a lane that commits each hand-over durably: the sleeps plus one commit per job.
	b.ReportMetric(total.Seconds()/(sleeps+commits).Seconds(), "ratio-vs-sleep+commit")
	// What that floor is against the ideal: the best ratio any engine that commits each hand-over
	// durably can reach on this disk and with these timers.
	b.ReportMetric((sleeps+commits).Seconds()/float64(b.N)/ideal.Seconds(), "floor-ratio")
}

// BenchmarkPage reads a page of 40 jobs from 100,000 (the jobs pane's query): the cost must not depend
// on the history size. It also reports how long New takes to open that database.
func BenchmarkPage(b *testing.B) {
	db, t := benchFixture(b, 1)
	e, err := New(db, store.NewMemorySecrets(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	for range 10 {
		if _, err := e.CreateServices(t.ID, MaxCreate, "page@example.org"); err != nil {
			b.Fatal(err)
		}
	}
	_ = e.Close()
	start := time.Now()
	e, err = New(db, store.NewMemorySecrets(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	opened := time.Since(start)
	b.ResetTimer()
	for b.Loop() {
		jobs, total, err := e.Page(store.JobQueued, 50_000, 40)
		if err != nil || len(jobs) != 40 || total != 100_000 {
			b.Fatalf("page: %d jobs of %d, %v", len(jobs), total, err)
		}
	}
	b.ReportMetric(float64(opened.Milliseconds()), "open-100k-ms")
}

// BenchmarkEngineHeap opens an engine on 100,000 finished and 100,000 unfinished jobs and reports the
// heap it holds once loaded (goal: under 200 MiB), and how long until it can schedule.
func BenchmarkEngineHeap(b *testing.B) {
	const each = 100_000
	db, _ := benchFixture(b, 4)
	e, err := New(db, store.NewMemorySecrets(), Options{}) // creates the index buckets
	if err != nil {
		b.Fatal(err)
	}
	_ = e.Close()
	at := time.Now()
	for start := 0; start < 2*each; start += 5000 {
		err := db.Update(func(tx *store.Tx) error {
			for i := start; i < start+5000; i++ {
				j := &store.Job{ServiceID: uint64(i + 1), ModuleID: 1, Type: store.OpOpen, State: store.JobDone,
					QueueKey: QueueKey("b-1", 1+i%4), Lane: 1 + i%4, Attempt: 1, MaxAttempts: 8, EnqueuedAt: at}
				if i >= each {
					j.State, j.Attempt = store.JobQueued, 0
				}
				j.Logf(at, "enqueued on %s", j.QueueKey)
				if err := putJob(tx, j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var heap, ready float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		e, err := New(db, store.NewMemorySecrets(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if e.Idle() { // waits for the load; 100,000 jobs are queued
			b.Fatal("engine idle with 100,000 queued jobs")
		}
		ready += time.Since(start).Seconds() * 1000
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		runtime.KeepAlive(e)
		_ = e.Close()
	}
	b.ReportMetric(heap/float64(b.N), "heap-MiB")
	b.ReportMetric(ready/float64(b.N), "ready-ms")
}
