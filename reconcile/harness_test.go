package reconcile

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// fixture is a real database file, the emulator behind real loopback HTTP, one module on its cluster
// 1 with a tariff, and the real engine running VMmanager operations.
type fixture struct {
	t       testing.TB
	db      *store.DB
	secrets store.Secrets
	sim     *sim.Sim
	url     string
	module  *store.Module
	tariff  *store.Tariff
	engine  *queue.Engine
}

func newFixture(t testing.TB, cfg sim.Config) *fixture {
	t.Helper()
	s := sim.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, sim: s, url: srv.URL, secrets: store.NewMemorySecrets()}
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f.db = db
	dc := &store.DataCenter{Name: "dc1"}
	dept := &store.Department{Name: "Technical support"}
	f.must(db.Save(dc), db.Save(dept))
	f.module = &store.Module{Name: "vmm-a", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: f.url,
		Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID,
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}, Enabled: true, Params: store.DefaultParams()}
	f.must(db.Save(f.module), f.secrets.Set(f.module.ID, "demo-password"))
	f.tariff = &store.Tariff{Name: "vps-s", DataCenterID: dc.ID, ModuleIDs: []uint64{f.module.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	f.must(db.Save(f.tariff))
	f.restart()
	return f
}

// restart closes the engine (if any) and opens a new one on the same database, as a restarted process
// would: a job left running is resumed by its next Run.
func (f *fixture) restart() {
	f.t.Helper()
	if f.engine != nil {
		f.must(f.engine.Close())
	}
	e, err := queue.New(f.db, f.secrets, queue.Options{BackoffBase: time.Millisecond, PollEvery: 5 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = e.Close() })
	f.engine = e
}

func (f *fixture) must(errs ...error) {
	f.t.Helper()
	for _, err := range errs {
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// idle runs the engine until nothing is left to do.
func (f *fixture) idle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.engine.RunUntilIdle(ctx); err != nil {
		f.t.Fatal(err)
	}
	if ctx.Err() != nil {
		f.t.Fatal("the engine was not idle within 2 minutes")
	}
}

// open orders n services for client and runs their opens; it returns them as recorded afterwards.
func (f *fixture) open(n int, client string) []*store.Service {
	f.t.Helper()
	svcs, err := f.engine.CreateServices(f.tariff.ID, n, client)
	f.must(err)
	f.idle()
	out := make([]*store.Service, len(svcs))
	for i, s := range svcs {
		out[i] = f.service(s.ID)
		if out[i].Status != store.ServiceActive || out[i].VM.HostID == 0 {
			f.t.Fatalf("service %d after open: %s, VM %d", s.ID, out[i].Status, out[i].VM.HostID)
		}
	}
	return out
}

func (f *fixture) service(id uint64) *store.Service {
	f.t.Helper()
	s, err := store.Load[store.Service](f.db, id)
	f.must(err)
	return s
}

func (f *fixture) scanner() *Scanner {
	return &Scanner{DB: f.db, Secrets: f.secrets, Busy: f.engine.BusyServices}
}

func (f *fixture) scan() *Report {
	f.t.Helper()
	rep, _, err := f.scanner().ScanAndRecord(context.Background(), Query{}, nil, false)
	f.must(err)
	for _, m := range rep.Modules {
		if m.Failed() {
			f.t.Fatalf("module %d: %s %v", m.ModuleID, m.Error, m.Unreadable)
		}
	}
	return rep
}

func (f *fixture) act(a Action) *Acted {
	f.t.Helper()
	if a.Module == 0 {
		a.Module = f.module.ID
	}
	out, err := f.scanner().Act(context.Background(), a, f.engine.As("uid 0 (test)"), "uid 0 (test)")
	f.must(err)
	return out
}

// changes counts the requests that could change VMmanager: every POST and DELETE but the login.
func (f *fixture) changes() int {
	n := 0
	for k, v := range f.sim.Stats().Requests {
		if (strings.HasPrefix(k, "POST ") || strings.HasPrefix(k, "DELETE ")) && k != "POST /auth/v4/public/token" {
			n += v
		}
	}
	return n
}

// vmmClient is an admin client of the emulator, to stage drift through the VMmanager API itself.
func (f *fixture) vmmClient() *vmm.Client {
	f.t.Helper()
	c, err := vmm.New(vmm.Config{URL: f.url, Email: "admin@example.com", Password: "demo-password", SessionTTL: time.Hour})
	f.must(err)
	return c
}

// got is each finding as "class service/vm", sorted, for comparing with what was staged.
func got(rep *Report) []string {
	out := make([]string, 0, len(rep.Findings))
	for _, fd := range rep.Findings {
		out = append(out, fmt.Sprintf("%s %d/%d", fd.Class, fd.ServiceID, fd.VMID))
	}
	sort.Strings(out)
	return out
}

func want(items ...string) []string {
	out := slices.Clone(items)
	sort.Strings(out)
	return out
}
