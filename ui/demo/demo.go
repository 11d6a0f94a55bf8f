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
}

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

	srv *http.Server
	dir string
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
	if err := e.startSim(opt.TaskTime); err != nil {
		return nil, err
	}
	if err := e.seed(); err != nil {
		return nil, fmt.Errorf("cannot seed the demo: %w", err)
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

func (e *Env) startSim(taskTime time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("cannot listen on loopback for the emulator: %w", err)
	}
	e.Sim = sim.New(sim.Config{AdminEmail: AdminEmail, AdminPassword: AdminPassword, TaskTime: taskTime})
	e.srv = &http.Server{Handler: e.Sim, ReadHeaderTimeout: 10 * time.Second}
	e.URL = "http://" + ln.Addr().String()
	go func() { _ = e.srv.Serve(ln) }()
	return nil
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
	d := wizard.NewDraft()
	d.URL, d.Username = e.URL, AdminEmail
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := wizard.CheckIntegration(ctx, d.Integration(), e.Password)
	if err != nil {
		return err
	}
	d.URL = res.URL
	d.ApplyCheck(res)
	if err := d.ChooseCluster(1); err != nil {
		return err
	}
	d.Name, d.DataCenterID, d.DepartmentID = ModuleName, dc.ID, sup.ID
	d.Params.Queue, d.Params.QueueCount = true, 2
	m, err := wizard.Save(e.DB, e.Secrets, d, e.Password)
	if err != nil {
		return err
	}
	e.Module = m.ID
	m.LastCheck = &store.Check{At: time.Now().UTC(), OK: true, Message: "checked by the demo at start"}
	if err := e.DB.Save(m); err != nil {
		return err
	}
	t := &store.Tariff{Name: TariffName, DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024,
		DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "vps@ID@.demo.example"}
	if err := e.DB.Save(t); err != nil {
		return err
	}
	e.Tariff = t.ID
	return nil
}

// Opener is the engine call that starts services: queue.Engine's CreateServices.
type Opener interface {
	CreateServices(tariffID uint64, count int, client string) ([]store.Service, error)
}

// OpenServices creates n services of the demo tariff so the jobs pane is alive from the first frame.
func (e *Env) OpenServices(o Opener, n int) error {
	_, err := o.CreateServices(e.Tariff, n, ClientEmail)
	return err
}

// Close stops the emulator, closes the database and removes it when it was temporary.
func (e *Env) Close() {
	if e.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = e.srv.Shutdown(ctx)
		cancel()
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
		_, _ = d.CreateServices(e.Tariff, 1+n%2, ClientEmail)
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
