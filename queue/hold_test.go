package queue

import (
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestHoldModule: a module held on this host starts nothing, not even jobs enqueued after the hold,
// and says on each queued job why; another module's work goes on; once the hold ends the jobs run.
// A hold is not stored: an engine started afresh on the same database is not bound by it.
func TestHoldModule(t *testing.T) {
	f, other, otherTariff := twoModules(t, 20*time.Millisecond)
	e := f.engine(fastOptions())
	const why = "this host's keyring lacks the module's current password"
	e.SetHolds(map[uint64]string{f.module.ID: why})
	_, err := e.CreateServices(f.tariff.ID, 3, "held@example.org")
	f.must(err)
	_, err = e.CreateServices(otherTariff.ID, 2, "free@example.org")
	f.must(err)
	stop := running(t, e)
	waitFor(t, "the other module's opens to finish", func() bool {
		for _, j := range jobsOf(t, f.db, other.ID) {
			if j.State != store.JobDone {
				return false
			}
		}
		return true
	})
	_, err = e.CreateServices(f.tariff.ID, 1, "late@example.org") // enqueued while held
	f.must(err)
	waitFor(t, "the late job to be written", func() bool { return len(jobsOf(t, f.db, f.module.ID)) == 4 })
	held := jobsOf(t, f.db, f.module.ID)
	for _, j := range held {
		if j.State != store.JobQueued || !j.StartedAt.IsZero() || !strings.Contains(j.Error, "held on this host: "+why) {
			t.Errorf("held job %d: %s, started %v, says %q; want queued, never started, saying why", j.ID, j.State, j.StartedAt, j.Error)
		}
	}
	if n := len(f.sim.Stats().HostsCreated); n != 2 {
		t.Errorf("%d VMs made while module %d was held; want only the other module's 2", n, f.module.ID)
	}
	e.SetHolds(nil)
	waitFor(t, "the held jobs to run once the hold ends", func() bool {
		for _, j := range jobsOf(t, f.db, f.module.ID) {
			if j.State != store.JobDone || strings.Contains(j.Error, "held on this host") {
				return false
			}
		}
		return true
	})
	stop()
}

// TestHoldKeepsRecoveredJobs: a job found running at start (crash recovery) of a held module is not
// resumed, so nothing reaches VMmanager, until the hold ends; another module's recovered job goes on.
func TestHoldKeepsRecoveredJobs(t *testing.T) {
	f, other, otherTariff := twoModules(t, 20*time.Millisecond)
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 1, "crash@example.org")
	f.must(err)
	_, err = e.CreateServices(otherTariff.ID, 1, "crash@example.org")
	f.must(err)
	f.must(e.Close())
	// Both jobs as a crash leaves them: running, no task yet.
	for _, j := range allJobs(t, f.db) {
		j.State, j.Attempt, j.StartedAt = store.JobRunning, 1, time.Now()
		f.must(f.db.Update(func(tx *store.Tx) error { return putJob(tx, j) }))
	}
	e = f.engine(fastOptions())
	e.SetHolds(map[uint64]string{f.module.ID: "no password here"})
	stop := running(t, e)
	waitFor(t, "the other module's recovered job to finish", func() bool {
		return jobsOf(t, f.db, other.ID)[0].State == store.JobDone
	})
	if got := jobsOf(t, f.db, f.module.ID)[0]; got.State != store.JobRunning || len(f.sim.Stats().HostsCreated) != 1 {
		t.Fatalf("a held module's recovered job went on: %s, %d VMs (want 1, the other module's)", got.State, len(f.sim.Stats().HostsCreated))
	}
	e.SetHolds(nil)
	waitFor(t, "the recovered job to finish once the hold ends", func() bool {
		return jobsOf(t, f.db, f.module.ID)[0].State == store.JobDone
	})
	stop()
}

// TestHoldOutlastsPause: a module both paused and held says, once resumed, that it is still held
// here, and starts nothing until the hold ends too.
func TestHoldOutlastsPause(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 20 * time.Millisecond}, queueParams("a-__PMID__", 2))
	e := f.engine(fastOptions())
	stop := running(t, e)
	defer stop()
	_, err := e.As("uid 1000 (alice)").PauseModule(f.module.ID)
	f.must(err)
	const why = "no password here"
	e.SetHolds(map[uint64]string{f.module.ID: why})
	_, err = e.CreateServices(f.tariff.ID, 2, "both@example.org")
	f.must(err)
	f.must(e.As("uid 1000 (alice)").ResumeModule(f.module.ID))
	waitFor(t, "the resumed jobs to say they are still held", func() bool {
		for _, j := range jobsOf(t, f.db, f.module.ID) {
			if j.State != store.JobQueued || !strings.Contains(j.Error, holdPrefix+why) {
				return false
			}
		}
		return true
	})
	if n := len(f.sim.Stats().HostsCreated); n != 0 {
		t.Fatalf("%d VMs made while the module was held", n)
	}
	e.SetHolds(nil)
	waitFor(t, "the jobs to run once the hold ends", func() bool {
		for _, j := range jobsOf(t, f.db, f.module.ID) {
			if j.State != store.JobDone {
				return false
			}
		}
		return true
	})
}
