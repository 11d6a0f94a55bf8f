// Package demo builds what `vmmpm --demo` runs on: a database (temporary unless a path is given), the
// VMmanager emulator in-process on loopback, and the seed records, with passwords held in memory so no
// keyring or D-Bus is needed. Tests use the same function.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"vmmpm/store"
	"vmmpm/ui/wizardform"
	"vmmpm/vmm/sim"
	"vmmpm/wizard"
)

// Options tune the demo; the zero value is what `vmmpm --demo` uses.
type Options struct {
	// DBPath keeps the database there; empty means a temporary file removed by Close.
	DBPath string
	// TaskTime is how long the emulator's tasks run (default 3 s, so the jobs pane visibly moves).
	TaskTime time.Duration
	// Faults adds a second module on a second emulator that is slow (longer tasks, added latency),
	// answers 500 to a share of its changes and 503 in bursts, so the lanes view has a slow lane and
	// a module that errs to show.
	Faults bool
}

// The flaky emulator of Options.Faults.
const (
	FlakyModuleName = "Demo KVM flaky"
	FlakyTariffName = "Demo VPS flaky"
	FlakyFailRate   = 0.5
	FlakyLatency    = 250 * time.Millisecond
	flakySlowdown   = 5 // its tasks take this many times TaskTime
)

// Env is a running demo.
type Env struct {
	DB      *store.DB
	Secrets store.Secrets
	Sim     *sim.Sim
	URL     string
	// Password is the emulator's admin password, for the wizard.
	Password string
	Tariff   uint64
	Module   uint64
	// Flaky is the emulator, module and tariff of Options.Faults (nil and 0 without).
	Flaky       *sim.Sim
	FlakyModule uint64
	FlakyTariff uint64

	srv, flakySrv *http.Server
	dir           string
	dc, dept      uint64 // the seeded data center and department
}

// Names of the seeded records.
const (
	DataCenter    = "Demo DC"
	SupportDept   = "Support"
	ProvisionDept = "Provisioning"
	ModuleName    = "Demo KVM"
	TariffName    = "Demo VPS"
	AdminEmail    = "admin@example.com"
	AdminPassword = "demo-password"
	ClientEmail   = "demo-client@example.com"
)

// Start opens the database, starts the emulator and seeds the records. Close undoes all of it.
func Start(opt Options) (_ *Env, err error) {
	if opt.TaskTime == 0 {
		opt.TaskTime = 3 * time.Second
	}
	e := &Env{Secrets: store.NewMemorySecrets(), Password: AdminPassword}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if err := e.openDB(opt.DBPath); err != nil {
		return nil, err
	}
	e.Sim, e.srv, e.URL, err = startSim(sim.Config{AdminEmail: AdminEmail, AdminPassword: AdminPassword, TaskTime: opt.TaskTime})
	if err != nil {
		return nil, err
	}
	if err := e.seed(); err != nil {
		return nil, fmt.Errorf("cannot seed the demo: %w", err)
	}
	if opt.Faults {
		if err := e.seedFlaky(opt.TaskTime); err != nil {
			return nil, fmt.Errorf("cannot seed the demo's flaky module: %w", err)
		}
	}
	return e, nil
}

func (e *Env) openDB(path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "vmmpm-demo-")
		if err != nil {
			return fmt.Errorf("cannot create a temporary folder for the demo database: %w", err)
		}
		e.dir, path = dir, filepath.Join(dir, "vmmpm.db")
	} else if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return fmt.Errorf("the demo needs a new database file, and %s already exists; give --db a new path or leave it out for a temporary one", path)
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	e.DB = db
	return nil
}

func startSim(cfg sim.Config) (*sim.Sim, *http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, "", fmt.Errorf("cannot listen on loopback for the emulator: %w", err)
	}
	s := sim.New(cfg)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return s, srv, "http://" + ln.Addr().String(), nil
}

// seed adds a data center, two departments, the KVM module (through the wizard's own check and save,
// queues on with two lanes) and a tariff.
func (e *Env) seed() error {
	dc := &store.DataCenter{Name: DataCenter}
	sup := &store.Department{Name: SupportDept}
	prov := &store.Department{Name: ProvisionDept}
	if err := e.DB.Update(func(tx *store.Tx) error {
		return errors.Join(tx.Put(dc), tx.Put(sup), tx.Put(prov))
	}); err != nil {
		return err
	}
	var err error
	e.dc, e.dept = dc.ID, sup.ID
	e.Module, e.Tariff, err = e.addModule(e.URL, ModuleName, TariffName, dc.ID, sup.ID)
	return err
}

