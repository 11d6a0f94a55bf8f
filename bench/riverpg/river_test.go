package riverpg

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// River is tuned as its own benchmark tunes it: riverbench, cmd/river/riverbench/river_bench.go in
// github.com/riverqueue/river (`river bench --num-total-jobs`). Jobs are inserted beforehand with
// InsertManyFast in batches of 2,000; one client on one queue with FetchCooldown 2 ms and
// FetchPollInterval 20 ms (defaults 100 ms and 1 s) and River's default batch completer works them;
// timing runs from Start until every job is completed. MaxWorkers is W here (riverbench: 2,000).
// That module is not served to this machine, so these values are riverbench's as recalled, not
// read here: README.md says so.
const (
	riverInsertBatch       = 2_000
	riverFetchCooldown     = 2 * time.Millisecond
	riverFetchPollInterval = 20 * time.Millisecond
	roundDeadline          = 5 * time.Minute
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// riverSide is River on a schema of its own, migrated up.
type riverSide struct {
	pool    *pgxpool.Pool
	driver  *riverpgxv5.Driver
	workers int
	done    int // jobs completed so far, checked against the table after each round
}

func newRiverSide(b *testing.B, workers int) *riverSide {
	b.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, freshSchema(b, "river"))
	if err != nil {
		b.Fatalf("River's pool: %v", err)
	}
	b.Cleanup(pool.Close)
	r := &riverSide{pool: pool, driver: riverpgxv5.New(pool), workers: workers}
	m, err := rivermigrate.New(r.driver, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatalf("River's migrations: %v", err)
	}
	return r
}

func (r *riverSide) client(b *testing.B) *river.Client[pgx.Tx] {
	b.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})
	c, err := river.NewClient(r.driver, &river.Config{
		FetchCooldown:     riverFetchCooldown,
		FetchPollInterval: riverFetchPollInterval,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: r.workers}},
		Workers:           workers,
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// round inserts jobs no-op jobs (untimed) and returns how long a started client takes to complete
// them all; it fails unless every one completed, by its events and by the table.
func (r *riverSide) round(b *testing.B, jobs int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), roundDeadline)
	defer cancel()
	c := r.client(b)
	batch := make([]river.InsertManyParams, 0, riverInsertBatch)
	for left := jobs; left > 0; left -= len(batch) {
		batch = batch[:min(left, riverInsertBatch)]
		for i := range batch {
			batch[i] = river.InsertManyParams{Args: noopArgs{}}
		}
		if _, err := c.InsertManyFast(ctx, batch); err != nil {
			b.Fatalf("River's insert: %v", err)
		}
	}
	events, unsubscribe := c.SubscribeConfig(&river.SubscribeConfig{ChanSize: jobs,
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed}})
	defer unsubscribe()
	start := time.Now()
	if err := c.Start(ctx); err != nil {
		b.Fatalf("River's start: %v", err)
	}
	for got := 0; got < jobs; got++ {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				b.Fatalf("River's job %d ended %s, not completed", ev.Job.ID, ev.Kind)
			}
		case <-ctx.Done():
			b.Fatalf("River completed %d of %d jobs within %v", got, jobs, roundDeadline)
		}
	}
	elapsed := time.Since(start)
	if err := c.Stop(ctx); err != nil {
		b.Fatalf("River's stop: %v", err)
	}
	r.done += jobs
	r.checkCompleted(ctx, b)
	return elapsed
}

func (r *riverSide) checkCompleted(ctx context.Context, b *testing.B) {
	b.Helper()
	var n int
	if err := r.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state = 'completed'").Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n != r.done {
		b.Fatalf("river_job holds %d completed jobs, want %d", n, r.done)
	}
}
