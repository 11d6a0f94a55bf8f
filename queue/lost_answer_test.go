package queue

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// loseFirstCreate serves the emulator but drops the connection after VMmanager has processed the first
// POST /vm/v3/host: the VM exists, the answer never arrives.
func loseFirstCreate(t *testing.T, s *sim.Sim) string {
	t.Helper()
	var lost atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/vm/v3/host" && lost.CompareAndSwap(false, true) {
			s.ServeHTTP(httptest.NewRecorder(), r)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An open whose POST /vm/v3/host answer was lost retries, finds svc-{IID} and adopts it: one VM.
func TestLostCreateAnswerAdoptsTheVM(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 3, TaskTime: 20 * time.Millisecond}, store.DefaultParams())
	f.module.URL = loseFirstCreate(t, f.sim)
	f.must(f.db.Save(f.module))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "lost@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	j := allJobs(t, f.db)[0]
	if j.State != store.JobDone || j.Attempt != 2 {
		t.Fatalf("job %s after %d attempts (%s), want done after 2", j.State, j.Attempt, j.Error)
	}
	if n := f.sim.Stats().HostsCreated[VMName(svcs[0].ID)]; n != 1 {
		t.Fatalf("VM created %d times", n)
	}
	s, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if s.Status != store.ServiceActive || s.VM.HostID == 0 || len(s.VM.IPv4) == 0 {
		t.Fatalf("service %+v", s)
	}
}

// lateTasks serves the emulator but lists no task until it is `late` old, as VMmanager sometimes does
// right after the call that started it.
func lateTasks(t *testing.T, s *sim.Sim, late time.Duration) string {
	t.Helper()
	var mu sync.Mutex
	var firstSeen time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/vm/v3/task" {
			mu.Lock()
			if firstSeen.IsZero() {
				firstSeen = time.Now()
			}
			hide := time.Since(firstSeen) < late
			mu.Unlock()
			if hide {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"last_notify":0,"list":[]}`))
				return
			}
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A task VMmanager lists a little late (within a few poll periods) is waited for, not taken as gone.
func TestTaskListedLateIsWaitedFor(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 4}, store.DefaultParams())
	f.module.URL = lateTasks(t, f.sim, 20*time.Millisecond)
	f.must(f.db.Save(f.module))
	opt := fastOptions()
	opt.PollEvery = 10 * time.Millisecond // the task shows up within 2 poll periods
	e := f.engine(opt)
	if _, err := e.CreateServices(f.tariff.ID, 1, "late@example.org"); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	if j := allJobs(t, f.db)[0]; j.State != store.JobDone || j.Attempt != 1 {
		t.Fatalf("job %s after %d attempts: %s", j.State, j.Attempt, j.Error)
	}
}

// An open found running with a recorded host_create task VMmanager no longer lists checks VMmanager for
// svc-{IID} (spec §6) instead of failing the service.
func TestResumedOpenWithUnknownTaskChecksVMmanager(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 5}, store.DefaultParams())
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "gone@example.org")
	if err != nil {
		t.Fatal(err)
	}
	f.must(e.Close())
	j := allJobs(t, f.db)[0]
	j.State, j.Attempt, j.VMTask = store.JobRunning, 1, &store.VMTask{ConsulID: "987654", Name: "host_create"}
	f.must(f.db.Update(func(tx *store.Tx) error { return putJob(tx, j) }))

	runIdle(t, f.engine(fastOptions()), 30*time.Second)
	if j := allJobs(t, f.db)[0]; j.State != store.JobDone {
		t.Fatalf("job %s after %d attempts: %s", j.State, j.Attempt, j.Error)
	}
	if s, _ := store.Load[store.Service](f.db, svcs[0].ID); s.Status != store.ServiceActive {
		t.Fatalf("service is %s", s.Status)
	}
	if n := f.sim.Stats().HostsCreated[VMName(svcs[0].ID)]; n != 1 {
		t.Fatalf("VM created %d times", n)
	}
}

// removeOnAdoption serves the emulator like loseFirstCreate, and when the open then reads the VM it
// adopted back by id, removes every VM named name first: what a host that made the VM after its
// lease lapsed does (stale.go) in the moment the engine now holding the lease adopts it.
func removeOnAdoption(t *testing.T, s *sim.Sim, name func() string) string {
	t.Helper()
	var lost, removed atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/vm/v3/host" && lost.CompareAndSwap(false, true):
			s.ServeHTTP(httptest.NewRecorder(), r)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		case r.Method == http.MethodGet && r.URL.Path == "/vm/v3/host" && lost.Load() &&
			strings.HasPrefix(r.URL.Query().Get("where"), "(id EQ") && removed.CompareAndSwap(false, true):
			for _, id := range s.VMsNamed(name()) {
				if err := s.DeleteVM(id); err != nil {
					t.Error(err)
				}
			}
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An open that adopted its VM from an earlier attempt and then finds it gone (on a shared database,
// removed by the host that made it after its lease lapsed) tries again and makes a new one: the
// service ends active with exactly one VM, not failed with none.
func TestAdoptedVMRemovedMakesANewOne(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 3, TaskTime: 20 * time.Millisecond}, store.DefaultParams())
	var svc atomic.Uint64
	f.module.URL = removeOnAdoption(t, f.sim, func() string { return VMName(svc.Load()) })
	f.must(f.db.Save(f.module))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "gone@example.org")
	if err != nil {
		t.Fatal(err)
	}
	svc.Store(svcs[0].ID)
	runIdle(t, e, 30*time.Second)
	j := allJobs(t, f.db)[0]
	if j.State != store.JobDone || j.Attempt != 3 {
		t.Fatalf("job %s after %d attempts (%s), want done after 3 (lost answer, adopted VM gone, new VM)", j.State, j.Attempt, j.Error)
	}
	name := VMName(svcs[0].ID)
	live := f.sim.VMsNamed(name)
	s, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if n := f.sim.Stats().HostsCreated[name]; n != 2 || len(live) != 1 || s.VM.HostID != uint64(live[0]) || s.Status != store.ServiceActive {
		t.Fatalf("VM created %d times, live %v, service %s records VM %d; want 2, one live, active, recording it", n, live, s.Status, s.VM.HostID)
	}
	said := false
	for _, l := range j.Log {
		said = said || strings.Contains(l.Text, "adopted from an earlier attempt, vanished from VMmanager")
	}
	if !said {
		t.Errorf("the job's log does not say the adopted VM vanished: %+v", j.Log)
	}
}
