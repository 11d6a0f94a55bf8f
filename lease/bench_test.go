package lease

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"vmmpm/internal/pgtest"
)

// BenchmarkClaimStartFinish: jobs/s through the guarded transitions alone (a start transaction and
// a finish transaction per job, no work between), W lanes held by one engine, one worker per lane:
// the baseline the engine on PostgreSQL will be held against.
func BenchmarkClaimStartFinish(b *testing.B) {
	for _, w := range []int{4, 64} {
		b.Run(fmt.Sprintf("W=%d", w), func(b *testing.B) {
			url := pgtest.URL(b)
			cfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				b.Fatal(err)
			}
			cfg.MaxConns = int32(w + 2)
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			e, err := Join(context.Background(), pool, Options{Host: "bench", TTL: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			for i := range w {
				if err := AddLane(context.Background(), pool, Lane{1, fmt.Sprint(i)}); err != nil {
					b.Fatal(err)
				}
			}
			held, err := e.Claim(context.Background())
			if err != nil || len(held) != w {
				b.Fatalf("claimed %v, %v", held, err)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			begin := time.Now()
			for i, h := range held {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						job := next.Add(1)
						if job > int64(b.N) {
							return
						}
						if err := cycle(pool, e, h, int64(i), job); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "jobs/s")
		})
	}
}

// cycle is one job's guarded start and finish, each its own transaction as the engine's would be.
func cycle(pool *pgxpool.Pool, e *Engine, h Held, service, job int64) error {
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return e.StartJob(ctx, tx, h, service, job) }); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return e.FinishJob(ctx, tx, h, job) })
}
