package backend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/store/kv"
)

// standbyBeside is host A's engine running on a PostgreSQL schema with one module and tariff, and
// host B's Standby on the same schema (a pool of its own, as another host's). stopA stops A's
// engine (once; the test's end does it otherwise).
func standbyBeside(t *testing.T) (a *Engine, stopA func() error, s *Standby) {
	t.Helper()
	return standbyBesideWith(t, queue.Options{Executor: succeed, PollEvery: 10 * time.Millisecond})
}

// standbyBesideWith is standbyBeside with A's engine on opt.
func standbyBesideWith(t testing.TB, opt queue.Options) (a *Engine, stopA func() error, s *Standby) {
	t.Helper()
	poll := StandbyPoll
	StandbyPoll = 50 * time.Millisecond
	t.Cleanup(func() { StandbyPoll = poll })
	url := pgtest.URL(t)
	dbA, secrets := engineDBAt(t, url)
	a, err := StartEngine(context.Background(), dbA, secrets, EngineOptions{Version: "test", Queue: opt})
	if err != nil {
		t.Fatal(err)
	}
	stopA = sync.OnceValue(a.Close)
	t.Cleanup(func() { _ = stopA() })
	dbB, err := store.Open(url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s, err = NewStandby(dbB, store.NewMemorySecrets(), "test"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return a, stopA, s
}

// next is the stream's next event, failing after a generous deadline.
func next(t *testing.T, events <-chan Event) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-events:
		return ev, ok
	case <-time.After(30 * time.Second):
		t.Fatal("no event from the standby's stream in 30 s")
	}
	return Event{}, false
}

