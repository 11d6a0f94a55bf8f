package queue

import (
	"context"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// checkLogins asserts the engine's figure for the fixture's module: want logins in a period that began
// no earlier than after and lasts ttl past its newest login (an hour-long one with ttl 0).
func checkLogins(t *testing.T, e *Engine, m *store.Module, want int, after time.Time, ttl time.Duration) SessionLogins {
	t.Helper()
	got, ok := e.Logins(m)
	if !ok {
		t.Fatal("the VMmanager executor does not count logins")
	}
	if got.Count != want || got.TTL != ttl {
		x := e.exec.(*vmmExecutor)
		x.mu.Lock()
		mc := x.clients[m.ID]
		x.mu.Unlock()
		all := -1
		if mc != nil {
			all = mc.c.Logins()
		}
		t.Fatalf("engine's logins %+v (client's all-time %d), want %d with a %s session period", got, all, want, ttl)
	}
	if want == 0 {
		if !got.Since.IsZero() || !got.Until.IsZero() {
			t.Fatalf("no period runs, yet %+v", got)
		}
		return got
	}
	span := ttl
	if span == 0 {
		span = vmm.NoSessionPeriod
	}
	if got.Since.Before(after) || got.Until.Sub(got.Since) < span || time.Until(got.Until) > span {
		t.Fatalf("period %s … %s: want one begun after %s lasting %s past its newest login", got.Since, got.Until, after, span)
	}
	return got
}

// The engine's figure is the logins the emulator saw for the module: one for a batch of operations
// within a 1-hour session, every renewal when VMmanager forgets tokens early, one per operation with
// session_ttl 0, and a fresh count after the module's settings change.
func TestLoginsMatchTheEmulator(t *testing.T) {
	t.Run("one session", func(t *testing.T) {
		f := newFixture(t, sim.Config{TaskTime: 20 * time.Millisecond, Seed: 1}, queueParams("q-__PMID__", 2))
		e := f.engine(fastOptions())
		start := time.Now()
		checkLogins(t, e, f.module, 0, start, time.Hour)
		runTwentyFour(t, f, e)
		if n := f.sim.Stats().LoginsOK; n != 1 {
			t.Fatalf("emulator saw %d logins, want 1", n)
		}
		checkLogins(t, e, f.module, 1, start, time.Hour)
	})

	t.Run("tokens forgotten early", func(t *testing.T) {
		f := newFixture(t, sim.Config{TaskTime: 20 * time.Millisecond, TokenTTL: 60 * time.Millisecond, Seed: 1},
			queueParams("q-__PMID__", 2))
		e := f.engine(fastOptions())
		start := time.Now()
		runTwentyFour(t, f, e)
		n := f.sim.Stats().LoginsOK
		if n < 2 {
			t.Fatalf("emulator saw %d logins; the test needs VMmanager to refuse tokens early", n)
		}
		checkLogins(t, e, f.module, n, start, time.Hour)
	})

	t.Run("a login per operation", func(t *testing.T) {
		p := queueParams("q-__PMID__", 1)
		p.SessionTTL = 0
		f := newFixture(t, sim.Config{TaskTime: 20 * time.Millisecond, Seed: 1}, p)
		e := f.engine(fastOptions())
		start := time.Now()
		if _, err := e.CreateServices(f.tariff.ID, 3, "alice@example.org"); err != nil {
			t.Fatal(err)
		}
		runIdle(t, e, 60*time.Second)
		checkAllDone(t, f, 3)
		n := f.sim.Stats().LoginsOK
		if n < 3 {
			t.Fatalf("emulator saw %d logins for 3 operations with session_ttl 0", n)
		}
		checkLogins(t, e, f.module, n, start, 0)
	})

	t.Run("settings changed", func(t *testing.T) {
		p := queueParams("q-__PMID__", 1)
		p.SessionTTL = 1
		f := newFixture(t, sim.Config{TaskTime: 20 * time.Millisecond, Seed: 1}, p)
		e := f.engine(fastOptions())
		start := time.Now()
		svcs, err := e.CreateServices(f.tariff.ID, 2, "alice@example.org")
		if err != nil {
			t.Fatal(err)
		}
		runIdle(t, e, 60*time.Second)
		n := f.sim.Stats().LoginsOK
		first, _ := e.Logins(f.module)
		// (a slow machine may have needed a second 1-second period, so at most the emulator's count)
		if first.Count < 1 || first.Count > n || first.Since.Before(start) || first.Until.Sub(first.Since) < time.Second {
			t.Fatalf("engine's logins %+v, emulator's %d", first, n)
		}

		// The period ends with the last token: nothing is counted until the next login.
		time.Sleep(time.Until(first.Until) + 10*time.Millisecond)
		checkLogins(t, e, f.module, 0, start, time.Second)

		// A new session period: the module's client is not the one that counted until an operation
		// builds it, and its count starts from the emulator's logins since.
		f.module.Params.SessionTTL = 3600
		f.must(f.db.Save(f.module))
		checkLogins(t, e, f.module, 0, start, time.Hour)
		edited := time.Now()
		for _, s := range svcs {
			if _, err := e.Enqueue(s.ID, store.OpReboot, nil); err != nil {
				t.Fatal(err)
			}
		}
		runIdle(t, e, 60*time.Second)
		checkAllDone(t, f, 4)
		if got := f.sim.Stats().LoginsOK - n; got != 1 {
			t.Fatalf("emulator saw %d logins after the edit, want 1", got)
		}
		checkLogins(t, e, f.module, 1, edited, time.Hour)
		// The old settings are no longer the client's: they have no session.
		old := *f.module
		old.Params.SessionTTL = 1
		checkLogins(t, e, &old, 0, start, time.Second)
	})

	t.Run("no VMmanager executor", func(t *testing.T) {
		f := newFixture(t, sim.Config{Seed: 1}, store.DefaultParams())
		opt := fastOptions()
		opt.Executor = ExecutorFunc(func(context.Context, *Op) (Result, error) { return Result{}, nil })
		if _, ok := f.engine(opt).Logins(f.module); ok {
			t.Fatal("an executor that counts no logins reported a figure")
		}
	})
}

// runTwentyFour opens six services, queues three more operations on each and runs them all to done.
func runTwentyFour(t *testing.T, f *fixture, e *Engine) {
	t.Helper()
	svcs, err := e.CreateServices(f.tariff.ID, 6, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	enqueueMore(t, e, svcs)
	runIdle(t, e, 60*time.Second)
	checkAllDone(t, f, 24)
}
