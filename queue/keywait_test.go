package queue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// lockableSecrets is memory secrets whose reads fail as a locked keyring's do while locked is set.
type lockableSecrets struct {
	store.Secrets
	locked atomic.Bool
	mu     sync.Mutex
	reads  int
}

func (s *lockableSecrets) Get(id uint64) (string, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	if s.locked.Load() {
		return "", &store.SecretError{Op: "read", ModuleID: id, Cause: store.ErrLocked, Err: errors.New("prompt dismissed")}
	}
	return s.Secrets.Get(id)
}

// TestKeyringLockedJobsWait: with the keyring locked, jobs wait in a visible state without using an
// attempt or opening a task, and all finish within 5 s of the keyring being unlocked.
func TestKeyringLockedJobsWait(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 5 * time.Millisecond, Seed: 5}, queueParams("k-__PMID__", 2))
	sec := &lockableSecrets{Secrets: f.secrets}
	sec.locked.Store(true)
	f.secrets = sec
	e := f.engine(fastOptions())
	_, err := e.CreateServices(f.tariff.ID, 4, "locked@example.org")
	f.must(err)
	events, stop := e.Subscribe(1 << 12)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.RunUntilIdle(ctx) }()

	var st *Status
	for st == nil {
		select {
		case ev := <-events:
			if ev.Kind == EngineStatus && ev.Status.Waiting != "" {
				st = ev.Status
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no EngineStatus event said the jobs wait for the keyring")
		}
	}
	if st.String() != "waiting: keyring locked" || st.WaitingAdvice == "" {
		t.Errorf("status %q, advice %q", st, st.WaitingAdvice)
	}
	time.Sleep(300 * time.Millisecond) // let a few probes fail
	jobs, _, err := e.Page("", 0, 10)
	f.must(err)
	waitingSeen := false
	for _, j := range jobs {
		if j.State == store.JobRunning {
			t.Errorf("job %d shows running while the keyring is locked", j.ID)
		}
		if j.Attempt != 0 {
			t.Errorf("job %d used %d attempts while waiting", j.ID, j.Attempt)
		}
		waitingSeen = waitingSeen || j.Error == "waiting: keyring locked"
	}
	if !waitingSeen {
		t.Error("no job says it is waiting for the keyring")
	}
	if s := e.Status(); s.Waiting != "keyring locked" {
		t.Errorf("Status() = %+v while locked", s)
	}

	unlocked := time.Now()
	sec.locked.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(unlocked); d > 5*time.Second {
		t.Errorf("jobs took %s after the unlock", d)
	}
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone || j.Attempt != 1 || j.Error != "" {
			t.Errorf("job %d: %s after %d attempts, error %q", j.ID, j.State, j.Attempt, j.Error)
		}
	}
	if tasks, _ := store.All[store.Task](f.db); len(tasks) != 0 {
		t.Errorf("%d department tasks opened for a locked keyring", len(tasks))
	}
	if s := e.Status(); s.Waiting != "" {
		t.Errorf("still %s", s)
	}
	if n := len(f.sim.Stats().HostsCreated); n != 4 {
		t.Errorf("%d VMs created, want 4", n)
	}
}

// TestKeyringLockedMaxPause: with Options.MaxPause a keyring that stays locked ends the run with one
// sentence naming the cause and the fix; the jobs keep their attempts and open no task.
func TestKeyringLockedMaxPause(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("km-__PMID__", 1))
	sec := &lockableSecrets{Secrets: f.secrets}
	sec.locked.Store(true)
	f.secrets = sec
	opt := fastOptions()
	opt.MaxPause = 300 * time.Millisecond
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, 2, "km@example.org")
	f.must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = e.RunUntilIdle(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "keyring locked") ||
		!strings.Contains(err.Error(), "unlock it") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("RunUntilIdle with a keyring locked for good: %v", err)
	}
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobQueued || j.Attempt != 0 {
			t.Errorf("job %d: %s after %d attempts", j.ID, j.State, j.Attempt)
		}
	}
	if tasks, _ := store.All[store.Task](f.db); len(tasks) != 0 {
		t.Errorf("%d tasks opened", len(tasks))
	}
	// Unlocked and restarted: the jobs run, and none keeps the waiting sentence.
	f.must(e.Close())
	sec.locked.Store(false)
	runIdle(t, f.engine(fastOptions()), 10*time.Second)
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone || j.Attempt != 1 || j.Error != "" {
			t.Errorf("after the restart job %d: %s after %d attempts, error %q", j.ID, j.State, j.Attempt, j.Error)
		}
	}
}
