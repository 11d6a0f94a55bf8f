package backend

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/lease"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/store/kv/pgkv"
)

// shareHost is one host of TestModulesSharedAmongEngines: its own pool, lease and queue engine.
type shareHost struct {
	name  string
	db    *store.DB
	le    *lease.Engine
	eng   *queue.Engine
	share *moduleShare
	stop  context.CancelFunc
	ran   chan error
	lost  chan error
	asked atomic.Int32 // claim rounds that planned to hand lanes over
}

// startShareHost joins the engines of url as host name and runs a queue engine on exec under the
// module lanes it holds.
func startShareHost(t *testing.T, url, name string, exec queue.Executor, ttl time.Duration) *shareHost {
	t.Helper()
	db, err := store.Open(url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	pg := db.KV().(*pgkv.DB)
	h := &shareHost{name: name, db: db, ran: make(chan error, 1), lost: make(chan error, 1)}
	h.share = newModuleShare(db, pg, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if h.le, err = lease.Join(ctx, pg.Pool(), lease.Options{Host: name, PID: 1, Version: "test", TTL: ttl, RenewEvery: ttl / 3,
		PollEvery: 100 * time.Millisecond, OnChange: h.share.changed, Releasing: func(planned []lease.Lane) []lease.Lane {
			if len(planned) > 0 {
				h.asked.Add(1)
			}
			return h.share.releasing(planned)
		}}); err != nil {
		t.Fatal(err)
	}
	if err := h.share.addLanes(ctx); err != nil {
		t.Fatal(err)
	}
	secrets := store.NewMemorySecrets()
	for _, id := range []uint64{1, 2} {
		if err := secrets.Set(id, "password"); err != nil {
			t.Fatal(err)
		}
	}
	h.eng, err = queue.New(db, secrets, queue.Options{Executor: exec, PollEvery: 10 * time.Millisecond,
		Wake:      func(ctx context.Context) <-chan struct{} { return WatchOthers(ctx, db) },
		MayCreate: h.share.mayCreate, Epoch: h.share.epoch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.eng.Close() })
	if err := h.share.attach(h.le, h.eng, func(err error) { h.lost <- err }); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	h.stop = stop
	go func() { h.ran <- h.eng.Run(runCtx) }()
	h.le.Start()
	t.Cleanup(func() { h.le.Stop() })
	return h
}

// modules are the modules whose lanes h holds.
func (h *shareHost) modules() []uint64 {
	var out []uint64
	for _, l := range h.le.Held() {
		if m, ok := laneModule(l.Lane); ok {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// ranBy records which host's executor ran which module's jobs.
type ranBy struct {
	mu  sync.Mutex
	ran map[string]map[uint64]bool
}

func (r *ranBy) note(host string, module uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ran[host] == nil {
		r.ran[host] = map[uint64]bool{}
	}
	r.ran[host][module] = true
}

func (r *ranBy) modules(host string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	for m := range r.ran[host] {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// TestModulesSharedAmongEngines: two engines on one PostgreSQL, each module a lane. A, alone, holds
// both and runs an open in each; B joins, and the fair share hands it a lane only at a job boundary:
// while both opens run, A keeps both lanes however often the rounds plan to hand one over; once they
// end, B gets one. Opens of both modules then run, each on the engine holding its module's lane only. B dies with its opens running (its leases lapse
// unrenewed): A claims B's module within the lease and a renewal, resumes those opens as crash
// recovery does, and every open ends done.
func TestModulesSharedAmongEngines(t *testing.T) {
	url := pgtest.URL(t)
	db, _ := engineDBAt(t, url)
	addModuleAndTariff(t, db)
	const ttl = 1500 * time.Millisecond
	r := &ranBy{ran: map[string]map[uint64]bool{}}
	gate := make(chan struct{})
	runs := func(host string, hang bool) queue.Executor {
		return queue.ExecutorFunc(func(ctx context.Context, op *queue.Op) (queue.Result, error) {
			r.note(host, op.Job.ModuleID)
			if op.Job.ServiceID <= 2 { // the first two opens, one per module, run until the gate opens
				<-gate
			}
			if hang {
				<-ctx.Done() // B's opens run until B dies
				return queue.Result{}, ctx.Err()
			}
			return succeed.Execute(ctx, op)
		})
	}
	a := startShareHost(t, url, "a", runs("a", false), ttl)
	waitUntil(t, "A alone to hold both modules", func() bool { return slices.Equal(a.modules(), []uint64{1, 2}) })
	enq, err := queue.New(db, store.NewMemorySecrets(), queue.Options{}) // a third host's orders
	if err != nil {
		t.Fatal(err)
	}
	defer enq.Close()
	order := func(n int) {
		t.Helper()
		for _, tariff := range []uint64{1, 2} {
			if _, err := enq.CreateServices(tariff, n, "client@example.com"); err != nil {
				t.Fatal(err)
			}
		}
	}
	stored := func(module uint64, state string) int {
		n := 0
		jobs, _ := store.All[store.Job](db)
		for _, j := range jobs {
			if j.ModuleID == module && j.State == state {
				n++
			}
		}
		return n
	}
	order(1)
	waitUntil(t, "A to run an open of each module", func() bool { return stored(1, store.JobRunning)+stored(2, store.JobRunning) == 2 })
	b := startShareHost(t, url, "b", runs("b", true), ttl)
	waitUntil(t, "three rounds of A planning to hand a lane over", func() bool { return a.asked.Load() >= 3 })
	if got := b.modules(); len(got) != 0 {
		t.Fatalf("B holds modules %v while A runs a job in each", got)
	}
	close(gate)
	waitUntil(t, "the modules shared one each", func() bool { return len(a.modules()) == 1 && len(b.modules()) == 1 })
	mA, mB := a.modules()[0], b.modules()[0]

	order(3)
	waitUntil(t, "A to run its module's opens", func() bool { return stored(mA, store.JobDone) == 4 })
	waitUntil(t, "B to run its module's opens", func() bool { return stored(mB, store.JobRunning) == 3 })
	if got := r.modules("a"); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("A ran jobs of modules %v, want 1 and 2 (alone first)", got)
	}
	if got := r.modules("b"); !slices.Equal(got, []uint64{mB}) {
		t.Errorf("B ran jobs of modules %v, want only %d", got, mB)
	}

	died := time.Now()
	b.le.Stop() // as if B's host died: nothing released, the leases lapse
	b.stop()
	<-b.ran
	waitUntil(t, "A to finish B's opens", func() bool { return stored(mB, store.JobDone) == 4 })
	took := time.Since(died)
	t.Logf("takeover of module %d and its 3 running opens: %s (lease %s)", mB, took.Round(time.Millisecond), ttl)
	if limit := ttl + ttl/3 + 5*time.Second; took > limit { // a loaded CI machine gets seconds of slack
		t.Errorf("A finished B's opens %s after B died, want within about the lease and a renewal", took)
	}
	jobs, _ := store.All[store.Job](db)
	for _, j := range jobs {
		if j.ModuleID == mB && j.ServiceID > 2 && !slices.ContainsFunc(j.Log, func(l store.LogLine) bool { return strings.Contains(l.Text, "resumed after an interruption") }) {
			t.Errorf("job %d of module %d was not resumed by A: %v", j.ID, mB, j.Log)
		}
	}
	select {
	case err := <-a.lost:
		t.Errorf("A's writes were fenced: %v", err)
	default:
	}
}

// waitUntil polls cond for up to a minute (a loaded CI machine delays everything).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after a minute waiting for %s", what)
		}
	}
}

// addModuleAndTariff adds module 2 and tariff 2 on it, beside engineDBAt's module 1 and tariff 1.
func addModuleAndTariff(t *testing.T, db *store.DB) {
	t.Helper()
	m1, err := store.Load[store.Module](db, 1)
	if err != nil {
		t.Fatal(err)
	}
	m2 := *m1
	m2.ID, m2.Name = 0, "kvm-2"
	if err := db.Save(&m2); err != nil {
		t.Fatal(err)
	}
	t1, err := store.Load[store.Tariff](db, 1)
	if err != nil {
		t.Fatal(err)
	}
	t2 := *t1
	t2.ID, t2.Name, t2.ModuleIDs = 0, "small-2", []uint64{m2.ID}
	if err := db.Save(&t2); err != nil {
		t.Fatal(err)
	}
	if m2.ID != 2 || t2.ID != 2 {
		t.Fatalf("module %d and tariff %d, want 2 and 2", m2.ID, t2.ID)
	}
}

// TestModuleLaneLapsedIsALoss: a module lane that goes without being handed over (it lapsed) ends
// the engine's term (ErrLeaseLost, once); one handed over at a job boundary does not.
func TestModuleLaneLapsedIsALoss(t *testing.T) {
	s := newModuleShare(nil, nil, slog.New(slog.DiscardHandler))
	var lost []error
	s.lost = func(err error) { lost = append(lost, err) }
	held := func(ms ...uint64) []lease.Held {
		var hs []lease.Held
		for _, m := range ms {
			hs = append(hs, lease.Held{Lane: moduleLane(m), Epoch: 1})
		}
		return hs
	}
	s.changed(held(1, 2, 3))
	s.going = map[uint64]bool{2: true} // the fair share hands module 2 over
	s.changed(held(1, 3))
	if len(lost) != 0 {
		t.Fatalf("module 2 handed over counted as lost: %v", lost)
	}
	s.changed(held(3))
	s.changed(nil)
	if len(lost) != 1 || !errors.Is(lost[0], ErrLeaseLost) || !strings.Contains(lost[0].Error(), "[1]") {
		t.Errorf("after module 1's lane lapsed the engine was told %v, want one ErrLeaseLost naming module 1", lost)
	}
}
