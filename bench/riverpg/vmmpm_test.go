package riverpg

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// storeEnv picks where the vmmpm side keeps its data: "postgres" (a schema of its own on the server
// River uses), anything else a bbolt file.
const storeEnv = "VMMPM_BENCH_STORE"

func storeKind() string {
	if os.Getenv(storeEnv) == "postgres" {
		return "postgres"
	}
	return "bbolt"
}

// storeAddr is what store.Open is given: switching the vmmpm side to PostgreSQL changes only this.
func storeAddr(b *testing.B) string {
	if storeKind() == "postgres" {
		return freshSchema(b, "vmmpm")
	}
	return filepath.Join(b.TempDir(), "bench.db")
}

// vmmpmSide is the engine with a no-op executor over one module whose W lanes are W queue keys,
// so W jobs can run at once (as queue's BenchmarkDurableThroughput sets it up).
type vmmpmSide struct {
	db     *store.DB
	e      *queue.Engine
	module uint64
	tariff uint64
}

func newVmmpmSide(b *testing.B, lanes int) *vmmpmSide {
	b.Helper()
	db := openStore(b)
	dc := &store.DataCenter{Name: "dc"}
	dept := &store.Department{Name: "ops"}
	save(b, db, dc, dept)
	p := store.DefaultParams()
	p.Queue, p.QueueKey, p.QueueCount = true, "b-__PMID__", lanes
	m := &store.Module{Name: "bench", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: "https://vmm.invalid",
		Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID, Enabled: true,
		Cluster: store.Cluster{ID: 1, Name: "kvm", Virtualization: store.VirtKVM}, Params: p}
	save(b, db, m)
	t := &store.Tariff{Name: "t", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	save(b, db, t)
	noop := queue.ExecutorFunc(func(context.Context, *queue.Op) (queue.Result, error) { return queue.Result{}, nil })
	e, err := queue.New(db, store.NewMemorySecrets(), queue.Options{Executor: noop})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	return &vmmpmSide{db: db, e: e, module: m.ID, tariff: t.ID}
}

// openStore opens the store at storeAddr. A store that cannot open PostgreSQL takes the address for
// a file name; the benchmark runs in a folder of its own so that file is found, and refused.
func openStore(b *testing.B) *store.DB {
	b.Helper()
	addr := storeAddr(b)
	b.Chdir(b.TempDir())
	db, err := store.Open(addr, store.Options{})
	if err != nil {
		b.Fatalf("store.Open on the %s store: %v (unset %s to run the vmmpm side on bbolt)", storeKind(), err, storeEnv)
	}
	b.Cleanup(func() { _ = db.Close() })
	if _, err := os.Stat(addr); err == nil && storeKind() == "postgres" {
		b.Fatalf("this vmmpm's store.Open made a bbolt file named after the PostgreSQL address instead of opening it; unset %s until the store opens postgres:// addresses", storeEnv)
	}
	return db
}

func save(b *testing.B, db *store.DB, records ...store.Record) {
	b.Helper()
	for _, r := range records {
		if err := db.Save(r); err != nil {
			b.Fatal(err)
		}
	}
}

// round enqueues jobs opens (untimed) and returns how long the engine takes to run them all; it
// fails unless every one ended done.
func (v *vmmpmSide) round(b *testing.B, jobs int) time.Duration {
	b.Helper()
	for left := jobs; left > 0; left -= queue.MaxCreate {
		if _, err := v.e.CreateServices(v.tariff, min(left, queue.MaxCreate), "bench@example.org"); err != nil {
			b.Fatal(err)
		}
	}
	before := v.e.Counts()[v.module].Done
	ctx, cancel := context.WithTimeout(context.Background(), roundDeadline)
	defer cancel()
	start := time.Now()
	if err := v.e.RunUntilIdle(ctx); err != nil {
		b.Fatalf("the engine stopped after %v: %v", time.Since(start), err)
	}
	elapsed := time.Since(start)
	if got := v.e.Counts()[v.module].Done - before; got != jobs {
		b.Fatalf("%d of %d vmmpm jobs ended done", got, jobs)
	}
	return elapsed
}
