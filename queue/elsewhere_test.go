package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/storetest"
	"vmmpm/store"
	"vmmpm/store/kv"
	"vmmpm/vmm/sim"
)

// keepOpen is a second store handle's view of a kv handle it does not own.
type keepOpen struct{ kv.DB }

func (keepOpen) Close() error { return nil }

// secondHandle opens f's database again, as another host's process does: a connection pool of its
// own on PostgreSQL; on a bbolt file (one process only) the same file under a handle of its own,
// with a job feed writer of its own.
func secondHandle(t *testing.T, f *fixture) *store.DB {
	t.Helper()
	var db *store.DB
	var err error
	if storetest.Postgres() {
		db, err = store.Open(f.path, store.Options{})
	} else {
		db, err = store.OpenKV(keepOpen{f.db.KV()}, f.path, store.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// setForeignPoll sets ForeignPoll for a test, returning what puts it back.
func setForeignPoll(d time.Duration) (restore func()) {
	old := ForeignPoll
	ForeignPoll = d
	return func() { ForeignPoll = old }
}

// pageOf is e's page of a state, ids and states, for a condition or a message.
func pageOf(t *testing.T, e *Engine, state string) []store.Job {
	t.Helper()
	jobs, _, err := e.Page(state, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// TestTwoEnginesShareTheModules: two engines on one database, A running module 1 and B module 2
// (each told the other's is run elsewhere). Orders for both modules are made on both; each engine
// runs only its own module's jobs, writes the other's only to enqueue them, and lists every job as
// the engine running it moved it (running, then done). B stops with a job running; A claims module 2,
// resumes that job as crash recovery does, and runs the rest. A cancel asked of A for a job B runs
// is refused, naming B.
func TestTwoEnginesShareTheModules(t *testing.T) {
	defer setForeignPoll(10 * time.Millisecond)()
	f := newFeedFixture(t, sim.Config{}, queueParams("k-__PMID__", 1))
	m2 := f.addModule("vmm-b", queueParams("k-__PMID__", 1))
	t2 := &store.Tariff{Name: "small-b", DataCenterID: f.dc.ID, ModuleIDs: []uint64{m2.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "@USERNAME@-@ID@.example.net"}
	f.must(f.db.Save(t2))
	dbB := secondHandle(t, f)

	a := f.engine(fastOptions())
	optB := fastOptions()
	started := make(chan uint64, 16)
	optB.Executor = ExecutorFunc(func(ctx context.Context, op *Op) (Result, error) {
		started <- op.Job.ID
		<-ctx.Done() // B's operations hang until B stops: the job stays running for A to resume
		return Result{}, ctx.Err()
	})
	b, err := New(dbB, f.secrets, optB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f.must(a.SetElsewhere(map[uint64]string{m2.ID: "engine B"}), b.SetElsewhere(map[uint64]string{f.module.ID: "engine A"}))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctxB, stopB := context.WithCancel(ctx)
	runA, runB := make(chan error, 1), make(chan error, 1)
	go func() { runA <- a.Run(ctx) }()
	go func() { runB <- b.Run(ctxB) }()

	_, err1 := a.CreateServices(f.tariff.ID, 2, "client@example.com")
	_, err2 := a.CreateServices(t2.ID, 2, "client@example.com")
	_, err3 := b.CreateServices(f.tariff.ID, 2, "client@example.com")
	f.must(err1, err2, err3)
	byModule := map[uint64][]uint64{}
	for _, j := range allJobs(t, f.db) {
		byModule[j.ModuleID] = append(byModule[j.ModuleID], j.ID)
	}
	if len(byModule[f.module.ID]) != 4 || len(byModule[m2.ID]) != 2 {
		t.Fatalf("jobs per module %v, want 4 of module 1 and 2 of module 2", byModule)
	}

	first := <-started // B runs module 2's first open; its lane holds the second
	done := func(e *Engine) func() bool {
		return func() bool { return len(pageOf(t, e, store.JobDone)) == 4 }
	}
	eventually(t, time.Minute, "A to run module 1's 4 opens", done(a))
	eventually(t, time.Minute, "B to list module 1's 4 opens done", done(b))
	eventually(t, time.Minute, "A to list module 2's open running on B", func() bool {
		run := pageOf(t, a, store.JobRunning)
		return len(run) == 1 && run[0].ID == first
	})
	if err := a.Cancel(first); !errors.As(err, new(*ElsewhereError)) {
		t.Errorf("A's cancel of job %d, which B runs: %v, want the ElsewhereError naming B", first, err)
	}
	retriedElsewhere(t, f, a, b)
	stopB()
	if err := <-runB; err != nil {
		t.Fatal(err)
	}
	onlyEnqueued(t, f.db, a.db.FeedWriter(), m2.ID, "A")
	onlyEnqueued(t, f.db, dbB.FeedWriter(), f.module.ID, "B")

	f.must(a.SetElsewhere(nil)) // A claims module 2
	eventually(t, time.Minute, "A to finish module 2's opens too", func() bool { return len(pageOf(t, a, store.JobDone)) == 7 })
	cancel()
	if err := <-runA; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	resumed, err := store.Load[store.Job](f.db, first)
	f.must(err)
	if !slices.ContainsFunc(resumed.Log, func(l store.LogLine) bool { return strings.Contains(l.Text, "resumed after an interruption") }) {
		t.Errorf("job %d, running on B when B stopped, was not resumed by A: %v", first, resumed.Log)
	}
	if n := f.sim.VMCount(); n != 7 {
		t.Errorf("VMmanager holds %d VMs after 7 opens, want 7", n)
	}
	for _, j := range allJobs(t, f.db) {
		if n := len(f.sim.VMsNamed(fmt.Sprintf("svc-%d", j.ServiceID))); j.Type == store.OpOpen && n != 1 {
			t.Errorf("service %d has %d VMs, want 1", j.ServiceID, n)
		}
	}
}

// retriedElsewhere: an open of module 1 that A ran fails (VMmanager knows no such OS); with the
// tariff mended, B retries it (a compare-and-set on its stored state, failed → queued), and A takes
// it in and runs it: both list it done, none failed.
func retriedElsewhere(t *testing.T, f *fixture, a, b *Engine) {
	t.Helper()
	bad := &store.Tariff{Name: "bad-os", DataCenterID: f.dc.ID, ModuleIDs: []uint64{f.module.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 9999, IPv4Count: 1, DomainTemplate: "@USERNAME@-@ID@.example.net"}
	f.must(f.db.Save(bad))
	_, err := a.CreateServices(bad.ID, 1, "client@example.com")
	f.must(err)
	eventually(t, time.Minute, "B to list the bad open failed", func() bool { return len(pageOf(t, b, store.JobFailed)) == 1 })
	failed := pageOf(t, b, store.JobFailed)[0].ID
	bad.OSID = 1
	f.must(f.db.Save(bad), b.Retry(failed))
	eventually(t, time.Minute, "A to run the open B retried", func() bool { return len(pageOf(t, a, store.JobDone)) == 5 })
	eventually(t, time.Minute, "B to list it done", func() bool { return len(pageOf(t, b, store.JobDone)) == 5 })
	if n := len(pageOf(t, a, store.JobFailed)) + len(pageOf(t, b, store.JobFailed)); n != 0 {
		t.Errorf("after the retry the engines list %d failed jobs, want none", n)
	}
}

// onlyEnqueued fails unless every job of module that the handle writer wrote, as the job feed
// tells, was written queued: the engine that does not run a module only enqueues its jobs.
func onlyEnqueued(t *testing.T, db *store.DB, writer, module uint64, who string) {
	t.Helper()
	_ = db.View(func(tx *store.Tx) error {
		changes, _, ok := store.ReadFeed(tx, 0)
		if !ok {
			t.Fatal("the job feed cannot be read from its start")
		}
		for _, c := range changes {
			if c.Writer == writer && c.Module == module && c.State != store.JobQueued {
				t.Errorf("%s wrote job %d of module %d %s, a module another engine runs", who, c.ID, module, c.State)
			}
		}
		return nil
	})
}
