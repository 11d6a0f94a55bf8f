package lease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"vmmpm/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// deadline is generous: CI is a loaded 2-core machine.
const deadline = 60 * time.Second

// host is one engine on a pool of its own (a host of its own), with the lanes OnChange last said.
type host struct {
	*Engine
	pool    *pgxpool.Pool
	mu      sync.Mutex
	last    []Held
	changed chan struct{}
}

func (h *host) seen() []Held {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// join makes an engine on its own pool to the schema at url.
func join(t *testing.T, url, name string, o Options) *host {
	t.Helper()
	h := &host{pool: pgtest.Open(t, url), changed: make(chan struct{}, 1)}
	o.Host, o.PID, o.Version = name, os.Getpid(), "test"
	o.OnChange = func(held []Held) {
		h.mu.Lock()
		h.last = held
		h.mu.Unlock()
		select {
		case h.changed <- struct{}{}:
		default:
		}
	}
	e, err := Join(context.Background(), h.pool, o)
	if err != nil {
		t.Fatal(err)
	}
	h.Engine = e
	t.Cleanup(e.Stop)
	return h
}

func addLanes(t *testing.T, db DB, module int64, n int) []Lane {
	t.Helper()
	var out []Lane
	for i := range n {
		l := Lane{module, fmt.Sprintf("key-%d", i)}
		if err := AddLane(context.Background(), db, l); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// waitFor polls cond (a database read or the engine's state) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func claim(t *testing.T, h *host) []Held {
	t.Helper()
	held, err := h.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// inTx runs f in a transaction of pool p, committing when f returns nil.
func inTx(p *pgxpool.Pool, f func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(context.Background(), p, f)
}

func start(h *host, held Held, service, job int64) error {
	return inTx(h.pool, func(tx pgx.Tx) error { return h.StartJob(context.Background(), tx, held, service, job) })
}

func finish(h *host, held Held, job int64) error {
	return inTx(h.pool, func(tx pgx.Tx) error { return h.FinishJob(context.Background(), tx, held, job) })
}

// TestTakeoverAfterDeath: an engine holding every lane (each busy with a job) stops renewing and
// its pool closes; the survivor takes every lane no sooner than the lease's end and within TTL + one
// renewal of the dead engine's last renewal, in database time, and resumes the interrupted jobs.
func TestTakeoverAfterDeath(t *testing.T) {
	const ttl, renew = 2 * time.Second, 500 * time.Millisecond
	url := pgtest.URL(t)
	o := Options{TTL: ttl, RenewEvery: renew, PollEvery: 100 * time.Millisecond}
	a := join(t, url, "a", o)
	addLanes(t, a.pool, 1, 6)
	held := claim(t, a)
	if len(held) != 6 {
		t.Fatalf("a alone holds %v, want all 6 lanes", held)
	}
	for i, h := range held {
		if err := start(a, h, int64(100+i), int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	a.Start()
	b := join(t, url, "b", o)
	b.Start()
	for _, h := range held { // b waits: busy lanes are never handed over
		if err := inTx(a.pool, func(tx pgx.Tx) error { return a.Guard(context.Background(), tx, h) }); err != nil {
			t.Fatalf("a lost %v while alive: %v", h.Lane, err)
		}
	}

	a.Stop()
	a.pool.Close()
	var lastRenewal, leaseEnd time.Time
	if err := b.pool.QueryRow(context.Background(), `SELECT renewed_at, max(l.lease_until) FROM engines e
		JOIN lanes l ON l.holder = e.id WHERE e.id = $1 GROUP BY renewed_at`, a.ID()).Scan(&lastRenewal, &leaseEnd); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b holds all 6 lanes", func() bool { return len(b.Held()) == 6 })
	var first, last time.Time
	if err := b.pool.QueryRow(context.Background(), `SELECT min(claimed_at), max(claimed_at) FROM lanes WHERE holder = $1`,
		b.ID()).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	if first.Before(leaseEnd) {
		t.Errorf("b claimed at %v, before a's lease ended at %v", first, leaseEnd)
	}
	if took := last.Sub(lastRenewal); took > ttl+renew {
		t.Errorf("takeover took %v after a's last renewal, want at most TTL + one renewal (%v)", took, ttl+renew)
	} else {
		t.Logf("takeover %v after the last renewal (TTL %v, renewal %v)", took, ttl, renew)
	}
	for _, h := range b.Held() {
		run, err := RunningIn(context.Background(), b.pool, h.Lane)
		if err != nil || len(run) != 1 || run[0].Epoch >= h.Epoch {
			t.Fatalf("running in %v = %v, %v: want a's one job under an older epoch than %d", h.Lane, run, err, h.Epoch)
		}
		if err := inTx(b.pool, func(tx pgx.Tx) error { return b.ResumeJob(context.Background(), tx, h, run[0].Job) }); err != nil {
			t.Fatal(err)
		}
		if err := finish(b, h, run[0].Job); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLeaveHandsOverAtOnce: with the poll an hour apart only NOTIFY can move lanes: a joiner gets
// its share at once, and an engine that leaves (SIGTERM) hands every lane over within a second.
func TestLeaveHandsOverAtOnce(t *testing.T) {
	url := pgtest.URL(t)
	o := Options{PollEvery: time.Hour}
	a := join(t, url, "a", o)
	addLanes(t, a.pool, 1, 6)
	a.Start()
	waitFor(t, "a holds all 6 lanes", func() bool { return len(a.seen()) == 6 })
	b := join(t, url, "b", o)
	b.Start()
	waitFor(t, "b gets 3 lanes from a through NOTIFY", func() bool { return len(b.seen()) == 3 && len(a.seen()) == 3 })

	left := time.Now()
	if err := a.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b holds all 6 lanes", func() bool { return len(b.seen()) == 6 })
	if took := time.Since(left); took > time.Second {
		t.Errorf("b held every lane %v after a left, want within 1 s", took)
	} else {
		t.Logf("hand-over %v after Leave", took)
	}
	infos, err := Engines(context.Background(), b.pool)
	if err != nil || len(infos) != 1 || infos[0].ID != b.ID() || infos[0].Lanes != 6 {
		t.Errorf("engines after a left = %+v, %v: want b alone with 6 lanes", infos, err)
	}
}

// TestFrozenEngineIsFenced: an engine whose lease lapsed (frozen past its TTL) is refused every
// transition, first as lapsed, then, once another engine claimed the lane, as stale; the new
// holder's transitions go through.
func TestFrozenEngineIsFenced(t *testing.T) {
	url := pgtest.URL(t)
	o := Options{TTL: time.Second, RenewEvery: 200 * time.Millisecond}
	a := join(t, url, "a", o)
	addLanes(t, a.pool, 1, 1)
	held := claim(t, a)
	if len(held) != 1 {
		t.Fatalf("a holds %v", held)
	}
	h := held[0]
	if err := start(a, h, 10, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's lease lapses", func() bool {
		var lapsed bool
		_ = a.pool.QueryRow(context.Background(), `SELECT lease_until <= clock_timestamp() FROM lanes`).Scan(&lapsed)
		return lapsed
	})
	var fenced *FencedError
	if err := finish(a, h, 1); !errors.As(err, &fenced) || fenced.Reason != "lapsed before it was renewed" {
		t.Fatalf("finish after the lapse: %v, want fenced as lapsed", err)
	}

	b := join(t, url, "b", o)
	bh := claim(t, b)
	if len(bh) != 1 || bh[0].Epoch != h.Epoch+1 {
		t.Fatalf("b claimed %v, want the lane under epoch %d", bh, h.Epoch+1)
	}
	if err := a.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(a.Held()) != 0 {
		t.Errorf("a still thinks it holds %v after b claimed", a.Held())
	}
	for name, try := range map[string]func() error{
		"finish": func() error { return finish(a, h, 1) },
		"start":  func() error { return start(a, h, 11, 2) },
	} {
		err := try()
		if !errors.Is(err, ErrFenced) || !errors.As(err, &fenced) || fenced.Current != bh[0].Epoch {
			t.Errorf("a's %s under epoch %d: %v, want fenced by epoch %d", name, h.Epoch, err, bh[0].Epoch)
		}
	}
	if err := inTx(b.pool, func(tx pgx.Tx) error { return b.ResumeJob(context.Background(), tx, bh[0], 1) }); err != nil {
		t.Fatal(err)
	}
	if err := finish(b, bh[0], 1); err != nil {
		t.Errorf("b's finish of the resumed job: %v", err)
	}
}

func counts(hs ...*host) []int {
	var out []int
	for _, h := range hs {
		out = append(out, len(h.Held()))
	}
	return out
}

// TestFairShareAndRebalance: three engines share nine lanes 3/3/3; a lane with a running job is
// handed over only after its job finished; when one leaves the two others share its lanes.
func TestFairShareAndRebalance(t *testing.T) {
	url := pgtest.URL(t)
	a := join(t, url, "a", Options{})
	addLanes(t, a.pool, 1, 9)
	if got := claim(t, a); len(got) != 9 {
		t.Fatalf("a alone: %v", got)
	}
	b := join(t, url, "b", Options{})
	claim(t, a) // a hands 4 over
	claim(t, b)
	if got := counts(a, b); !slices.Equal(got, []int{5, 4}) {
		t.Fatalf("a, b hold %v lanes, want 5 and 4", got)
	}
	busy := a.Held()[:4]
	for i, h := range busy {
		if err := start(a, h, int64(i+1), int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	c := join(t, url, "c", Options{})
	for _, h := range []*host{a, b, c} {
		claim(t, h)
	}
	if got := counts(a, b, c); !slices.Equal(got, []int{4, 3, 2}) {
		t.Fatalf("with 4 of a's lanes busy: a, b, c hold %v, want 4, 3, 2", got)
	}
	for i, h := range busy {
		if err := finish(a, h, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	claim(t, a)
	claim(t, c)
	if got := counts(a, b, c); !slices.Equal(got, []int{3, 3, 3}) {
		t.Fatalf("after the jobs ended: a, b, c hold %v, want 3 each", got)
	}

	if err := c.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	claim(t, a)
	claim(t, b)
	if got := counts(a, b); !slices.Equal(got, []int{5, 4}) {
		t.Fatalf("after c left: a, b hold %v, want 5 and 4", got)
	}
	var epochs int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(DISTINCT epoch) FROM lanes WHERE epoch > 1`).Scan(&epochs); err != nil || epochs == 0 {
		t.Errorf("no lane's epoch rose past its first claim (%v): every claim must raise it", err)
	}
}

// TestReleasingWaitsForTheEngine: with Options.Releasing, a lane the fair share would hand over goes
// only once the engine says it runs nothing there: asked every round with the lanes planned, it keeps
// them while it answers none, and they go (to the newcomer) as soon as it answers them.
func TestReleasingWaitsForTheEngine(t *testing.T) {
	url := pgtest.URL(t)
	var mu sync.Mutex
	var asked [][]Lane
	may := false
	a := join(t, url, "a", Options{Releasing: func(planned []Lane) []Lane {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, slices.Clone(planned))
		if may {
			return planned
		}
		return nil
	}})
	addLanes(t, a.pool, 1, 4)
	if got := claim(t, a); len(got) != 4 {
		t.Fatalf("a alone: %v", got)
	}
	b := join(t, url, "b", Options{})
	claim(t, a)
	claim(t, b)
	if got := counts(a, b); !slices.Equal(got, []int{4, 0}) {
		t.Fatalf("while a's engine keeps its lanes: a, b hold %v, want 4 and 0", got)
	}
	mu.Lock()
	last := asked[len(asked)-1]
	may = true
	mu.Unlock()
	if len(last) != 2 {
		t.Fatalf("a's engine was asked about %v, want the 2 lanes above a's share", last)
	}
	claim(t, a)
	claim(t, b)
	if got := counts(a, b); !slices.Equal(got, []int{2, 2}) {
		t.Fatalf("once a's engine lets them go: a, b hold %v, want 2 each", got)
	}
	for _, h := range b.Held() {
		if !slices.Contains(last, h.Lane) {
			t.Errorf("b holds %s, which a's engine was not asked about", h.Lane)
		}
	}
}

// TestOneRunningPerKeyAndService: many goroutines on three engines start jobs at once, several per
// lane and per service; the database lets one run per queue key and per service, refusing the
// others as busy, or as fenced when the engine does not hold the lane.
func TestOneRunningPerKeyAndService(t *testing.T) {
	url := pgtest.URL(t)
	hosts := []*host{join(t, url, "a", Options{}), join(t, url, "b", Options{}), join(t, url, "c", Options{})}
	addLanes(t, hosts[0].pool, 1, 6)
	var all []Held
	owner := map[Lane]int{}
	for i, h := range hosts {
		for _, held := range claim(t, h) {
			all = append(all, held)
			owner[held.Lane] = i
		}
	}
	if len(all) != 6 {
		t.Fatalf("held %v, want 6 lanes in all", all)
	}
	const goroutines, services = 60, 4
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	ready := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held := all[g%len(all)]
			h := hosts[owner[held.Lane]]
			if g%7 == 3 { // now and then an engine that does not hold the lane
				h = hosts[(owner[held.Lane]+1)%3]
			}
			<-ready
			errs[g] = start(h, held, int64(g%services), int64(g+1))
		}()
	}
	close(ready)
	wg.Wait()
	started, fenced := 0, 0
	for g, err := range errs {
		switch {
		case err == nil:
			started++
		case errors.Is(err, ErrFenced):
			fenced++
		case !errors.Is(err, ErrBusy):
			t.Errorf("goroutine %d: %v, want started, busy or fenced", g, err)
		}
	}
	var perKey, perService int
	if err := hosts[0].pool.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM running GROUP BY module_id, queue_key) k),
		(SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM running GROUP BY service_id) s)`).Scan(&perKey, &perService); err != nil {
		t.Fatal(err)
	}
	if want := (goroutines + 3) / 7; fenced != want {
		t.Errorf("%d starts fenced, want the %d made by an engine not holding the lane", fenced, want)
	}
	if perKey != 1 || perService != 1 || started != services {
		t.Errorf("%d started (want %d, one per service), at most %d per key and %d per service (want 1)",
			started, services, perKey, perService)
	}
}

// TestPasswordGate: an engine without a module's current password never claims its lanes, even
// alone; once its keyring holds the version it does; status says who lacks which.
func TestPasswordGate(t *testing.T) {
	url := pgtest.URL(t)
	old := join(t, url, "old", Options{Passwords: map[int64]int64{1: 1}})
	addLanes(t, old.pool, 1, 3)
	addLanes(t, old.pool, 2, 3)
	for held := range int64(2) { // version 1 set, then changed by the host holding it: version 2
		if _, err := RecordPassword(context.Background(), old.pool, 1, held); err != nil {
			t.Fatal(err)
		}
	}
	cur := join(t, url, "cur", Options{Passwords: map[int64]int64{1: 2}})
	claim(t, old)
	claim(t, cur)
	claim(t, old)
	for _, h := range old.Held() {
		if h.Module == 1 {
			t.Fatalf("old claimed %v without module 1's current password", h)
		}
	}
	if n := len(cur.Held()); n != 3 {
		t.Fatalf("cur holds %v, want module 1's 3 lanes", cur.Held())
	}
	infos, err := Engines(context.Background(), old.pool)
	if err != nil || len(infos) != 2 || !slices.Equal(infos[0].Lacks, []int64{1}) || len(infos[1].Lacks) != 0 {
		t.Errorf("engines = %+v, %v: want old lacking module 1, cur lacking none", infos, err)
	}
	if err := cur.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if held := claim(t, old); len(held) != 3 {
		t.Errorf("old alone holds %v: want only module 2's 3 lanes", held)
	}
	if err := old.SetPasswords(context.Background(), map[int64]int64{1: 2}); err != nil {
		t.Fatal(err)
	}
	if held := claim(t, old); len(held) != 6 {
		t.Errorf("with the current password old holds %v, want all 6 lanes", held)
	}
}

// TestLaneOfEveryModuleGoesToTheBest: the AllModules lane (a shared database's single engine) is
// claimed only by an engine holding as many current passwords as any live one; once the better one
// leaves, the other takes it.
func TestLaneOfEveryModuleGoesToTheBest(t *testing.T) {
	url := pgtest.URL(t)
	worse := join(t, url, "worse", Options{})
	if err := AddLane(context.Background(), worse.pool, Lane{AllModules, "engine"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []int64{1, 2} {
		if _, err := RecordPassword(context.Background(), worse.pool, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := worse.SetPasswords(context.Background(), map[int64]int64{1: 1}); err != nil {
		t.Fatal(err)
	}
	better := join(t, url, "better", Options{Passwords: map[int64]int64{1: 1, 2: 1}})
	if held := claim(t, worse); len(held) != 0 {
		t.Fatalf("the engine lacking module 2's password claimed %v while one holding it is live", held)
	}
	if held := claim(t, better); len(held) != 1 || held[0].Module != AllModules {
		t.Fatalf("the engine holding every password holds %v, want the lane of every module", held)
	}
	if err := better.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if held := claim(t, worse); len(held) != 1 {
		t.Errorf("left alone, the engine lacking a password holds %v, want the lane of every module", held)
	}
}

// TestRecordPassword: the first password is version 1; a host holding the current version that sets
// it again changed it (version 2); a host holding none or an older one catches up (version stays);
// every set counts, and a removed module's versions go.
func TestRecordPassword(t *testing.T) {
	pool := pgtest.Open(t, pgtest.URL(t))
	ctx := context.Background()
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ held, want int64 }{
		{0, 1}, // created on host A
		{0, 1}, // host B is given it: catches up
		{1, 2}, // host A changes it
		{1, 2}, // host B, behind, catches up
		{2, 3}, // host B changes it
	} {
		got, err := RecordPassword(ctx, pool, 7, c.held)
		if err != nil || got != c.want {
			t.Fatalf("set %d (held %d): version %d, %v; want %d", i, c.held, got, err, c.want)
		}
	}
	states, err := ModulePasswords(ctx, pool)
	if err != nil || states[7] != (PasswordState{Version: 3, Sets: 5}) || len(states) != 1 {
		t.Fatalf("states = %+v, %v; want module 7 at version 3 after 5 sets", states, err)
	}
	if err := ForgetPassword(ctx, pool, 7); err != nil {
		t.Fatal(err)
	}
	if states, err := ModulePasswords(ctx, pool); err != nil || len(states) != 0 {
		t.Errorf("after ForgetPassword: %+v, %v", states, err)
	}
}
