package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestDatabaseKeepsOneRunningPerLaneAndService: job writes checked in their own transaction, as
// another host's would be: a start is refused where the database records another job running in its
// lane or on its service, allowed once that one ended; a write from a state the database no longer
// holds is refused, unless the database holds that very write already; a record naming a job no
// longer running counts as free. A refused write changes nothing.
func TestDatabaseKeepsOneRunningPerLaneAndService(t *testing.T) {
	f := newFixture(t, sim.Config{}, store.DefaultParams())
	now := time.Now()
	job := func(svc uint64, key string) *store.Job {
		j := &store.Job{ServiceID: svc, ModuleID: f.module.ID, Type: store.OpOpen, State: store.JobQueued, QueueKey: key, MaxAttempts: 8, EnqueuedAt: now}
		f.must(f.db.Update(func(tx *store.Tx) error { return putJob(tx, j) }))
		return j
	}
	move := func(j *store.Job, to, from string, attempt int) error {
		w := *j
		w.State, w.Attempt, w.StartedAt = to, attempt, now.Add(time.Duration(attempt)*time.Second)
		err := f.db.Update(func(tx *store.Tx) error { // as the committer writes a change
			rs := newRunningSet()
			if err := putJobFrom(tx, &w, from, rs); err != nil {
				return err
			}
			return rs.flush(tx.KV())
		})
		if err == nil {
			*j = w
		}
		return err
	}
	stored := func(j *store.Job) string {
		var s string
		f.must(f.db.View(func(tx *store.Tx) error { s = storedState(tx.KV(), j.ID); return nil }))
		return s
	}
	refused := func(what string, err error, want any) {
		t.Helper()
		if err == nil || !errors.As(err, want) {
			t.Errorf("%s: %v, want a %T", what, err, want)
		}
	}
	j1, j2, j3, j4 := job(1, "k-1"), job(1, "k-2"), job(2, "k-1"), job(2, "k-3")

	f.must(move(j1, store.JobRunning, store.JobQueued, 1))
	var re *RunningError
	refused("a second start on service 1", move(j2, store.JobRunning, store.JobQueued, 1), &re)
	if re != nil && (re.Other != j1.ID || re.Service != 1) {
		t.Errorf("the refusal names job %d on service %d, want job %d on service 1", re.Other, re.Service, j1.ID)
	}
	re = nil
	refused("a second start in lane k-1", move(j3, store.JobRunning, store.JobQueued, 1), &re)
	if re != nil && (re.Other != j1.ID || re.Lane != "k-1") {
		t.Errorf("the refusal names job %d in lane %q, want job %d in k-1", re.Other, re.Lane, j1.ID)
	}
	if s2, s3 := stored(j2), stored(j3); s2 != store.JobQueued || s3 != store.JobQueued {
		t.Errorf("after the refusals jobs 2 and 3 are stored %s and %s, want both queued", s2, s3)
	}
	f.must(move(j4, store.JobRunning, store.JobQueued, 1)) // service 2, lane k-3: both free

	f.must(move(j1, store.JobDone, store.JobRunning, 1))
	f.must(move(j2, store.JobRunning, store.JobQueued, 1)) // service 1 free again
	refused("a start on service 2, which runs job 4", move(j3, store.JobRunning, store.JobQueued, 1), new(*RunningError))
	f.must(move(j4, store.JobRetrying, store.JobRunning, 1))
	f.must(move(j3, store.JobRunning, store.JobQueued, 1)) // lane k-1 and service 2 free: job 4 waits out a backoff

	var se *StaleError
	refused("job 1 written from running, stored done", move(j1, store.JobFailed, store.JobRunning, 1), &se)
	if se != nil && se.Stored != store.JobDone {
		t.Errorf("the stale refusal says job 1 is %q, want done", se.Stored)
	}
	again := *j2
	again.State = store.JobQueued
	f.must(move(&again, store.JobRunning, store.JobQueued, 1)) // the same start written again: a lost answer
	other := *j2
	other.State = store.JobQueued
	refused("another engine's start of job 2 (attempt 2 from queued)", move(&other, store.JobRunning, store.JobQueued, 2), new(*StaleError))

	// A record naming a job that no longer runs (as a vmmpm that kept none leaves it) is free.
	f.must(f.db.Update(func(tx *store.Tx) error {
		return tx.KV().Bucket(bucketRunning).Put(laneRecord("k-9"), store.Key(j1.ID))
	}))
	j5 := job(3, "k-9")
	f.must(move(j5, store.JobRunning, store.JobQueued, 1))
}

// TestEngineBesideAnotherIsRefused: two engines on one database both running module 1, which the
// lease prevents in production: B loaded job 1 queued, A started it since; B's own start of it is
// refused in its transaction (the database holds it running), so B stops saying so and job 1 runs
// once, on A.
func TestEngineBesideAnotherIsRefused(t *testing.T) {
	f := newFeedFixture(t, sim.Config{}, queueParams("k-__PMID__", 1))
	hang := func(started chan<- uint64) Executor {
		return ExecutorFunc(func(ctx context.Context, op *Op) (Result, error) {
			started <- op.Job.ID
			<-ctx.Done()
			return Result{}, ctx.Err()
		})
	}
	optA := fastOptions()
	startedA := make(chan uint64, 4)
	optA.Executor = hang(startedA)
	a := f.engine(optA)
	_, err := a.CreateServices(f.tariff.ID, 1, "client@example.com")
	f.must(err)

	optB := fastOptions()
	startedB := make(chan uint64, 4)
	optB.Executor = hang(startedB)
	b, err := New(secondHandle(t, f), f.secrets, optB)
	f.must(err)
	defer b.Close()
	f.must(b.ready()) // B holds job 1 queued

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runA := make(chan error, 1)
	go func() { runA <- a.Run(ctx) }()
	first := <-startedA
	eventually(t, time.Minute, "job 1 stored running", func() bool {
		j, err := store.Load[store.Job](f.db, first)
		return err == nil && j.State == store.JobRunning
	})

	err = b.Run(ctx)
	if !errors.As(err, new(*StaleError)) {
		t.Errorf("B's engine, starting job %d that A runs, ended with %v; want the StaleError", first, err)
	}
	select {
	case id := <-startedB:
		t.Errorf("B ran job %d, which A runs", id)
	default:
	}
	j, err := store.Load[store.Job](f.db, first)
	f.must(err)
	if j.State != store.JobRunning || j.Attempt != 1 {
		t.Errorf("job %d is %s at attempt %d, want running at attempt 1 (A's)", first, j.State, j.Attempt)
	}
	cancel()
	<-runA
}
