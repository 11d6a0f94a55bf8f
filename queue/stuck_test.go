package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

func openTasks(t *testing.T, db *store.DB, job uint64) []*store.Task {
	t.Helper()
	tasks, err := store.All[store.Task](db)
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Task
	for _, k := range tasks {
		if k.JobID == job && k.ClosedAt.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// TestCancelRunningJob: an open whose VMmanager task runs for an hour on the emulator is cancelled:
// the job ends cancelled naming the task it followed, in its record and log; one department task is
// opened; the service is flagged for a reconcile look; and the next job of its lane starts only after
// the cancel is on disk.
func TestCancelRunningJob(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: time.Hour}, queueParams("one-__PMID__", 1))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 2, "stuck@example.org")
	f.must(err)
	defer running(t, e)()
	var first *store.Job
	waitFor(t, "the first open to follow its VMmanager task", func() bool {
		first, err = store.Load[store.Job](f.db, 1)
		return err == nil && first.State == store.JobRunning && first.VMTask != nil
	})
	consul := first.VMTask.ConsulID
	if next, _ := store.Load[store.Job](f.db, 2); next.State != store.JobQueued {
		t.Fatalf("the second open is %s while the first runs in the one lane", next.State)
	}
	f.must(e.As("uid 1000 (alice)").Cancel(1))

	got, err := store.Load[store.Job](f.db, 1)
	f.must(err)
	if got.State != store.JobCancelled || got.VMTask == nil || got.VMTask.ConsulID != consul {
		t.Fatalf("the cancelled job reads %s, task %+v; want cancelled, still naming task %s", got.State, got.VMTask, consul)
	}
	line := got.Log[len(got.Log)-1].Text
	for _, s := range []string{got.Error, line} {
		if !strings.Contains(s, "by uid 1000 (alice)") || !strings.Contains(s, "VMmanager task "+consul) {
			t.Errorf("the cancel says %q; want who cancelled and the task %s that may still run", s, consul)
		}
	}
	if tasks := openTasks(t, f.db, 1); len(tasks) != 1 || tasks[0].DepartmentID != f.dept.ID {
		t.Errorf("the cancel opened the tasks %+v; want one for the module's department", tasks)
	}
	looks, err := Looks(f.db)
	f.must(err)
	if len(looks) != 1 || looks[0].ServiceID != svcs[0].ID || looks[0].JobID != 1 {
		t.Errorf("reconcile looks: %+v; want service %d flagged by job 1", looks, svcs[0].ID)
	}
	waitFor(t, "the lane's next open to start", func() bool {
		j, err := store.Load[store.Job](f.db, 2)
		return err == nil && j.State == store.JobRunning
	})
	next, _ := store.Load[store.Job](f.db, 2)
	if next.StartedAt.Before(got.FinishedAt) {
		t.Errorf("the next open started at %s, before the cancel was recorded at %s", next.StartedAt, got.FinishedAt)
	}
	err = e.Cancel(1)
	if err == nil || !strings.Contains(err.Error(), "job 1 is cancelled; only unfinished jobs can be cancelled") {
		t.Errorf("a second cancel: %v", err)
	}
}

// TestCancelInterruptedJob: a job found running after a crash, with no engine following it, is
// cancelled at once, with the same record.
func TestCancelInterruptedJob(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("one-__PMID__", 1))
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 1, "stuck@example.org")
	f.must(err)
	j, _ := store.Load[store.Job](f.db, 1)
	j.State, j.Attempt, j.StartedAt = store.JobRunning, 1, time.Now()
	j.VMTask = &store.VMTask{ConsulID: "777", Name: "vm_create"}
	f.must(e.Close(), f.db.Update(func(tx *store.Tx) error { return putJob(tx, j) }))
	e = f.engine(fastOptions())
	f.must(e.Cancel(1))
	got, _ := store.Load[store.Job](f.db, 1)
	if got.State != store.JobCancelled || !strings.Contains(got.Error, "VMmanager task 777 (vm_create) may still be running") {
		t.Errorf("the interrupted job reads %s: %q", got.State, got.Error)
	}
	if len(openTasks(t, f.db, 1)) != 1 {
		t.Errorf("want one open task for the cancelled job")
	}
}

// TestRetryOfRefusedJobKeepsOneTask: a job VMmanager refused for good is marked so; its retry closes
// the task the failure opened, so when it is refused again one task is open, not two.
func TestRetryOfRefusedJobKeepsOneTask(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("one-__PMID__", 1))
	opt := fastOptions()
	opt.Executor = ExecutorFunc(func(context.Context, *Op) (Result, error) {
		return Result{}, &Error{Err: errors.New("refused"), Msg: "VMmanager answered HTTP 400 (error: os not found)."}
	})
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, 1, "refused@example.org")
	f.must(err)
	runIdle(t, e, 30*time.Second)
	j, _ := store.Load[store.Job](f.db, 1)
	if j.State != store.JobFailed || !j.Refused || len(openTasks(t, f.db, 1)) != 1 {
		t.Fatalf("the refused job reads %s, refused %v, %d open tasks", j.State, j.Refused, len(openTasks(t, f.db, 1)))
	}
	f.must(e.Retry(1))
	if j, _ := store.Load[store.Job](f.db, 1); j.Refused || len(openTasks(t, f.db, 1)) != 0 {
		t.Errorf("after the retry: refused %v, %d open tasks; want the task closed with the failure taken over", j.Refused, len(openTasks(t, f.db, 1)))
	}
	runIdle(t, e, 30*time.Second)
	if n := len(openTasks(t, f.db, 1)); n != 1 {
		t.Errorf("refused again, the job has %d open tasks; want one", n)
	}
}

// TestAttemptTimeoutPerOperation: a module's limit for opens ends an open's attempt that VMmanager
// never answers, though the engine's own limit is half an hour.
func TestAttemptTimeoutPerOperation(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("one-__PMID__", 1))
	f.module.AttemptTimeout = "open=1s"
	f.must(f.db.Save(f.module))
	opt := fastOptions()
	opt.MaxAttempts, opt.AttemptTimeout = 1, 30*time.Minute
	opt.Executor = ExecutorFunc(func(ctx context.Context, _ *Op) (Result, error) {
		<-ctx.Done() // VMmanager never answers
		return Result{}, ctx.Err()
	})
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, 1, "slow@example.org")
	f.must(err)
	runIdle(t, e, 60*time.Second)
	j, _ := store.Load[store.Job](f.db, 1)
	if j.State != store.JobFailed || !strings.Contains(j.Error, "did not finish in the time allowed") {
		t.Errorf("the open reads %s: %q; want failed on the module's 1 s limit", j.State, j.Error)
	}
}