// addModule adds a KVM module on the emulator at url (through the wizard's own check and save, queues
// on with two lanes) and a tariff served by it.
func (e *Env) addModule(url, name, tariff string, dc, dept uint64) (module, tariffID uint64, err error) {
	d := wizard.NewDraft()
	d.URL, d.Username = url, AdminEmail
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := wizard.CheckIntegration(ctx, d.Integration(), e.Password)
	if err != nil {
		return 0, 0, err
	}
	d.URL = res.URL
	d.ApplyCheck(res)
	if err := d.ChooseCluster(1); err != nil {
		return 0, 0, err
	}
	d.Name, d.DataCenterID, d.DepartmentID = name, dc, dept
	d.Params.Queue, d.Params.QueueCount = true, 2
	m, err := wizard.Save(e.DB, e.Secrets, d, e.Password)
	if err != nil {
		return 0, 0, err
	}
	m.LastCheck = &store.Check{At: time.Now().UTC(), OK: true, Message: "checked by the demo at start"}
	if err := e.DB.Save(m); err != nil {
		return 0, 0, err
	}
	t := &store.Tariff{Name: tariff, DataCenterID: dc, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024,
		DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "vps@ID@.demo.example"}
	if err := e.DB.Save(t); err != nil {
		return 0, 0, err
	}
	return m.ID, t.ID, nil
}

// seedFlaky starts the flaky emulator and adds its module and tariff; the 500s start once the module
// is saved, so the demo itself starts reliably.
func (e *Env) seedFlaky(taskTime time.Duration) error {
	var url string
	var err error
	e.Flaky, e.flakySrv, url, err = startSim(sim.Config{AdminEmail: AdminEmail, AdminPassword: AdminPassword,
		TaskTime: flakySlowdown * taskTime, Latency: FlakyLatency, SleepEvery: 40, SleepBurst: 4})
	if err != nil {
		return err
	}
	e.FlakyModule, e.FlakyTariff, err = e.addModule(url, FlakyModuleName, FlakyTariffName, e.dc, e.dept)
	if err == nil {
		e.Flaky.SetFailRate(FlakyFailRate)
	}
	return err
}

// Opener is the engine call that starts services: queue.Engine's CreateServices.
type Opener interface {
	CreateServices(tariffID uint64, count int, client string) ([]store.Service, error)
}

// OpenServices creates n services of the demo tariff (half of them on the flaky one with Faults) so the
// jobs pane is alive from the first frame.
func (e *Env) OpenServices(o Opener, n int) error {
	if e.FlakyTariff != 0 {
		if _, err := o.CreateServices(e.FlakyTariff, n/2, ClientEmail); err != nil {
			return err
		}
		n -= n / 2
	}
	_, err := o.CreateServices(e.Tariff, n, ClientEmail)
	return err
}

// Close stops the emulator, closes the database and removes it when it was temporary.
func (e *Env) Close() {
	for _, srv := range []*http.Server{e.srv, e.flakySrv} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
	}
	if e.DB != nil {
		_ = e.DB.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// Driver is the part of the engine the demo traffic uses.
type Driver interface {
	Opener
	Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error)
}

// Traffic keeps the demo alive until ctx ends: every interval it opens a service or reboots an active
// one, at most limit operations in all, so the jobs pane always has something moving.
func (e *Env) Traffic(ctx context.Context, d Driver, every time.Duration, limit int) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 0; n < limit; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n%3 == 2 {
			if id := e.activeService(n); id != 0 {
				_, _ = d.Enqueue(id, store.OpReboot, nil)
				continue
			}
		}
		tariff := e.Tariff
		if e.FlakyTariff != 0 && n%2 == 1 {
			tariff = e.FlakyTariff
		}
		_, _ = d.CreateServices(tariff, 1+n%2, ClientEmail)
	}
}

// activeService picks an active service, rotating with n.
func (e *Env) activeService(n int) uint64 {
	var ids []uint64
	_ = e.DB.View(func(tx *store.Tx) error {
		return store.Each(tx, func(s *store.Service) bool {
			if s.Status == store.ServiceActive {
				ids = append(ids, s.ID)
			}
			return true
		})
	})
	if len(ids) == 0 {
		return 0
	}
	return ids[n%len(ids)]
}

// WizardPrefill points the Add wizard at the demo's emulator, so adding the LXD module takes a password.
func (e *Env) WizardPrefill() wizardform.Prefill {
	return wizardform.Prefill{URL: e.URL, Username: AdminEmail,
		Note: "Demo: the built-in emulator is filled in; its administrator password is " + e.Password + "."}
}
