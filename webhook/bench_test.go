package webhook_test

import (
	"context"
	"math"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"vmmpm/internal/storetest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/webhook"
)

// benchEngine is a database with one module (queues on, 64 lanes) and a tariff, an engine with a no-op
// executor and, when hooked, the outbox hook; with hook set (a webhook on every event, its receiver
// answering at once) the deliverer runs beside it.
type benchEngine struct {
	db      *store.DB
	eng     *queue.Engine
	tariff  *store.Tariff
	secrets store.Secrets
	stopDel func()
	// pages is how many pages bbolt wrote while this engine ran (jobs) or its outbox drained.
	pages, jobs int64
}

func newBenchEngine(b *testing.B, hooked bool, receiver string, latency time.Duration, deliver bool) *benchEngine {
	b.Helper()
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	t := storetest.BenchRecords(b, db, 64)
	secrets := store.NewMemorySecrets()
	opt := queue.Options{Executor: queue.ExecutorFunc(func(ctx context.Context, _ *queue.Op) (queue.Result, error) {
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-ctx.Done():
				return queue.Result{}, ctx.Err()
			}
		}
		return queue.Result{}, nil
	})}
	if hooked {
		opt.OnCommit = webhook.Hook(nil)
	}
	eng, err := queue.New(db, secrets, opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Close() })
	be := &benchEngine{db: db, eng: eng, tariff: t, secrets: secrets, stopDel: func() {}}
	if receiver != "" {
		w := &store.Webhook{URL: receiver, Events: []string{"*"}, CreatedAt: time.Now()}
		if err := db.Update(func(tx *store.Tx) error { return store.AddWebhook(tx, w) }); err != nil {
			b.Fatal(err)
		}
		if err := secrets.Set(store.WebhookSecretID(w.ID), "bench-secret-0123456789"); err != nil {
			b.Fatal(err)
		}
		if !deliver {
			return be
		}
		d := webhook.New(db, secrets, webhook.Options{Write: eng.WriteAlong})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		evs, unsubscribe := eng.Subscribe(64)
		go func() {
			for range evs {
				d.Notify()
			}
		}()
		go func() { defer close(done); _ = d.Run(ctx) }()
		be.stopDel = func() { cancel(); <-done; unsubscribe() }
		b.Cleanup(be.stopDel)
	}
	return be
}

// run enqueues jobs opens (untimed) and returns how long the engine takes to run them all.
func (be *benchEngine) run(b *testing.B, jobs int) time.Duration {
	b.Helper()
	if _, err := be.eng.CreateServices(be.tariff.ID, jobs, "bench@example.org"); err != nil {
		b.Fatal(err)
	}
	w0 := be.db.BoltFile().Stats().TxStats
	start := time.Now()
	if err := be.eng.RunUntilIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	w1 := be.db.BoltFile().Stats().TxStats
	be.pages += w1.GetWrite() - w0.GetWrite()
	be.jobs += int64(jobs)
	return time.Since(start)
}