// TestStandbyFollowsAnotherEngine: a Standby beside another process's engine says it is a read-only
// view of that engine's host, hears each change as a light notice, and after one sees in the jobs
// pane's view, the counts and the figures what that engine did; the figures name the lease's holder
// and its last renewal.
func TestStandbyFollowsAnotherEngine(t *testing.T) {
	a, _, s := standbyBeside(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host, _ := os.Hostname()
	holder := fmt.Sprintf("host %s (pid %d)", host, os.Getpid())
	if info, _ := s.Info(ctx); info.Mode != ModeReadOnly || info.Engine != holder {
		t.Fatalf("info %q engine %q, want %q on %q", info.Mode, info.Engine, ModeReadOnly, holder)
	}
	events, err := s.Events(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateServices(ctx, "small", 2, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := next(t, events)
		if !ok {
			t.Fatal("the stream ended while the engine ran")
		}
		if ev.Job != nil || ev.Covers < 1 || ev.Reset {
			t.Fatalf("a light stream carried %+v, want notices (no job, Covers ≥ 1, no reset)", ev)
		}
		v, err := s.JobsView(ctx, JobsQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if v.Total == 2 && v.Counts[1].Done == 2 && v.Jobs[0].State == store.JobDone && v.Jobs[1].State == store.JobDone {
			break
		}
	}
	st, err := s.Status(ctx)
	if err != nil || st.Jobs[store.JobDone] != 2 || st.Mode != ModeReadOnly {
		t.Fatalf("status %+v (%v), want 2 jobs done in mode %s", st, err, ModeReadOnly)
	}
	snap, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Engine != holder || time.Since(snap.EngineRenewed) > 30*time.Second {
		t.Errorf("the figures name engine %q renewed %v, want %q renewed within the lease", snap.Engine, snap.EngineRenewed, holder)
	}
}

// TestStandbyShowsWhatTheEngineHostShows: after enqueues, finishes, failures, pruning and retries
// by the engine on host A, a refresh of host B's view (brought forward by what changed, with
// refreshes while A worked) shows what A's own backend shows: every jobs tab's page and counts, and
// a job's detail; the jobs A pruned are no longer listed.
func TestStandbyShowsWhatTheEngineHostShows(t *testing.T) {
	const keep = 8
	var mu sync.Mutex
	refused := map[uint64]bool{} // jobs whose first attempt VMmanager refused
	fail := queue.ExecutorFunc(func(ctx context.Context, op *queue.Op) (queue.Result, error) {
		mu.Lock()
		first := op.Job.ID%3 == 0 && !refused[op.Job.ID]
		refused[op.Job.ID] = true
		mu.Unlock()
		if first {
			return queue.Result{}, queue.Permanent(fmt.Errorf("job %d refused", op.Job.ID))
		}
		return succeed(ctx, op)
	})
	a, _, s := standbyBesideWith(t, queue.Options{Executor: fail, PollEvery: 10 * time.Millisecond, KeepFinished: keep})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for round := range 3 {
		if _, err := a.CreateServices(ctx, "small", 6, "client@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.refresh(); err != nil { // while A works: what it sees now is brought forward later
			t.Fatal(err)
		}
		settle(t, ctx, a, keep)
		if err := s.refresh(); err != nil {
			t.Fatal(err)
		}
		sameJobs(t, ctx, fmt.Sprintf("round %d", round), a, s)
	}
	if v, err := s.JobsView(ctx, JobsQuery{Limit: 100}); err != nil || v.Total != keep || v.Jobs[len(v.Jobs)-1].ID != 18-keep+1 {
		t.Fatalf("after 18 jobs the view lists %+v (%v), want the newest %d", v, err, keep)
	}
	if _, err := s.JobDetail(ctx, 1); err == nil {
		t.Error("the view still finds job 1, which the engine pruned")
	}
	failed, err := a.JobsView(ctx, JobsQuery{State: store.JobFailed, Limit: 100})
	if err != nil || len(failed.Jobs) < 2 {
		t.Fatalf("failed jobs %+v (%v), want 2 at least", failed, err)
	}
	for _, j := range failed.Jobs[:2] {
		if err := a.Retry(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		settle(t, ctx, a, keep)
		if err := s.refresh(); err != nil {
			t.Fatal(err)
		}
		sameJobs(t, ctx, fmt.Sprintf("job %d retried", j.ID), a, s)
	}
}

// TestStandbyRereadsARestoredDatabase: when the database's generation went back (a restore), the
// view reads everything again instead of bringing its lists forward: the same ids may now be other
// jobs, here with the same counts by state, which Follow's check cannot tell from no change.
func TestStandbyRereadsARestoredDatabase(t *testing.T) {
	failing := func(id uint64) queue.Executor {
		return queue.ExecutorFunc(func(ctx context.Context, op *queue.Op) (queue.Result, error) {
			if op.Job.ID == id {
				return queue.Result{}, queue.Permanent(fmt.Errorf("job %d refused", id))
			}
			return succeed(ctx, op)
		})
	}
	a, stopA, s := standbyBesideWith(t, queue.Options{Executor: failing(3), PollEvery: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := a.CreateServices(ctx, "small", 3, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	settle(t, ctx, a, 3)
	if err := errors.Join(stopA(), s.refresh()); err != nil {
		t.Fatal(err)
	}
	before, err := s.generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The "restore": an older database whose jobs 1-3 ended otherwise, its generation below the view's.
	pool := s.pg.Pool()
	if _, err := pool.Exec(ctx, `TRUNCATE kv_pairs, kv_buckets`); err != nil {
		t.Fatal(err)
	}
	dbC, secrets := engineDBAt(t, s.l.DB.Path())
	c, err := NewEngine(dbC, secrets, EngineOptions{UntilIdle: true, Queue: queue.Options{Executor: failing(1), PollEvery: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateServices(ctx, "small", 3, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	c.Start(ctx)
	<-c.Done()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE kv_meta SET gen = 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	events, err := s.Events(ctx, before, true)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := next(t, events); !ev.Reset {
		t.Errorf("a stream whose generation went back began with %+v, want Reset", ev)
	}
	v, err := s.JobsView(ctx, JobsQuery{State: store.JobFailed, Limit: 10})
	if rows := jobRows(v.Jobs); err != nil || rows != "1:failed " {
		t.Errorf("after the restore the failed tab shows %q (%v), want job 1 alone", rows, err)
	}
}

// settle waits until A has nothing to run and has pruned its history down to keep.
func settle(t *testing.T, ctx context.Context, a *Engine, keep int) {
	t.Helper()
	for {
		v, err := a.JobsView(ctx, JobsQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		busy := v.Total > keep
		for _, c := range v.Counts {
			busy = busy || c.Queued+c.Running+c.Retrying > 0
		}
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("engine A still busy: %+v", v.Counts)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sameJobs fails unless the view s shows what A's backend shows: each tab's jobs, total and counts,
// and each listed job's detail.
func sameJobs(t *testing.T, ctx context.Context, step string, a *Engine, s *Standby) {
	t.Helper()
	for _, state := range append([]string{""}, store.JobStates...) {
		q := JobsQuery{State: state, Limit: 100}
		want, err1 := a.JobsView(ctx, q)
		got, err2 := s.JobsView(ctx, q)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if w, g := jobRows(want.Jobs), jobRows(got.Jobs); w != g || want.Total != got.Total || !reflect.DeepEqual(want.Counts, got.Counts) {
			t.Errorf("%s, tab %q: the view shows %d %s %+v, engine A %d %s %+v", step, state, got.Total, g, got.Counts, want.Total, w, want.Counts)
		}
		for _, j := range want.Jobs {
			wd, err1 := a.JobDetail(ctx, j.ID)
			gd, err2 := s.JobDetail(ctx, j.ID)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(wd, gd) {
				t.Errorf("%s: job %d's detail in the view %+v (%v), on A %+v (%v)", step, j.ID, gd, err2, wd, err1)
			}
		}
	}
}

func jobRows(jobs []store.Job) string {
	var b strings.Builder
	for _, j := range jobs {
		fmt.Fprintf(&b, "%d:%s ", j.ID, j.State)
	}
	return b.String()
}

// TestStandbyRefusesChanges: every change through a Standby but an order or an operation
// (TestStandbyEnqueueReachesTheEngine) is refused with one sentence naming the host whose engine
// runs the jobs and what to do, and so is a password change; nothing is written.
func TestStandbyRefusesChanges(t *testing.T) {
	a, stopA, s := standbyBeside(t)
	ctx := context.Background()
	if _, err := a.CreateServices(ctx, "small", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	_ = stopA() // no engine writes meanwhile: the generation stays where the refusals leave it
	before, err := s.generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Closed, A left the lease: the refusal still names a host, one that may take it over; with no
	// engine to ask, a cancel or retry is refused too.
	refusals := map[string]error{}
	refusals["cancel"] = s.Cancel(ctx, 1)
	refusals["retry"] = s.Retry(ctx, 1)
	_, refusals["save"] = s.Save(ctx, &store.DataCenter{Name: "DC Two"})
	_, refusals["pause"] = s.PauseModule(ctx, 1, true)
	_, refusals["check"] = s.CheckModule(ctx, 1)
	for what, err := range refusals {
		if err == nil || !strings.Contains(err.Error(), "runs the engine of "+s.l.DB.Path()+", and nothing was changed") ||
			!strings.Contains(err.Error(), "--socket") {
			t.Errorf("%s through the standby: %v", what, err)
		}
	}
	_, err = s.Enqueue(ctx, 1, store.OpSetPassword, map[string]string{queue.ArgPassword: "n3w-secret-7"})
	if err == nil || !strings.Contains(err.Error(), "nothing was enqueued") || !strings.Contains(err.Error(), "--socket") {
		t.Errorf("a password change through the standby: %v", err)
	}
	if after, _ := s.generation(ctx); after != before {
		t.Errorf("the refusals wrote to the database: generation %d, then %d", before, after)
	}
}

// TestStandbyRefusalNamesHolder: the refusal names the live engine's host and pid.
func TestStandbyRefusalNamesHolder(t *testing.T) {
	_, _, s := standbyBeside(t)
	host, _ := os.Hostname()
	_, err := s.PauseModule(context.Background(), 1, true)
	if want := fmt.Sprintf("vmmpm on host %s (pid %d, test) runs the engine of", host, os.Getpid()); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("pause through the standby: %v, want it to begin %q", err, want)
	}
}

// TestStandbyStreamResets: a stream that is not light says Reset at every notice (it carries no
// job to show), one resumed past a change it did not see begins with Reset, and when the engine
// leaves the stream ends after a Reset, so its reader reopens it and reads who runs the engine now.
func TestStandbyStreamResets(t *testing.T) {
	a, stopA, s := standbyBeside(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gen, err := s.generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full, err := s.Events(ctx, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateServices(ctx, "small", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := next(t, full); !ev.Reset || ev.Job != nil || ev.Seq <= gen {
		t.Errorf("a full stream's notice %+v, want Reset, no job, Seq past %d", ev, gen)
	}
	resumed, err := s.Events(ctx, gen, true)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := next(t, resumed); !ev.Reset {
		t.Errorf("a stream resumed from %d past changes began with %+v, want Reset", gen, ev)
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := next(t, resumed)
		if !ok {
			break
		}
		if ev.Reset {
			if _, ok := next(t, resumed); ok {
				t.Fatal("the stream went on after the engine left")
			}
			break
		}
	}
	if info, _ := s.Info(ctx); info.Engine != "" {
		t.Errorf("with no engine left the view says it reads %q's", info.Engine)
	}
}

// TestStandbyDatabaseGone: when the database stops answering the stream ends, and opening it again
// fails with a sentence naming the database, which the TUI shows as the view's stale mark.
func TestStandbyDatabaseGone(t *testing.T) {
	_, _, s := standbyBeside(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, err := s.Events(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	s.pg.Pool().Close() // as a database that went away
	for {
		if _, ok := next(t, events); !ok {
			break
		}
	}
	if _, err := s.Events(ctx, 0, true); err == nil || !strings.HasPrefix(err.Error(), "cannot read database "+s.l.DB.Path()) {
		t.Fatalf("a stream opened on a database gone: %v", err)
	}
}

// TestStandbyNeedsSharedDatabase: on a bbolt file there is no other host's engine to read beside.
func TestStandbyNeedsSharedDatabase(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := NewStandby(db, store.NewMemorySecrets(), "test"); err == nil || !strings.Contains(err.Error(), "needs a database kept on PostgreSQL") {
		t.Fatalf("a standby on a bbolt file: %v", err)
	}
}

// standbyBenchJobs are the history sizes BenchmarkStandbyRefresh reads beside: a refresh should
// cost the same at each (it reads what changed, not the history).
var standbyBenchJobs = []int{1000, 20000}

// BenchmarkStandbyRefresh: what a Standby pays at each change it hears (its engine read again from
// the database) and at each poll (the generation's read), beside a history of finished jobs.
func BenchmarkStandbyRefresh(b *testing.B) {
	for _, n := range standbyBenchJobs {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			s := standbyOverHistory(b, n)
			b.Run("refresh", func(b *testing.B) {
				for b.Loop() {
					if err := s.refresh(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("waiting", func(b *testing.B) { // n jobs queued, none run: what grows while work waits
				w := standbyOver(b, n, false)
				for b.Loop() {
					if err := w.refresh(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("poll", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.generation(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// standbyOverHistory is a Standby on a schema whose engine, now stopped, ran n jobs to done.
func standbyOverHistory(b *testing.B, n int) *Standby { return standbyOver(b, n, true) }

// standbyOver is a Standby on a schema whose engine, now stopped, enqueued n jobs, and ran them to
// done when run.
func standbyOver(b *testing.B, n int, run bool) *Standby {
	url := pgtest.URL(b)
	dbA, secrets := engineDBAt(b, url)
	a, err := NewEngine(dbA, secrets, EngineOptions{UntilIdle: true,
		Queue: queue.Options{Executor: succeed, PollEvery: 10 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	for left := n; left > 0; left -= 10000 { // an order takes at most 10,000 services
		if _, err := a.CreateServices(context.Background(), "small", min(left, 10000), "client@example.com"); err != nil {
			b.Fatal(err)
		}
	}
	if run {
		a.Start(context.Background())
		<-a.Done()
	}
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	dbB, err := store.Open(url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewStandby(dbB, store.NewMemorySecrets(), "test")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.refresh(); err != nil { // waits for the lists NewStandby loads behind its return
		b.Fatal(err)
	}
	return s
}

// TestStandbyHearsACommitBeforeItsPoll: with a poll that never comes in the test's time, the
// standby's stream still hears the other host's engine commit (its NOTIFY) and its view shows the
// job done.
func TestStandbyHearsACommitBeforeItsPoll(t *testing.T) {
	a, _, s := standbyBeside(t)
	StandbyPoll = time.Hour // standbyBeside's cleanup puts it back
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := s.Events(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateServices(ctx, "small", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := next(t, events); !ok {
			t.Fatal("the stream ended while the engine ran")
		}
		v, err := s.JobsView(ctx, JobsQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if v.Total == 1 && v.Jobs[0].State == store.JobDone {
			return
		}
	}
}

// BenchmarkStandbySeesACommit is how long after another host's commit a standby's stream tells
// of it: woken by the NOTIFY, and polling only (each second, as StandbyPoll is by default). The
// pauses between commits are not counted.
func BenchmarkStandbySeesACommit(b *testing.B) {
	for _, mode := range []string{"notify", "poll-only"} {
		b.Run(mode, func(b *testing.B) {
			s := standbyOverHistory(b, 0)
			s.pollOnly = mode == "poll-only"
			url := s.l.DB.Path()
			w, err := store.Open(url, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = w.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events, err := s.Events(ctx, 0, true)
			if err != nil {
				b.Fatal(err)
			}
			var waited time.Duration
			for i := 0; b.Loop(); i++ {
				// Commits come at random moments, as an engine's do to a reader: not just after a
				// poll, nor inside the gap the NOTIFYs keep.
				time.Sleep(rand.N(StandbyPoll))
				start := time.Now()
				if err := w.KV().Update(func(tx kv.Tx) error {
					bk, err := tx.CreateBucketIfNotExists([]byte("bench-scratch"))
					if err != nil {
						return err
					}
					return bk.Put([]byte("k"), fmt.Append(nil, i))
				}); err != nil {
					b.Fatal(err)
				}
				gen, _ := Generation(ctx, w)
				for ev := range events {
					if ev.Seq >= gen {
						break
					}
				}
				waited += time.Since(start)
			}
			b.ReportMetric(float64(waited)/1e6/float64(b.N), "ms/seen")
		})
	}
}

// TestPacerSpacesReads: after a read of 50 ms the next may begin only 450 ms after it ended (a
// tenth of the time reading), after a quick one WakeEvery after it; the first goes at once.
func TestPacerSpacesReads(t *testing.T) {
	var p Pacer
	if !p.Wait(context.Background()) {
		t.Fatal("the first read waited")
	}
	p.Read(time.Now().Add(-50 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if p.Wait(ctx) {
		t.Fatal("a read of 50 ms was followed by another within 150 ms")
	}
	p.Read(time.Now())
	begun := time.Now()
	if !p.Wait(context.Background()) {
		t.Fatal("Wait refused with a live context")
	}
	if waited := time.Since(begun); waited < WakeEvery*9/10 {
		t.Fatalf("after a quick read the next began %v later, want about %v", waited, WakeEvery)
	}
}

// TestStandbyEnqueueReachesTheEngine: a TUI on a standby host orders services and enqueues an
// operation, writing the webhook deliveries of the new jobs as the engine would; the engine on the
// other host takes the jobs in at their commit's NOTIFY (its own poll is an hour away) and runs
// them, and its lists show them; an operation carrying a password is refused with a sentence
// naming the engine's host, and nothing is enqueued for it.
func TestStandbyEnqueueReachesTheEngine(t *testing.T) {
	poll := queue.ForeignPoll
	queue.ForeignPoll = time.Hour
	t.Cleanup(func() { queue.ForeignPoll = poll })
	a, _, s := standbyBeside(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := a.Events(ctx, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	// ran waits until the engine's events have shown each job of want (job id → type) done.
	ran := func(what string, want map[uint64]string) {
		t.Helper()
		for len(want) > 0 {
			select {
			case ev := <-events:
				if j := ev.Job; ev.Kind == queue.JobChanged && j != nil && j.State == store.JobDone && want[j.ID] == j.Type {
					delete(want, j.ID)
				}
			case <-ctx.Done():
				t.Fatalf("%s: the engine did not run jobs %v", what, want)
			}
		}
	}
	// A receiver of every host's job news: the order's enqueues write its deliveries, as the engine's do.
	hook := &store.Webhook{URL: "http://127.0.0.1:1/hook", Events: []string{store.EventJobPrefix + store.JobQueued}, CreatedAt: time.Now()}
	if err := a.Local.DB.Update(func(tx *store.Tx) error { return store.AddWebhook(tx, hook) }); err != nil {
		t.Fatal(err)
	}
	o, err := s.CreateServices(ctx, "small", 3, "client@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.Deliveries(ctx, DeliveryQuery{Webhook: hook.ID})
	if err != nil {
		t.Fatal(err)
	}
	queuedFor := map[uint64]bool{}
	for _, d := range ds {
		queuedFor[d.Service] = d.Event == store.EventJobPrefix+store.JobQueued
	}
	for _, svc := range o.Services {
		if !queuedFor[svc.ID] {
			t.Errorf("no %s delivery for service %d ordered on the standby host (deliveries %v)", store.EventJobPrefix+store.JobQueued, svc.ID, ds)
		}
	}
	opens := map[uint64]string{}
	jl, err := s.Jobs(ctx, JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jl.Jobs {
		opens[j.ID] = j.Type
	}
	if len(opens) != 3 || len(o.Services) != 3 {
		t.Fatalf("the order on the standby host wrote %d services and %d jobs, want 3 and 3", len(o.Services), len(opens))
	}
	ran("3 opens ordered on the standby host", opens)
	reboot, err := s.Enqueue(ctx, o.Services[0].ID, store.OpReboot, nil)
	if err != nil {
		t.Fatal(err)
	}
	ran("a reboot enqueued on the standby host", map[uint64]string{reboot.ID: store.OpReboot})
	_, err = s.Enqueue(ctx, o.Services[1].ID, store.OpSetPassword, map[string]string{queue.ArgPassword: "n3w-secret-7"})
	if err == nil || !strings.Contains(err.Error(), "nothing was enqueued") || !strings.Contains(err.Error(), "keyring") ||
		!strings.Contains(err.Error(), "vmmpm on host") {
		t.Errorf("a password change enqueued on the standby host: %v", err)
	}
	if _, n, err := a.Queue().Page(store.JobDone, 0, 10); err != nil || n != 4 {
		t.Errorf("the engine's own lists show %d jobs done (%v), want the 4 the standby host enqueued", n, err)
	}
	if jl, err := s.Jobs(ctx, JobQuery{}); err != nil || len(jl.Jobs) != 4 {
		t.Errorf("%d jobs in the database after the refused password change (%v), want 4", len(jl.Jobs), err)
	}
}

// BenchmarkStandbyOrderReachesEngine is how long after an order made on a standby host commits
// the engine on the other host starts its open: taken in at the NOTIFY, and by the poll alone
// (ForeignPoll, 1 s, as it was before the wake-up).
func BenchmarkStandbyOrderReachesEngine(b *testing.B) {
	for _, mode := range []string{"notify", "poll-only"} {
		b.Run(mode, func(b *testing.B) {
			qo := queue.Options{Executor: succeed, PollEvery: 10 * time.Millisecond}
			if mode == "poll-only" {
				qo.Wake = func(context.Context) <-chan struct{} { return nil }
			}
			a, _, s := standbyBesideWith(b, qo)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events, err := a.Events(ctx, 0, false)
			if err != nil {
				b.Fatal(err)
			}
			var waited time.Duration
			for b.Loop() {
				o, err := s.CreateServices(ctx, "small", 1, "client@example.com")
				if err != nil {
					b.Fatal(err)
				}
				ordered := time.Now()
				for started := false; !started; {
					select {
					case ev := <-events:
						started = ev.Kind == queue.JobChanged && ev.Job != nil && ev.Job.ServiceID == o.Services[0].ID &&
							ev.Job.State == store.JobRunning
					case <-time.After(30 * time.Second):
						b.Fatal("the engine did not start the open ordered on the standby host in 30 s")
					}
				}
				waited += time.Since(ordered)
			}
			b.ReportMetric(float64(waited.Milliseconds())/float64(b.N), "ms-to-start")
		})
	}
}

// TestStandbyCancelAndRetryAskTheEngine: a cancel or a retry made on a standby host is asked of the
// engine's host, which carries it out through its own engine and answers: a queued job is
// cancelled, a failed one retried and run, and the engine's refusal (a done job cannot be
// cancelled) comes back as its sentence.
func TestStandbyCancelAndRetryAskTheEngine(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	exec := queue.ExecutorFunc(func(ctx context.Context, op *queue.Op) (queue.Result, error) {
		if failing.Load() {
			return queue.Result{}, queue.Permanent(errors.New("refused by the test"))
		}
		return succeed(ctx, op)
	})
	a, _, s := standbyBesideWith(t, queue.Options{Executor: exec, PollEvery: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	state := func(id uint64) string {
		d, err := a.JobDetail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Job.State
	}
	until := func(what string, id uint64, want string) {
		t.Helper()
		for state(id) != want {
			if ctx.Err() != nil {
				t.Fatalf("%s: job %d is %s, want %s", what, id, state(id), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	o, err := a.CreateServices(ctx, "small", 1, "client@example.com")
	if err != nil {
		t.Fatal(err)
	}
	until("the open refused", 1, store.JobFailed)
	failing.Store(false)
	if err := s.Retry(ctx, 1); err != nil {
		t.Fatalf("retry asked from the standby host: %v", err)
	}
	until("the open retried", 1, store.JobDone)
	if err := s.Cancel(ctx, 1); err == nil || !strings.Contains(err.Error(), "job 1 is done; only unfinished jobs can be cancelled") {
		t.Errorf("cancel of a done job asked from the standby host: %v", err)
	}
	if _, err := a.PauseModule(ctx, 1, true); err != nil { // what is enqueued now waits
		t.Fatal(err)
	}
	reboot, err := a.Enqueue(ctx, o.Services[0].ID, store.OpReboot, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Cancel(ctx, reboot.ID); err != nil {
		t.Fatalf("cancel asked from the standby host: %v", err)
	}
	if got := state(reboot.ID); got != store.JobCancelled {
		t.Errorf("after the answered cancel the reboot is %s, want cancelled", got)
	}
}
