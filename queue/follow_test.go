package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// follower is a stopped engine beside a running one on the same database, as a standby host's view.
type follower struct {
	t testing.TB
	v *Engine
}

// follow swaps in the view's Follow, closing the one before.
func (fl *follower) follow() *Engine {
	fl.t.Helper()
	v, err := fl.v.Follow()
	if err != nil {
		fl.t.Fatal(err)
	}
	_ = fl.v.Close()
	fl.v = v
	return v
}

// pageIDs are a page's job ids and states, for a message.
func pageIDs(jobs []store.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = fmt.Sprintf("%d:%s", j.ID, j.State)
	}
	return out
}

// settled waits until e has pruned what it keeps too many of: the prune commits after what caused it.
func settled(t testing.TB, e *Engine) *Engine {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		e.rm.mu.Lock()
		done := !e.pruning.Load() && len(e.rm.finished.ids) <= e.opt.KeepFinished
		e.rm.mu.Unlock()
		if done {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine is still pruning after 30 s")
		}
	}
}

// sameView fails unless v shows what e shows: every state's page (ids, states, total) and every
// unfinished job's lane position.
func sameView(t testing.TB, step string, e, v *Engine) {
	t.Helper()
	for _, state := range append([]string{""}, store.JobStates...) {
		want, wantN, err1 := e.Page(state, 0, 100)
		got, gotN, err2 := v.Page(state, 0, 100)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if w, g := pageIDs(want), pageIDs(got); wantN != gotN || !slices.Equal(w, g) {
			t.Errorf("%s, tab %q: the follower shows %d %v, the engine %d %v", step, state, gotN, g, wantN, w)
		}
		for _, j := range want {
			if store.Finished(j.State) {
				continue
			}
			wl, wp := e.LanePosition(j.ID)
			if gl, gp := v.LanePosition(j.ID); gl != wl || gp != wp {
				t.Errorf("%s: job %d at %s #%d for the follower, %s #%d for the engine", step, j.ID, gl, gp, wl, wp)
			}
		}
	}
}

// TestFollowSeesWhatTheEngineCommitted: a stopped engine brought forward by Follow after each step
// shows what the running engine on the same database shows, through enqueues, finishes, failures,
// pruning, a cancel, and retries (seen while queued, and finished between two looks): reading the
// unfinished jobs whole each time, and by the job feed, where every look after the first reads only
// the feed's rows (nothing is read whole again).
func TestFollowSeesWhatTheEngineCommitted(t *testing.T) {
	t.Run("whole", func(t *testing.T) {
		defer setFollowWhole(0)()
		followTheEngine(t, newFixture(t, sim.Config{}, queueParams("k-__PMID__", 2)), nil)
	})
	t.Run("feed", func(t *testing.T) {
		var whole time.Time
		loads := 0
		byFeed := func(step string, v *Engine) {
			t.Helper()
			v.rm.mu.Lock()
			n := v.rm.loads
			v.rm.mu.Unlock()
			if whole.IsZero() {
				whole, loads = v.fed.whole, n
				return
			}
			if v.fed.whole != whole || n != loads {
				t.Errorf("%s: the follower read whole (lists read %d times, were %d), not by the feed", step, n, loads)
			}
		}
		followTheEngine(t, newFeedFixture(t, sim.Config{}, queueParams("k-__PMID__", 2)), byFeed)
	})
}

// setFollowWhole sets FollowWhole for a test, returning what puts it back.
func setFollowWhole(d time.Duration) (restore func()) {
	old := FollowWhole
	FollowWhole = d
	return func() { FollowWhole = old }
}

