package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/damagetest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestUnreadableJobQuarantined: a job record overwritten with garbage on the closed file does not stop
// the engine: it starts, runs every other job, and moves the bad record into the quarantine with its
// service named; the counts, the pages and store's own check agree afterwards.
func TestUnreadableJobQuarantined(t *testing.T) {
	f := newFileFixture(t, sim.Config{Seed: 1}, queueParams("q-__PMID__", 2))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 6, "dora@example.org")
	f.must(err)
	f.must(e.Close(), f.db.Close())
	damagetest.Record(t, f.path, "jobs", 3)

	f.open()
	e = f.engine(fastOptions())
	runIdle(t, e, 60*time.Second)
	jobs := allJobs(t, f.db)
	if len(jobs) != 5 {
		t.Fatalf("%d job records left, want the 5 readable ones", len(jobs))
	}
	for _, j := range jobs {
		if j.State != store.JobDone {
			t.Errorf("job %d is %s, want done", j.ID, j.State)
		}
	}
	var q []store.Quarantined
	f.must(f.db.View(func(tx *store.Tx) (err error) { q, err = store.QuarantinedRecords(tx); return err }))
	if len(q) != 1 || q[0].Bucket != "jobs" || q[0].Key != "3" || q[0].ServiceID != svcs[2].ID ||
		!strings.Contains(q[0].Cause, "cannot be decoded") || string(q[0].Raw) != "\x00garbage{{" {
		t.Fatalf("quarantine: %+v", q)
	}
	c := e.Counts()[f.module.ID]
	if c.Done != 5 || c.Queued != 0 {
		t.Errorf("counts after the quarantine: %+v, want 5 done and nothing queued", c)
	}
	if page, total, err := e.Page("", 0, 10); err != nil || total != 5 || len(page) != 5 {
		t.Errorf("page: %d of %d, %v; want the 5 jobs", len(page), total, err)
	}
	f.must(e.Close(), f.db.Close())
	rep, err := store.CheckFile(f.path, CheckIndex)
	f.must(err)
	if len(rep.Damage) != 0 || len(rep.Quarantined) != 1 {
		t.Errorf("check after the quarantine: damage %v, quarantined %d; want none and 1", rep.Damage, len(rep.Quarantined))
	}
	checkBolt(t, f.path)
}

// TestDamagedPageStopsTheEngine: a data page of the jobs bucket overwritten on the closed file. The
// engine either refuses to start or stops at its first write, with one sentence naming the file and
// the damage, and the file is not written.
func TestDamagedPageStopsTheEngine(t *testing.T) {
	f := newFileFixture(t, sim.Config{Seed: 1}, queueParams("q-__PMID__", 2))
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 40, "erin@example.org")
	f.must(err)
	f.must(e.Close(), f.db.Close())
	damagetest.Page(t, f.path, "jobs")
	before, _ := os.ReadFile(f.path)

	f.open()
	e, err = New(f.db, f.secrets, fastOptions())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = e.RunUntilIdle(ctx)
		_ = e.Close()
	}
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), f.path) ||
		strings.Contains(err.Error(), "runtime error") || strings.Contains(err.Error(), "goroutine") {
		t.Fatalf("engine on a damaged page: %v", err)
	}
	if after, _ := os.ReadFile(f.path); string(after) != string(before) {
		t.Error("the engine wrote into the damaged file")
	}
}

// TestWorkerPanicStopsTheEngine: an operation that panics ends the run with the crash report's one
// sentence (its stack in a file), not a dead process; the job stays running in the file, for the next
// start to resume.
func TestWorkerPanicStopsTheEngine(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFixture(t, sim.Config{Seed: 1}, queueParams("q-__PMID__", 1))
	opt := fastOptions()
	opt.Executor = ExecutorFunc(func(context.Context, *Op) (Result, error) {
		var vms []int
		_ = vms[len(os.Args)+1] // a bug in an operation
		return Result{}, nil
	})
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, 1, "fay@example.org")
	f.must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = e.RunUntilIdle(ctx)
	if err == nil || !strings.Contains(err.Error(), "internal error") || strings.Contains(err.Error(), "goroutine") {
		t.Fatalf("run after a panicking operation: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the run hung after the panic")
	}
	files, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_STATE_HOME"), "vmmpm", "crash-*.txt"))
	if len(files) != 1 || !strings.Contains(err.Error(), files[0]) {
		t.Errorf("crash reports %v for %v", files, err)
	}
	f.must(e.Close())
	if jobs := allJobs(t, f.db); len(jobs) != 1 || jobs[0].State != store.JobRunning {
		t.Errorf("the job after the panic: %+v, want it left running for the next start", jobs[0])
	}
}
