package backend

import (
	"context"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/internal/storetest"
	"vmmpm/queue"
	"vmmpm/store"
)

// BenchmarkEnginesOnePostgres: no-op jobs/s of the engine on PostgreSQL as serve runs it (its engine
// lease, every commit guarded), alone on its database and with two more hosts' engines waiting as
// standbys on the same database (each its own pool, renewing and polling as serve's do). Rounds
// alternate the two set-ups, each on a fresh schema; ratio = three hosts ÷ one.
func BenchmarkEnginesOnePostgres(b *testing.B) {
	const jobs = 2000
	var one, three, enq time.Duration
	for i := 0; i < b.N; i++ {
		ran, enqueued := runHosts(b, 1, jobs)
		one, enq = one+ran, enq+enqueued
		ran, _ = runHosts(b, 3, jobs)
		three += ran
	}
	n := float64(jobs * b.N)
	b.ReportMetric(n/enq.Seconds(), "enqueued/s")
	b.ReportMetric(n/one.Seconds(), "one-jobs/s")
	b.ReportMetric(n/three.Seconds(), "three-jobs/s")
	b.ReportMetric(one.Seconds()/three.Seconds(), "ratio")
}

// runHosts starts hosts engines on a fresh schema (the first runs, the others stand by), enqueues
// jobs opens in one call and returns how long the running one takes to finish them all, and how long
// the call took.
func runHosts(b *testing.B, hosts, jobs int) (ran, enqueued time.Duration) {
	b.Helper()
	url := pgtest.URL(b)
	open := func() *store.DB {
		db, err := store.Open(url, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = db.Close() })
		return db
	}
	db := open()
	tariff := storetest.BenchRecords(b, db, 64).ID
	noop := queue.ExecutorFunc(func(context.Context, *queue.Op) (queue.Result, error) { return queue.Result{}, nil })
	o := EngineOptions{UntilIdle: true, Queue: queue.Options{Executor: noop}}
	e, err := NewEngine(db, store.NewMemorySecrets(), o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	standby := o
	standby.Standby = ctx
	for range hosts - 1 {
		go func(db *store.DB) {
			// Canceled at the round's end, before it ever runs the engine.
			if s, err := NewEngine(db, store.NewMemorySecrets(), standby); err == nil {
				_ = s.Close()
			}
		}(open())
	}
	start := time.Now()
	if _, err := e.Queue().CreateServices(tariff, jobs, "bench@example.org"); err != nil {
		b.Fatal(err)
	}
	enqueued = time.Since(start)
	start = time.Now()
	e.Start(ctx)
	<-e.Done()
	ran = time.Since(start)
	if err := e.Err(); err != nil {
		b.Fatal(err)
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
	return ran, enqueued
}
