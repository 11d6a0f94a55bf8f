package queue

import (
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// A VM busy with a task started in the panel: the engine's change is refused as busy (409), tried
// again after a pause and done in the same attempt, and the job's log says why it waited.
func TestBusyVMIsRetried(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 41, TaskTime: 150 * time.Millisecond, OneTaskPerVM: true}, store.DefaultParams())
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "busy@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	svc, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if _, err := f.client().SetResources(t.Context(), svc.VM.HostID, 2, 2048, false); err != nil {
		t.Fatal(err) // the panel's change: the VM is busy with it for TaskTime
	}
	mark := l.len()
	j := f.run(e, svc.ID, store.OpReboot, nil)
	if j.Attempt != 1 {
		t.Errorf("done after %d attempts", j.Attempt)
	}
	busy := 0
	for _, w := range l.since(mark) {
		if w.status == 409 {
			busy++
		}
	}
	if busy == 0 {
		t.Fatal("the emulator never answered busy; the test needs the VM busy when the job starts")
	}
	if !strings.Contains(strings.Join(logLines(j), "\n"), "is busy with another task") {
		t.Errorf("the job's log does not say the VM was busy: %v", logLines(j))
	}
}

// With one task per VM at a time, the engine never collides with its own tasks: every operation,
// setparam on a running VM (deferred changes pending until the restart) and on a stopped one
// (changes applied one after another), finishes without a single busy answer. (A recipe is left out:
// reinstall does not wait for one, so the next job may find the VM busy with it and wait.)
func TestEngineNeverBusiesItself(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 42, TaskTime: 15 * time.Millisecond, OneTaskPerVM: true, DeferPending: true}, store.DefaultParams())
	f.module.AdditionalInterface = true
	f.must(f.db.Save(f.module))
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "self@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	checkAllDone(t, f, 1)
	id := svcs[0].ID
	for _, st := range []struct {
		op   string
		args map[string]string
	}{
		{store.OpReboot, nil},
		{store.OpSetParam, map[string]string{ArgCPU: "2", ArgRAMMiB: "2048", ArgDiskMiB: "20480", ArgIPv4Count: "2"}},
		{store.OpSuspend, nil},
		{store.OpSetParam, map[string]string{ArgCPU: "3", ArgRAMMiB: "3072", ArgDiskMiB: "30720", ArgIPv4Count: "3"}},
		{store.OpResume, nil},
		{store.OpReinstall, map[string]string{ArgOSID: "2"}},
		{store.OpSetPassword, map[string]string{ArgPassword: "n3w-secret-1"}},
		{store.OpClose, nil},
	} {
		if j := f.run(e, id, st.op, st.args); j.Attempt != 1 {
			t.Errorf("%s done after %d attempts", st.op, j.Attempt)
		}
	}
	for _, w := range l.since(0) {
		if w.status == 409 {
			t.Errorf("busy answer to %s %s", w.method, w.path)
		}
	}
}

func logLines(j *store.Job) []string {
	out := make([]string, len(j.Log))
	for i, e := range j.Log {
		out[i] = e.Text
	}
	return out
}