// discard empties the outbox of an engine with no deliverer (untimed), so it does not grow round by round.
func (be *benchEngine) discard(b *testing.B) {
	b.Helper()
	err := be.db.Update(func(tx *store.Tx) error {
		var all []*store.Delivery
		if err := store.PendingDeliveries(tx, 0, func(d *store.Delivery) bool { all = append(all, d); return true }); err != nil {
			return err
		}
		for _, d := range all {
			d.State = store.DeliveryGaveUp
			if err := store.FinishDelivery(tx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// pending is how many deliveries the outbox holds, counting up to most.
func (be *benchEngine) pending(most int) int {
	n := 0
	_ = be.db.View(func(tx *store.Tx) error {
		return store.PendingDeliveries(tx, 0, func(*store.Delivery) bool { n++; return n < most })
	})
	return n
}

// drained waits (untimed) until the outbox is empty, so one round's deliveries do not slow the next
// round of another engine, and returns how long that took.
func (be *benchEngine) drained(b *testing.B) time.Duration {
	b.Helper()
	start := time.Now()
	for {
		if be.pending(1) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > time.Minute {
			b.Fatal("the outbox did not drain within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkEngineWithWebhook: engine jobs/s (64 lanes, durable commits) with one webhook subscribed to
// every event, whose receiver (another process, as billing's would be) answers at once, against the same engine without a webhook (the outbox
// hook still keeps each service's last status) and without the hook at all; with a no-op executor (the
// engine bound by its commits, the worst case) and with 20 ms per operation (VMmanager answers slower
// than that). Rounds alternate the three engines so load from elsewhere hits them alike; ratio = with ÷
// without, hook-ratio = without ÷ no hook.
func BenchmarkEngineWithWebhook(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) { benchWebhook(b, latency) })
	}
}

func benchWebhook(b *testing.B, latency time.Duration) {
	url := startReceiver(b)
	plain := newBenchEngine(b, false, "", latency, false)
	quiet := newBenchEngine(b, true, "", latency, false)
	written := newBenchEngine(b, true, url, latency, false)
	hooked := newBenchEngine(b, true, url, latency, true)
	const perRun, rounds = 1000, 6
	var tPlain, tQuiet, tWritten, tHooked, tDrain time.Duration
	for b.Loop() {
		for r := range rounds {
			order := []*benchEngine{plain, quiet, written, hooked}
			if r%2 == 1 {
				order = []*benchEngine{hooked, written, quiet, plain}
			}
			for _, be := range order {
				d := be.run(b, perRun)
				switch be {
				case plain:
					tPlain += d
				case quiet:
					tQuiet += d
				case written:
					tWritten += d
					be.discard(b)
				case hooked:
					tHooked += d
					tDrain += be.drained(b)
				}
			}
		}
	}
	n := float64(b.N * perRun * rounds)
	b.ReportMetric(n/tHooked.Seconds(), "webhook-jobs/s")
	b.ReportMetric(n/tQuiet.Seconds(), "no-webhook-jobs/s")
	b.ReportMetric(n/tPlain.Seconds(), "no-hook-jobs/s")
	b.ReportMetric(tQuiet.Seconds()/tHooked.Seconds(), "ratio")
	b.ReportMetric(tPlain.Seconds()/tQuiet.Seconds(), "hook-ratio")
	b.ReportMetric(tQuiet.Seconds()/tWritten.Seconds(), "outbox-ratio")
	b.ReportMetric(float64(hooked.pages)/float64(hooked.jobs), "webhook-pages/job")
	b.ReportMetric(float64(quiet.pages)/float64(quiet.jobs), "no-webhook-pages/job")
	b.ReportMetric(tDrain.Seconds()*1000/float64(b.N*rounds), "drain-ms/round")
}

// BenchmarkDeliverer is the deliverer's CPU per delivery: the outbox of 1000 opens (every event, for a
// webhook whose receiver, another process, answers at once) is drained by a deliverer of its own while
// the engine is idle; cpu-µs/delivery is this process's user+system time over the drain, so it holds the
// HTTP client, the payloads, the bookkeeping's commits and the garbage collector.
func BenchmarkDeliverer(b *testing.B) {
	be := newBenchEngine(b, true, startReceiver(b), 0, false)
	var cpu, wall time.Duration
	sent, pages := 0, int64(0)
	for b.Loop() {
		be.run(b, 1000)
		n := be.pending(math.MaxInt)
		d := webhook.New(be.db, be.secrets, webhook.Options{Write: be.eng.WriteAlong})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		c0 := processCPU(b)
		s0 := be.db.BoltFile().Stats().TxStats
		go func() { defer close(done); _ = d.Run(ctx) }()
		wall += be.drained(b)
		cpu += processCPU(b) - c0
		s1 := be.db.BoltFile().Stats().TxStats
		pages += s1.GetWrite() - s0.GetWrite()
		cancel()
		<-done
		sent += n
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent), "cpu-µs/delivery")
	b.ReportMetric(float64(sent)/wall.Seconds(), "deliveries/s")
	b.ReportMetric(float64(sent)/float64(b.N*1000), "deliveries/job")
	b.ReportMetric(float64(pages)/float64(sent), "pages/delivery")
}

// processCPU is the user and system time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
