package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// faultyDisk makes commits number from..from+count-1 fail as a full disk would (after the writes,
// so the transaction is rolled back), and after every commit that succeeds checks what the file holds:
// no lane and no service with two running jobs.
type faultyDisk struct {
	t           *testing.T
	from, count int

	mu         sync.Mutex
	n          int
	failed     int
	violations []string
}

func (d *faultyDisk) update(db *store.DB, fn func(*store.Tx) error) error {
	d.mu.Lock()
	d.n++
	fail := d.n >= d.from && d.n < d.from+d.count
	d.mu.Unlock()
	err := db.Update(func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if fail {
			return &os.PathError{Op: "write", Path: db.Path(), Err: syscall.ENOSPC}
		}
		return nil
	})
	if fail {
		d.mu.Lock()
		d.failed++
		d.mu.Unlock()
		return err
	}
	if err == nil {
		d.check(db)
	}
	return err
}

func (d *faultyDisk) check(db *store.DB) {
	lanes, svcs := map[string]int{}, map[uint64]int{}
	_ = db.View(func(tx *store.Tx) error {
		return store.Each(tx, func(j *store.Job) bool {
			if j.State == store.JobRunning {
				svcs[j.ServiceID]++
				if j.QueueKey != "" {
					lanes[j.QueueKey]++
				}
			}
			return true
		})
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, n := range lanes {
		if n > 1 {
			d.violations = append(d.violations, fmt.Sprintf("commit %d: lane %s has %d running jobs", d.n, k, n))
		}
	}
	for s, n := range svcs {
		if n > 1 {
			d.violations = append(d.violations, fmt.Sprintf("commit %d: service %d has %d running jobs", d.n, s, n))
		}
	}
}

// faultRun enqueues opens and reboots over 2 lanes and runs them with the disk failing at commit from.
// With giveUp the engine is stopped while paused and a fresh engine (healthy disk) finishes the work,
// as after a restart.
func faultRun(t *testing.T, from, count int, giveUp bool) {
	f := newFixture(t, sim.Config{TaskTime: 5 * time.Millisecond, Seed: int64(from)}, queueParams("d-__PMID__", 2))
	disk := &faultyDisk{t: t, from: from, count: count}
	opt := fastOptions()
	opt.update = disk.update
	e := f.engine(opt)
	svcs, err := e.CreateServices(f.tariff.ID, 5, "disk@example.org")
	f.must(err)
	for _, s := range svcs[:3] {
		_, err := e.Enqueue(s.ID, store.OpReboot, nil)
		f.must(err)
	}
	events, stopEvents := e.Subscribe(1 << 12)
	defer stopEvents()
	if giveUp {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		paused := waitPaused(events, time.Second)
		cancel()
		err := <-done
		if paused {
			var sf *StorageFault
			if !errors.As(err, &sf) {
				t.Fatalf("failure at commit %d: Run returned %v, want the disk fault", from, err)
			}
			if e.Run(context.Background()) == nil {
				t.Fatal("Run started again on a committer that gave up")
			}
		}
		_ = e.Close()
		e = f.engine(fastOptions())
	}
	runIdle(t, e, 20*time.Second)
	disk.mu.Lock()
	defer disk.mu.Unlock()
	t.Logf("%d commits, %d refused", disk.n, disk.failed)
	for _, v := range disk.violations {
		t.Errorf("failure at commit %d: %s", from, v)
	}
	if !giveUp && from <= 12 && disk.failed != count { // a run takes about 17 commits
		t.Errorf("failure at commit %d: %d of %d planned failures happened", from, disk.failed, count)
	}
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone {
			t.Errorf("failure at commit %d: job %d (%s of service %d) ended %s: %s", from, j.ID, j.Type, j.ServiceID, j.State, j.Error)
		}
	}
	st := f.sim.Stats()
	for name, n := range st.HostsCreated {
		if n != 1 {
			t.Errorf("failure at commit %d: VM %s created %d times", from, name, n)
		}
	}
	if len(st.HostsCreated) != 5 {
		t.Errorf("failure at commit %d: %d VMs created, want 5", from, len(st.HostsCreated))
	}
	// After a restart, tasks the stopped engine left running in VMmanager may overlap the new ones.
	if !giveUp && st.MaxConcurrentTasks > 2 {
		t.Errorf("failure at commit %d: %d VMmanager tasks ran at once over 2 lanes", from, st.MaxConcurrentTasks)
	}
	if s := e.Status(); s.Paused {
		t.Errorf("failure at commit %d: still %s", from, s)
	}
}

// waitPaused reports whether an EngineStatus event said paused within limit.
func waitPaused(events <-chan Event, limit time.Duration) bool {
	deadline := time.After(limit)
	for {
		select {
		case ev := <-events:
			if ev.Kind == EngineStatus && ev.Status.Paused {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// TestDiskFaultEveryCommit fails the committer's writes at each point of a run (three refusals in a
// row, then space returns): the engine pauses and resumes by itself with the lanes intact.
func TestDiskFaultEveryCommit(t *testing.T) {
	for from := 1; from <= 16; from++ {
		t.Run(fmt.Sprint(from), func(t *testing.T) { faultRun(t, from, 3, false) })
	}
}

// TestDiskFaultStopWhilePaused stops the engine while the disk refuses a commit, at each point of a
// run, and finishes the work with a fresh engine: the file held a consistent prefix.
func TestDiskFaultStopWhilePaused(t *testing.T) {
	for from := 1; from <= 16; from++ {
		t.Run(fmt.Sprint(from), func(t *testing.T) { faultRun(t, from, 1_000_000, true) })
	}
}

// TestDiskFaultMaxPause: with Options.MaxPause a disk that stays full ends the run with one sentence
// naming the cause, the wait and what to free; the file keeps only whole transitions.
func TestDiskFaultMaxPause(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 5 * time.Millisecond, Seed: 3}, queueParams("m-__PMID__", 2))
	disk := &faultyDisk{t: t, from: 3, count: 1 << 30}
	opt := fastOptions()
	opt.update, opt.MaxPause = disk.update, 300*time.Millisecond
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, 4, "full@example.org")
	f.must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = e.RunUntilIdle(ctx)
	var sf *StorageFault
	if !errors.As(err, &sf) || ctx.Err() != nil {
		t.Fatalf("RunUntilIdle = %v after %s, want the disk fault after MaxPause", err, time.Since(start))
	}
	msg := err.Error()
	for _, w := range []string{"disk full on ", "still after waiting 300ms", "free space on ", f.path} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	if strings.Contains(msg, "\n") || strings.Count(msg, ". ") > 0 {
		t.Errorf("error is not one sentence: %q", msg)
	}
	_ = e.Close()
	e = f.engine(fastOptions())
	runIdle(t, e, 10*time.Second)
	if len(disk.violations) > 0 {
		t.Error(disk.violations)
	}
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone {
			t.Errorf("job %d ended %s after the restart", j.ID, j.State)
		}
	}
}

// TestPausedEngineAnswersAtOnce: while the engine is paused on a full disk, a cancel and a service
// creation answer at once (well within a second), refused with the pause's cause, and change nothing.
func TestPausedEngineAnswersAtOnce(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: time.Hour, Seed: 9}, queueParams("p-__PMID__", 1))
	disk := &faultyDisk{t: t, from: 1, count: 1 << 30}
	opt := fastOptions()
	opt.update = disk.update
	e := f.engine(opt)
	svcs, err := e.CreateServices(f.tariff.ID, 2, "paused@example.org")
	f.must(err)
	events, stop := e.Subscribe(1 << 12)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done; _ = e.Close() }()
	if !waitPaused(events, 10*time.Second) {
		t.Fatal("the engine did not pause on the full disk")
	}
	for what, call := range map[string]func() error{
		"cancel":  func() error { return e.Cancel(2) },
		"create":  func() error { _, err := e.CreateServices(f.tariff.ID, 1, "paused@example.org"); return err },
		"enqueue": func() error { _, err := e.Enqueue(svcs[0].ID, store.OpReboot, nil); return err },
	} {
		began := time.Now()
		err := call()
		if d := time.Since(began); d > time.Second {
			t.Errorf("%s during the pause took %s", what, d)
		}
		if !errors.Is(err, ErrPaused) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "free space") {
			t.Errorf("%s during the pause: %v; want a refusal naming the pause and what to free", what, err)
		}
	}
	if n := len(allJobs(t, f.db)); n != 2 {
		t.Errorf("%d jobs in the file after the refused calls, want the 2 from before", n)
	}
}

// TestPauseAdviceFitsTheCause: the engine's status advises what fits the fault: space for a full disk,
// the disk itself for an I/O error, a remount for a read-only file system.
func TestPauseAdviceFitsTheCause(t *testing.T) {
	for errno, want := range map[syscall.Errno]string{syscall.ENOSPC: "free space", syscall.EIO: "check the disk",
		syscall.EROFS: "remount"} {
		f := newStorageFault(t.TempDir()+"/vmmpm.db", &os.PathError{Op: "write", Path: "vmmpm.db", Err: errno}, time.Now())
		e := &Engine{pause: f}
		if st := e.statusLocked(); !st.Paused || !strings.Contains(st.PauseAdvice, want) {
			t.Errorf("%v: advice %q, want it to say %q", errno, st.PauseAdvice, want)
		}
	}
}