// followTheEngine is TestFollowSeesWhatTheEngineCommitted on f; check, when set, sees the follower
// after each look.
func followTheEngine(t *testing.T, f *fixture, check func(step string, v *Engine)) {
	opt := fastOptions()
	opt.KeepFinished = 8
	failOnce := map[uint64]bool{} // jobs whose first attempt fails for good, only the executor's goroutines touch it
	opt.Executor = ExecutorFunc(func(_ context.Context, op *Op) (Result, error) {
		if op.Job.ID%3 == 0 && !failOnce[op.Job.ID] {
			failOnce[op.Job.ID] = true
			return Result{}, Permanent(fmt.Errorf("job %d refused", op.Job.ID))
		}
		return Result{Service: func(s *store.Service) { s.Status, s.VM = store.ServiceActive, store.VM{HostID: 100 + s.ID} }}, nil
	})
	opt.Workers = 1 // one attempt at a time: failOnce needs no lock
	e := f.engine(opt)
	v, err := New(f.db, f.secrets, Options{})
	f.must(err)
	fl := &follower{t: t, v: v}
	defer func() { _ = fl.v.Close() }()
	look := func(step string, e, v *Engine) {
		t.Helper()
		sameView(t, step, e, v)
		if check != nil {
			check(step, v)
		}
	}

	svcs, err := e.CreateServices(f.tariff.ID, 10, "a@example.org")
	f.must(err)
	look("10 opens queued", settled(t, e), fl.follow())
	runIdle(t, e, time.Minute)
	look("10 opens run, 3 failed, 2 pruned", settled(t, e), fl.follow())
	if _, n, _ := fl.v.Page("", 0, 100); n != 8 {
		t.Fatalf("the follower lists %d jobs, want the 8 kept", n)
	}
	if jobs, _, _ := fl.v.Page("", 0, 100); slices.ContainsFunc(jobs, func(j store.Job) bool { return j.ID <= 2 }) {
		t.Errorf("the follower still lists pruned jobs: %v", pageIDs(jobs))
	}

	_, err = e.CreateServices(f.tariff.ID, 10, "b@example.org")
	f.must(err)
	reboot, err := e.Enqueue(svcs[9].ID, store.OpReboot, nil)
	f.must(err)
	f.must(e.Cancel(reboot.ID))
	look("10 more queued, a reboot cancelled", settled(t, e), fl.follow())
	runIdle(t, e, time.Minute)
	look("20 run", settled(t, e), fl.follow())

	failed, _, err := e.Page(store.JobFailed, 0, 2)
	f.must(err)
	if len(failed) != 2 {
		t.Fatalf("%d failed jobs kept, want 2 at least", len(failed))
	}
	f.must(e.Retry(failed[0].ID))
	look("a failed job retried", settled(t, e), fl.follow())
	runIdle(t, e, time.Minute)
	f.must(e.Retry(failed[1].ID))
	runIdle(t, e, time.Minute)
	look("a retried job done between two looks", settled(t, e), fl.follow())
}

// BenchmarkFollow: Follow beside a history of finished jobs, with nothing changed, and with what the
// engine does between two looks once it keeps KeepFinished (a job finished, the oldest pruned): the
// cost must not grow with the history.
func BenchmarkFollow(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			db := indexDB(b)
			done := func() *store.Job {
				return &store.Job{State: store.JobDone, ModuleID: 1, ServiceID: 1, Type: store.OpReboot, EnqueuedAt: time.Unix(1, 0)}
			}
			jobs := make([]*store.Job, n)
			for i := range jobs {
				jobs[i] = done()
			}
			writeJobs(b, db, jobs)
			v, err := New(db, store.NewMemorySecrets(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			fl := &follower{t: b, v: v}
			b.Cleanup(func() { _ = fl.v.Close() })
			fl.follow() // waits for the lists New loads behind its return
			b.Run("unchanged", func(b *testing.B) {
				for b.Loop() {
					fl.follow()
				}
			})
			oldest := uint64(1)
			b.Run("one-finished-one-pruned", func(b *testing.B) {
				var follows time.Duration // ns/op counts the write too: follow-ns/op is Follow's alone
				for b.Loop() {
					err := db.Update(func(tx *store.Tx) error {
						if _, _, _, ok := deleteFinishedJob(tx, oldest); !ok {
							return fmt.Errorf("job %d was not there to prune", oldest)
						}
						return putJob(tx, done())
					})
					if err != nil {
						b.Fatal(err)
					}
					oldest++
					start := time.Now()
					fl.follow()
					follows += time.Since(start)
				}
				b.ReportMetric(float64(follows.Nanoseconds())/float64(b.N), "follow-ns/op")
				if _, total, _ := fl.v.Page(store.JobDone, 0, 1); total != n {
					b.Fatalf("the follower lists %d done jobs, want %d", total, n)
				}
			})
		})
	}
}
