package queue

import (
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// A change sent with defer to a running VM whose task stays pending until the VM restarts (the
// emulator's DeferPending): a resize, a disk change, both, and both with an address, each finish in
// one attempt, the VM restarts once and reads back its new size, and no task is left waiting.
func TestDeferredChangesFinish(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 23, TaskTime: 20 * time.Millisecond, DeferPending: true}, store.DefaultParams())
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 4, "defer@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	checkAllDone(t, f, 4)
	for i, tc := range []struct {
		name string
		args map[string]string
		cpu  int
		disk int
		ips  int
	}{
		{"resize", map[string]string{ArgCPU: "2", ArgRAMMiB: "2048"}, 2, 10240, 1},
		{"disk", map[string]string{ArgDiskMiB: "20480"}, 1, 20480, 1},
		{"both", map[string]string{ArgCPU: "3", ArgRAMMiB: "3072", ArgDiskMiB: "30720"}, 3, 30720, 1},
		{"both and an address", map[string]string{ArgCPU: "2", ArgRAMMiB: "2048", ArgDiskMiB: "15360", ArgIPv4Count: "2"}, 2, 15360, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := store.Load[store.Service](f.db, svcs[i].ID)
			mark := l.len()
			j := f.run(e, svc.ID, store.OpSetParam, tc.args)
			if j.Attempt != 1 {
				t.Errorf("done after %d attempts: %v", j.Attempt, j.Log)
			}
			if rs := find(l.since(mark), "POST", "/restart"); len(rs) != 1 {
				t.Errorf("%d restarts, want 1", len(rs))
			}
			h := f.host(svc.VM.HostID)
			if h.CPU != tc.cpu || h.DiskMiB != tc.disk || len(h.MainIPv4) != tc.ips || h.State != "active" {
				t.Errorf("VM reads back %+v, want %d CPU, a %d MiB disk and %d addresses", h, tc.cpu, tc.disk, tc.ips)
			}
			if svc, _ = store.Load[store.Service](f.db, svc.ID); svc.VM.DiskMiB != tc.disk {
				t.Errorf("service records a %d MiB disk", svc.VM.DiskMiB)
			}
		})
	}
	if n := f.sim.Stats().Tasks["deferred"]; n != 0 {
		t.Errorf("%d tasks still wait for a restart", n)
	}
}

// An attempt cut short after posting a deferred change, before the restart, is resumed: the change
// is not posted again, the VM is restarted and the job finishes.
func TestDeferredChangeResumedBeforeRestart(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 24, TaskTime: 20 * time.Millisecond, DeferPending: true}, store.DefaultParams())
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "cut@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	svc, _ := store.Load[store.Service](f.db, svcs[0].ID)
	// What a crash right after the resource call leaves: the job running with the task recorded.
	c := f.client()
	ref, err := c.SetResources(t.Context(), svc.VM.HostID, 2, 2048, true)
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.Enqueue(svc.ID, store.OpSetParam, map[string]string{ArgCPU: "2", ArgRAMMiB: "2048"})
	if err != nil {
		t.Fatal(err)
	}
	f.must(e.Close())
	j, _ = store.Load[store.Job](f.db, j.ID)
	j.State, j.Attempt = store.JobRunning, 1
	j.VMTask = &store.VMTask{ConsulID: ref.ConsulID, Name: ref.Name}
	j.Args[ArgParamTasks] = formatTasks([]vmm.TaskRef{ref})
	f.must(f.db.Update(func(tx *store.Tx) error { return putJob(tx, j) }))

	mark := l.len()
	runIdle(t, f.engine(fastOptions()), 30*time.Second)
	if j, _ = store.Load[store.Job](f.db, j.ID); j.State != store.JobDone {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	sent := l.since(mark)
	if n := len(find(sent, "POST", "/resource")); n != 0 {
		t.Errorf("the resource change was posted %d more times", n)
	}
	if n := len(find(sent, "POST", "/restart")); n != 1 {
		t.Errorf("%d restarts, want 1", n)
	}
	if h := f.host(svc.VM.HostID); h.CPU != 2 || h.RAMMiB != 2048 {
		t.Errorf("VM reads back %+v", h)
	}
}

// client is an admin client of the fixture's emulator, for a test to act as the panel would.
func (f *fixture) client() *vmm.Client {
	f.t.Helper()
	c, err := vmm.New(vmm.Config{URL: f.url, Email: "admin@example.com", Password: "demo-password", PollEvery: 5 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}
