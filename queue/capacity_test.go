package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// eventually waits until cond holds, failing the test after limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runEngine runs e in the background until the test ends; stop waits for Run to return.
func runEngine(t *testing.T, e *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// capacityTasks are the department's tasks about room in VMmanager.
func capacityTasks(t *testing.T, f *fixture) []*store.Task {
	t.Helper()
	all, err := store.All[store.Task](f.db)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// An IPv4 pool runs out during 300 opens over 16 lanes: no job fails, the opens left wait (back in
// the queue, their attempt unused, "waiting: no free IPv4 in pool 1 …"), the module's department
// gets one task for it, and once the pool grows every open finishes by itself, in its first attempt.
func TestPoolRunsOutDuring300Opens(t *testing.T) {
	const opens, pool = 300, 100
	f := newFixture(t, sim.Config{Seed: 51, TaskTime: 10 * time.Millisecond, IPv4PoolSize: pool}, queueParams("cap-__PMID__", 16))
	e := f.engine(fastOptions())
	if _, err := e.CreateServices(f.tariff.ID, opens, "pool@example.org"); err != nil {
		t.Fatal(err)
	}
	stop := runEngine(t, e)
	m := f.module.ID
	eventually(t, time.Minute, "no open waits for the pool", func() bool {
		c := e.Counts()[m]
		return c.Done == pool && c.Queued == opens-pool && c.Running == 0 && len(e.Status().Capacity) == 1
	})
	st := e.Status()
	if w := st.Capacity[0]; w.ModuleID != m || w.Cause != "no free IPv4 in pool 1 (public-v4)" || !strings.Contains(w.Advice, "has 0 free IPv4 addresses") {
		t.Fatalf("capacity wait %+v", w)
	}
	if !strings.Contains(st.String(), "waiting: no free IPv4 in pool 1") {
		t.Errorf("status reads %q", st)
	}
	waiting := 0
	for _, j := range allJobs(t, f.db) {
		switch {
		case j.State == store.JobFailed:
			t.Fatalf("job %d failed: %s", j.ID, j.Error)
		case j.State == store.JobQueued && j.Error != "":
			waiting++
			if j.Error != "waiting: no free IPv4 in pool 1 (public-v4)" || j.Attempt != 0 {
				t.Fatalf("waiting job %d: attempt %d, %q", j.ID, j.Attempt, j.Error)
			}
		}
	}
	if waiting == 0 {
		t.Fatal("no job says it waits")
	}
	if ts := capacityTasks(t, f); len(ts) != 1 || ts[0].ModuleID != m || ts[0].DepartmentID != f.dept.ID ||
		ts[0].Title != "Opens on module vmm-a wait: no free IPv4 in pool 1 (public-v4)" {
		t.Fatalf("tasks %+v, want one for the module and the pool", ts)
	}

	f.sim.GrowPool(1, opens-pool)
	eventually(t, time.Minute, "the opens did not go on after the pool grew", func() bool { return e.Counts()[m].Done == opens })
	stop()
	checkAllDone(t, f, opens)
	for _, j := range allJobs(t, f.db) {
		if j.Attempt != 1 {
			t.Errorf("job %d done after %d attempts", j.ID, j.Attempt)
		}
	}
	if ts := capacityTasks(t, f); len(ts) != 1 {
		t.Errorf("%d tasks, want 1", len(ts))
	}
	if st := e.Status(); len(st.Capacity) != 0 {
		t.Errorf("still waiting: %+v", st.Capacity)
	}
}

// A cluster without enough RAM holds the opens the same way, before VMmanager is asked (its figures
// show it), and they go on once the cluster grows; a second wait for the same cause, while the first
// task is still open, tells nobody again.
func TestClusterFullWaits(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 52, TaskTime: 10 * time.Millisecond}, queueParams("cap-__PMID__", 4))
	f.sim.SetClusterTotals(1, 0, 10*1024, 0) // room for 10 VMs of the tariff's 1 GiB
	l := f.logged()
	e := f.engine(fastOptions())
	if _, err := e.CreateServices(f.tariff.ID, 16, "ram@example.org"); err != nil {
		t.Fatal(err)
	}
	stop := runEngine(t, e)
	m := f.module.ID
	eventually(t, time.Minute, "no open waits for the cluster", func() bool {
		c := e.Counts()[m]
		return c.Done == 10 && c.Running == 0 && len(e.Status().Capacity) == 1
	})
	if w := e.Status().Capacity[0]; w.Cause != "not enough free RAM on cluster 1 (kvm-main)" {
		t.Fatalf("capacity wait %+v", w)
	}
	refused := 0
	for _, w := range l.since(0) {
		if w.method == "POST" && w.path == "/vm/v3/host" && w.status >= 400 {
			refused++
		}
	}
	if refused > 4 { // at most the opens that were in flight when the figures ran out
		t.Errorf("VMmanager refused %d creations; the figures should have held them", refused)
	}
	f.sim.SetClusterTotals(1, 0, 12*1024, 0) // room for two more only
	eventually(t, time.Minute, "two opens did not go on", func() bool {
		c := e.Counts()[m]
		return c.Done == 12 && c.Running == 0 && len(e.Status().Capacity) == 1
	})
	f.sim.SetClusterTotals(1, 0, 64*1024, 0)
	eventually(t, time.Minute, "the opens did not go on after the cluster grew", func() bool { return e.Counts()[m].Done == 16 })
	stop()
	checkAllDone(t, f, 16)
	if ts := capacityTasks(t, f); len(ts) != 1 || !strings.HasSuffix(ts[0].Title, "not enough free RAM on cluster 1 (kvm-main)") {
		t.Fatalf("tasks %+v, want one", ts)
	}
}

// Capacity is the engine's last reading of a module's free room, the VMs it made since counted; a
// module whose VMmanager cannot be read has none.
func TestCapacityReading(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 53, IPv4PoolSize: 50}, store.DefaultParams())
	e := f.engine(fastOptions())
	if _, err := e.CreateServices(f.tariff.ID, 3, "room@example.org"); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	c := e.Capacity(t.Context(), f.module)
	if c == nil || c.Cluster.ID != 1 || c.Cluster.CPU == nil || c.Cluster.CPU.Used != 3 || c.Cluster.RAMMiB.Used != 3*1024 ||
		len(c.Pools) != 2 || c.Pools[0].ID != 1 || c.Pools[0].Interface != 0 || c.Pools[0].IPv4.Total != 50 ||
		c.Pools[0].IPv4.Used != 3 || c.Pools[1].Interface != 1 || c.Pools[1].IPv4.Used != 0 {
		t.Fatalf("capacity %+v", c)
	}
	if fresh, err := e.ReadCapacity(t.Context(), f.module, 0); err != nil || fresh.Pools[0].IPv4.Used != 3 || !fresh.At.After(c.At) {
		t.Fatalf("read afresh: %+v, %v", fresh, err)
	}
	gone := *f.module
	gone.ID, gone.URL = 99, "http://127.0.0.1:1"
	f.must(f.secrets.Set(gone.ID, "demo-password"))
	if c := e.Capacity(t.Context(), &gone); c != nil {
		t.Fatalf("capacity of an unreachable VMmanager: %+v", c)
	}
	if _, err := e.ReadCapacity(t.Context(), &gone, 0); err == nil {
		t.Fatal("reading an unreachable VMmanager did not fail")
	}
}
