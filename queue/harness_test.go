package queue

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/internal/storetest"
	"vmmpm/store"
	"vmmpm/store/kv"
	"vmmpm/vmm/sim"
)

// fixture is a real database, an emulator on loopback and one module pointing at it.
type fixture struct {
	t       testing.TB
	path    string
	db      *store.DB
	secrets store.Secrets
	sim     *sim.Sim
	url     string
	module  *store.Module
	tariff  *store.Tariff
	dept    *store.Department
	dc      *store.DataCenter
	feed    bool // a bbolt file opened as a server's database is (store.OpenKV): it keeps a job feed
}

// startSim serves an emulator on loopback for the whole test.
func startSim(t testing.TB, cfg sim.Config) (*sim.Sim, string) {
	t.Helper()
	s := sim.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// newFixture opens a fresh database (storetest.Path: a bbolt file, or PostgreSQL in the second run)
// with a data center, a department, one module with params and a tariff on it. The module's password
// lives in memory secrets.
func newFixture(t testing.TB, cfg sim.Config, params store.Params) *fixture {
	t.Helper()
	return newFixtureAt(t, storetest.Path(t), cfg, params)
}

// newFileFixture is newFixture on a bbolt file whatever the run, for tests that damage the file.
func newFileFixture(t testing.TB, cfg sim.Config, params store.Params) *fixture {
	t.Helper()
	return newFixtureAt(t, filepath.Join(t.TempDir(), "vmmpm.db"), cfg, params)
}

func newFixtureAt(t testing.TB, path string, cfg sim.Config, params store.Params) *fixture {
	t.Helper()
	s, url := startSim(t, cfg)
	f := &fixture{t: t, path: path, sim: s, url: url, secrets: store.NewMemorySecrets()}
	return f.setUp(params)
}

// setUp opens f's database and saves a data center, a department, a module with params and a tariff.
func (f *fixture) setUp(params store.Params) *fixture {
	f.open()
	f.dc = &store.DataCenter{Name: "dc1"}
	f.dept = &store.Department{Name: "Technical support"}
	f.must(f.db.Save(f.dc), f.db.Save(f.dept))
	f.module = f.addModule("vmm-a", params)
	f.tariff = &store.Tariff{Name: "small", DataCenterID: f.dc.ID, ModuleIDs: []uint64{f.module.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "@USERNAME@-@ID@.example.net"}
	f.must(f.db.Save(f.tariff))
	return f
}

// newFeedFixture is newFixture on a database that keeps a job feed (store.ReadFeed): PostgreSQL in
// the second run, else a bbolt file opened as a server's database is.
func newFeedFixture(t testing.TB, cfg sim.Config, params store.Params) *fixture {
	t.Helper()
	if storetest.Postgres() {
		return newFixture(t, cfg, params)
	}
	s, url := startSim(t, cfg)
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "vmmpm.db"), sim: s, url: url, secrets: store.NewMemorySecrets(), feed: true}
	return f.setUp(params)
}

func (f *fixture) open() {
	open := func() (*store.DB, error) { return store.Open(f.path, store.Options{}) }
	if f.feed {
		open = func() (*store.DB, error) {
			b, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				return nil, err
			}
			return store.OpenKV(kv.Bolt(b), f.path, store.Options{})
		}
	}
	db, err := open()
	if err != nil {
		f.t.Fatal(err)
	}
	f.db = db
	f.t.Cleanup(func() { _ = db.Close() })
}

func (f *fixture) must(errs ...error) {
	f.t.Helper()
	for _, err := range errs {
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) addModule(name string, params store.Params) *store.Module {
	f.t.Helper()
	m := &store.Module{Name: name, ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: f.url,
		Username: "admin@example.com", DataCenterID: f.dc.ID, DepartmentID: f.dept.ID,
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}, Enabled: true, Params: params}
	f.must(f.db.Save(m), f.secrets.Set(m.ID, "demo-password"))
	return m
}

// fastOptions keep tests quick: millisecond backoff and polling.
func fastOptions() Options {
	return Options{BackoffBase: time.Millisecond, PollEvery: 5 * time.Millisecond}
}

func (f *fixture) engine(opt Options) *Engine {
	f.t.Helper()
	e, err := New(f.db, f.secrets, opt)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = e.Close() })
	return e
}

// runIdle runs the engine until idle, failing the test after limit.
func runIdle(t testing.TB, e *Engine, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := e.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("engine not idle after %s", limit)
	}
}

func queueParams(key string, count int) store.Params {
	p := store.DefaultParams()
	p.Queue, p.QueueKey, p.QueueCount = true, key, count
	return p
}

func allJobs(t testing.TB, db *store.DB) []*store.Job {
	t.Helper()
	jobs, err := store.All[store.Job](db)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// recorder collects job events to check orderings.
type recorder struct {
	mu     sync.Mutex
	events []Event
	done   chan struct{}
}

func record(e *Engine) (*recorder, func()) {
	ch, stop := e.Subscribe(1 << 16)
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range ch {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	}()
	return r, func() { stop(); <-r.done }
}

// intervals returns each job's [first running, final] event time as event sequence numbers.
func (r *recorder) intervals() map[uint64][2]uint64 {
	out := map[uint64][2]uint64{}
	for _, ev := range r.events {
		if ev.Kind != JobChanged {
			continue
		}
		iv, ok := out[ev.Job.ID]
		if ev.Job.State == store.JobRunning && (!ok || iv[0] == 0) {
			iv[0] = ev.Seq
		}
		if store.Finished(ev.Job.State) {
			iv[1] = ev.Seq
		}
		out[ev.Job.ID] = iv
	}
	return out
}

// checkFile runs bbolt's check of the whole file when the closed fixture's database is one; a
// database on a server has no pages to check.
func checkFile(t testing.TB, f *fixture) {
	t.Helper()
	if !store.IsServer(f.path) {
		checkBolt(t, f.path)
	}
}

func checkBolt(t testing.TB, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		return first
	})
	if err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}
