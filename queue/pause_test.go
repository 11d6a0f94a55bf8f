package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// running runs e until the returned stop is called (which also closes it).
func running(t *testing.T, e *Engine) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
		_ = e.Close()
	}
}

// waitFor polls cond until it holds, failing after a generous deadline (CI is a loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twoModules is a fixture with a second module ("vmm-b", one queue of its own) and a tariff on it,
// so a test can show one module's work going on while the other's is held.
func twoModules(t *testing.T, taskTime time.Duration) (*fixture, *store.Module, *store.Tariff) {
	f := newFixture(t, sim.Config{TaskTime: taskTime}, queueParams("a-__PMID__", 2))
	other := f.addModule("vmm-b", queueParams("b-__PMID__", 1))
	otherTariff := &store.Tariff{Name: "other", DataCenterID: f.dc.ID, ModuleIDs: []uint64{other.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	f.must(f.db.Save(otherTariff))
	return f, other, otherTariff
}

func jobsOf(t *testing.T, db *store.DB, module uint64) []*store.Job {
	t.Helper()
	var out []*store.Job
	for _, j := range allJobs(t, db) {
		if j.ModuleID == module {
			out = append(out, j)
		}
	}
	return out
}

// TestPauseModuleDuringARun: a module paused while its opens run on the emulator starts nothing
// after the pause (the job records' start times), lets the running ones finish, says on each queued
// job why it waits, keeps the pause across an engine restart while another module's work goes on,
// and runs the rest once resumed.
func TestPauseModuleDuringARun(t *testing.T) {
	f, _, otherTariff := twoModules(t, 50*time.Millisecond)
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 12, "pause@example.org")
	f.must(err)
	stop := running(t, e)
	waitFor(t, "a job of the module to run", func() bool {
		a, err := e.ModuleActivity(f.module.ID)
		return err == nil && a.Running > 0
	})
	p, err := e.As("uid 1000 (alice)").PauseModule(f.module.ID)
	f.must(err)
	if p.By != "uid 1000 (alice)" || p.At.IsZero() {
		t.Fatalf("the pause reads %+v", p)
	}
	again, err := e.As("someone else").PauseModule(f.module.ID)
	if err != nil || again != p {
		t.Errorf("pausing again gave %+v, %v; want the first pause kept", again, err)
	}
	waitFor(t, "the running jobs to finish", func() bool {
		a, err := e.ModuleActivity(f.module.ID)
		return err == nil && a.Running == 0
	})
	checkNoStartAfter(t, f.db, f.module.ID, p.At)
	queued := 0
	for _, j := range jobsOf(t, f.db, f.module.ID) {
		if j.State == store.JobQueued {
			queued++
			if !strings.Contains(j.Error, "module paused by uid 1000 (alice) at ") ||
				!strings.Contains(j.Log[len(j.Log)-1].Text, "module paused by uid 1000 (alice)") {
				t.Errorf("queued job %d says %q, log %q; want why it waits", j.ID, j.Error, j.Log[len(j.Log)-1].Text)
			}
		}
	}
	if queued == 0 {
		t.Fatal("every job finished before the pause; the test proves nothing")
	}
	if st := e.Status(); len(st.Modules) != 1 || st.Modules[0].By != p.By {
		t.Errorf("the engine's status lists the pauses %+v", st.Modules)
	}
	stop()
	if stored, err := StoredPauses(f.db); err != nil || stored[f.module.ID].By != p.By {
		t.Errorf("the stored pauses read %+v, %v", stored, err)
	}

	// A restart keeps the pause: another module's open runs to the end, this one's stay queued.
	e = f.engine(fastOptions())
	if got := e.Pauses()[f.module.ID]; got.By != p.By || !got.At.Equal(p.At) {
		t.Fatalf("after a restart the pause reads %+v, want %+v", got, p)
	}
	stop = running(t, e)
	defer stop()
	svc, err := e.CreateServices(otherTariff.ID, 1, "other@example.org")
	f.must(err)
	waitFor(t, "the other module's open", func() bool {
		s, err := store.Load[store.Service](f.db, svc[0].ID)
		return err == nil && s.Status == store.ServiceActive
	})
	checkNoStartAfter(t, f.db, f.module.ID, p.At)
	a, err := e.ModuleActivity(f.module.ID)
	f.must(err)
	if a.Queued != queued || a.Running != 0 {
		t.Errorf("after the restart the paused module has %s; want %d queued, none running", a, queued)
	}

	f.must(e.As("uid 1000 (alice)").ResumeModule(f.module.ID))
	waitFor(t, "every open after the resume", func() bool {
		for _, j := range jobsOf(t, f.db, f.module.ID) {
			if j.State != store.JobDone {
				return false
			}
		}
		return true
	})
	for _, j := range jobsOf(t, f.db, f.module.ID) {
		if strings.Contains(j.Error, "paused") {
			t.Errorf("job %d still says %q after the resume", j.ID, j.Error)
		}
	}
	if len(e.Pauses()) != 0 || len(e.Status().Modules) != 0 {
		t.Errorf("after the resume the pauses are %+v", e.Pauses())
	}
}

// checkNoStartAfter fails when a job of module started at or after at.
func checkNoStartAfter(t *testing.T, db *store.DB, module uint64, at time.Time) {
	t.Helper()
	for _, j := range jobsOf(t, db, module) {
		if !j.StartedAt.Before(at) && !j.StartedAt.IsZero() {
			t.Errorf("job %d started at %s, after the pause at %s", j.ID, j.StartedAt, at)
		}
	}
}

// TestPauseRefusals: an unknown module gets one sentence; resuming a module that runs changes nothing.
func TestPauseRefusals(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("a-__PMID__", 1))
	e := f.engine(fastOptions())
	_, err := e.As("").PauseModule(99)
	if err == nil || err.Error() != "module 99 does not exist; see vmmpm module list" {
		t.Errorf("pausing module 99: %v", err)
	}
	if err := e.As("").ResumeModule(f.module.ID); err != nil {
		t.Errorf("resuming a module that is not paused: %v", err)
	}
}

// TestPausedModuleDoesNotHoldASharedLane: with a key name without __PMID__ two modules share a lane;
// the paused one's queued open at its head lets the other module's open behind it run.
func TestPausedModuleDoesNotHoldASharedLane(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("shared", 1))
	other := f.addModule("vmm-b", queueParams("shared", 1))
	otherTariff := &store.Tariff{Name: "other", DataCenterID: f.dc.ID, ModuleIDs: []uint64{other.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	f.must(f.db.Save(otherTariff))
	e := f.engine(fastOptions())
	_, err := e.As("").PauseModule(f.module.ID)
	f.must(err)
	held, err := e.CreateServices(f.tariff.ID, 1, "held@example.org")
	f.must(err)
	behind, err := e.CreateServices(otherTariff.ID, 1, "behind@example.org")
	f.must(err)
	defer running(t, e)()
	waitFor(t, "the other module's open behind the held one", func() bool {
		s, err := store.Load[store.Service](f.db, behind[0].ID)
		return err == nil && s.Status == store.ServiceActive
	})
	j, _ := store.Load[store.Job](f.db, 1)
	if j.ServiceID != held[0].ID || j.State != store.JobQueued || j.QueueKey != "shared-1" {
		t.Errorf("the paused module's open reads %+v; want queued in the shared lane", j)
	}
}
