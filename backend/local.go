package backend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vmmpm/queue"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/webhook"
	"vmmpm/wizard"
)

// CheckTimeout bounds a connection check (module check, module password).
var CheckTimeout = 30 * time.Second

// Local is the Backend of the process that holds the database. With Engine nil it makes a stopped
// engine on first need (enqueueing and reading pages need its index); whoever runs an engine passes it.
type Local struct {
	DB      *store.DB
	Secrets store.Secrets
	Version string
	// Mode is ModeEngine when Engine runs in this process, else ModeDirect.
	Mode string
	// OwnsDB: Close closes the database too.
	OwnsDB bool

	mu      sync.Mutex
	engine  *queue.Engine
	ownsEng bool
	started time.Time
	// collector follows the engine running here (nil otherwise); stopStats ends it (stats.go).
	collector *stats.Collector
	stopStats func()

	// Via is how a call without a caller in its context came (default ViaProcess; the TUI sets ViaTUI),
	// for the audit trail.
	Via string
	// the HTTPS API's state (api.go): the audit trail's writer, per-key locks, the deliverer running here
	trail    *auditWriter
	keyMu    sync.Mutex
	keyLocks map[string]*keyLock
	touching atomic.Bool
	hooks    *webhook.Deliverer
	// backups is serve's backup schedule's state (backup.go).
	backups backupState
}

// NewLocal wraps db and secrets; eng may be nil (see Local).
func NewLocal(db *store.DB, secrets store.Secrets, eng *queue.Engine, version string) *Local {
	mode := ModeDirect
	if eng != nil {
		mode = ModeEngine
	}
	l := &Local{DB: db, Secrets: sharedSecrets(db, secrets), Version: version, Mode: mode, engine: eng, started: time.Now()}
	if eng != nil {
		l.startStats(eng)
	}
	return l
}

// Engine returns the engine, making a stopped one if none was given.
func (l *Local) Engine() (*queue.Engine, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine == nil {
		e, err := queue.New(l.DB, l.Secrets, queue.Options{OnCommit: webhook.Hook(nil)})
		if err != nil {
			return nil, err
		}
		l.engine, l.ownsEng = e, true
	}
	return l.engine, nil
}

// Close closes an engine Local made itself, and the database when it owns it.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopStats != nil {
		l.stopStats()
		l.stopStats = nil
	}
	var err error
	if l.ownsEng {
		err = l.engine.Close()
		l.engine, l.ownsEng = nil, false
	}
	if l.OwnsDB {
		err = errors.Join(err, l.DB.Close())
		l.OwnsDB = false
	}
	return err
}

func (l *Local) Info(context.Context) (Info, error) {
	return Info{Mode: l.Mode, Version: l.Version, PID: os.Getpid(), DB: l.DB.Path(), Started: l.started,
		Secrets: l.Secrets.Describe()}, nil
}

func (l *Local) Status(ctx context.Context) (*Status, error) {
	info, _ := l.Info(ctx)
	st := &Status{Info: info, Jobs: map[string]int{}}
	var e *queue.Engine
	var pauses map[uint64]queue.ModulePause
	if reason := l.DB.ReadOnlyReason(); reason != "" { // an engine cannot open it: read what is stored
		counts, err := queue.StoredCounts(l.DB)
		if err != nil {
			return nil, err
		}
		st.Counts = counts
		if pauses, err = queue.StoredPauses(l.DB); err != nil {
			return nil, err
		}
	} else {
		var err error
		if e, err = l.Engine(); err != nil {
			return nil, err
		}
		st.Counts = e.Counts()
		pauses = e.Pauses()
		if l.Mode == ModeEngine {
			st.Engine = e.Status()
		}
	}
	for _, c := range st.Counts {
		for state, n := range map[string]int{store.JobQueued: c.Queued, store.JobRunning: c.Running,
			store.JobRetrying: c.Retrying, store.JobFailed: c.Failed, store.JobDone: c.Done, store.JobCancelled: c.Cancelled} {
			st.Jobs[state] += n
		}
	}
	if err := store.CheckSecrets(l.Secrets); err != nil {
		st.Keyring = err.Error()
	} else if st.WebhooksLacking, err = l.webhooksLacking(); err != nil {
		return nil, err
	}
	st.Engines = sharedEngines(l.DB)
	err := l.DB.View(func(tx *store.Tx) error {
		q, err := store.QuarantinedRecords(tx)
		st.Quarantined = len(q)
		return err
	})
	if err != nil {
		return nil, err
	}
	if st.ReconcileLooks, err = lookedFor(l.DB); err != nil {
		return nil, err
	}
	mods, err := store.All[store.Module](l.DB)
	if err != nil {
		return nil, err
	}
	scans, err := reconcile.LastScans(l.DB)
	if err != nil {
		return nil, err
	}
	var snap *stats.Snapshot
	if e != nil {
		if snap, _, err = l.snapshot(e); err != nil {
			return nil, err
		}
	}
	for i, m := range mods {
		h := ModuleHealth{ID: m.ID, Name: m.Name, Enabled: m.Enabled, LastCheck: m.LastCheck,
			Health: "not known: the database is opened read-only, so no engine could look"}
		if snap != nil && i < len(snap.Modules) && snap.Modules[i].ID == m.ID {
			h.Healthy, h.Health = snap.Modules[i].Verdict()
			h.Logins = snap.Modules[i].Logins
		}
		for i := range scans {
			if scans[i].ModuleID == m.ID {
				h.Reconcile = &scans[i]
			}
		}
		if p, ok := pauses[m.ID]; ok {
			h.Paused = &p
		}
		st.Modules = append(st.Modules, h)
	}
	st.Backups = l.backups.status()
	return st, nil
}

func (l *Local) List(_ context.Context, kind string, out any) error {
	k, ok := kinds[kind]
	if !ok {
		return unknownKind(kind)
	}
	return k.list(l.DB, out)
}

func (l *Local) Listing(ctx context.Context, kind string, out any) (*Names, error) {
	if err := l.List(ctx, kind, out); err != nil {
		return nil, err
	}
	return loadNames(l.DB)
}

// loadNames reads the names of every record a listing may refer to, in one transaction.
func loadNames(db *store.DB) (*Names, error) {
	n := &Names{DataCenters: map[uint64]string{}, Departments: map[uint64]string{}, Modules: map[uint64]string{},
		Tariffs: map[uint64]string{}}
	err := db.View(func(tx *store.Tx) error {
		return errors.Join(
			store.Each(tx, func(r *store.DataCenter) bool { n.DataCenters[r.ID] = r.Name; return true }),
			store.Each(tx, func(r *store.Department) bool { n.Departments[r.ID] = r.Name; return true }),
			store.Each(tx, func(r *store.Module) bool { n.Modules[r.ID] = r.Name; return true }),
			store.Each(tx, func(r *store.Tariff) bool { n.Tariffs[r.ID] = r.Name; return true }))
	})
	return n, err
}

func (l *Local) Get(_ context.Context, kind string, id uint64, out any) error {
	k, ok := kinds[kind]
	if !ok {
		return unknownKind(kind)
	}
	return k.get(l.DB, id, out)
}

func (l *Local) Save(ctx context.Context, r store.Record) (warnings []string, err error) {
	defer func() { l.audit(ctx, kindName(r)+".save", recordTarget(r), err) }()
	if t, ok := r.(*store.Tariff); ok { // checked against its modules' VMmanager, outside a transaction
		return wizard.SaveTariff(ctx, l.DB, l.Secrets, t)
	}
	err = l.DB.Update(func(tx *store.Tx) (err error) {
		switch r := r.(type) {
		case *store.DataCenter:
			return store.SaveDataCenter(tx, r)
		case *store.Department:
			return store.SaveDepartment(tx, r)
		}
		return fmt.Errorf("%T cannot be saved this way", r)
	})
	return warnings, err
}

func (l *Local) Delete(ctx context.Context, kind string, id uint64) (warnings []string, err error) {
	defer func() { l.audit(ctx, singular(kind)+".delete", fmt.Sprintf("%s %d", singular(kind), id), err) }()
	var del func(*store.Tx, uint64) error
	switch kind {
	case KindOf[store.Module]():
		return wizard.RemoveModule(l.DB, l.Secrets, id)
	case KindOf[store.DataCenter]():
		del = store.DeleteDataCenter
	case KindOf[store.Department]():
		del = store.DeleteDepartment
	case KindOf[store.Tariff]():
		del = store.DeleteTariff
	default:
		return nil, unknownKind(kind)
	}
	return nil, l.DB.Update(func(tx *store.Tx) error { return del(tx, id) })
}

func (l *Local) CloseTasks(ctx context.Context, ids []uint64) (err error) {
	defer func() { l.audit(ctx, "task.close", "task "+idList(ids), err) }()
	now := time.Now()
	return l.DB.Update(func(tx *store.Tx) error {
		for _, id := range ids {
			if err := store.CloseTask(tx, id, now); err != nil {
				return &RecordError{Kind: KindOf[store.Task](), ID: id, Err: err}
			}
		}
		return nil
	})
}

func (l *Local) Catalog(context.Context) (*wizard.Catalog, error) { return wizard.LoadCatalog(l.DB) }

func (l *Local) CheckIntegration(ctx context.Context, in wizard.Integration, password string, stored uint64) (*wizard.CheckResult, error) {
	if password == "" && stored != 0 {
		var err error
		if password, err = l.Secrets.Get(stored); err != nil {
			return nil, err
		}
	}
	return wizard.CheckIntegration(ctx, in, password)
}

func (l *Local) CheckPlacement(_ context.Context, d *wizard.Draft) error {
	return wizard.CheckPlacement(l.DB, d)
}

func (l *Local) AddPlacement(ctx context.Context, dataCenter, department string) (_ *Placement, err error) {
	defer func() { l.audit(ctx, "placement.add", strings.Trim(dataCenter+", "+department, ", "), err) }()
	dc, dept, cat, err := wizard.AddPlacement(l.DB, dataCenter, department)
	if err != nil {
		return nil, err
	}
	return &Placement{DataCenterID: dc, DepartmentID: dept, Catalog: cat}, nil
}

func (l *Local) SaveModule(ctx context.Context, d *wizard.Draft, password string) (m *store.Module, err error) {
	defer func() { l.audit(ctx, "module.save", moduleTarget(d, m), err) }()
	if d.ID == 0 {
		return wizard.Save(l.DB, l.Secrets, d, password)
	}
	return wizard.Update(l.DB, l.Secrets, d, password)
}

func (l *Local) SetModule(ctx context.Context, id uint64, ch *wizard.ModuleChanges) (_ *store.Module, _ []string, err error) {
	defer func() { l.audit(ctx, "module.set", fmt.Sprintf("module %d: %s", id, changedKeys(ch)), err) }()
	return wizard.EditModule(ctx, l.DB, l.Secrets, id, ch)
}

func (l *Local) ModuleImages(ctx context.Context, id uint64) (*wizard.Images, error) {
	m, err := store.Load[store.Module](l.DB, id)
	if err != nil {
		return nil, err
	}
	return wizard.ModuleImages(ctx, l.Secrets, m)
}

func (l *Local) CheckModule(ctx context.Context, id uint64) (_ *store.Check, err error) {
	defer func() { l.audit(ctx, "module.check", fmt.Sprintf("module %d", id), err) }()
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	return wizard.CheckStored(ctx, l.DB, l.Secrets, id)
}

func (l *Local) DeepCheck(ctx context.Context, id uint64, o DeepOptions) (_ *vmm.Report, err error) {
	defer func() { l.audit(ctx, "module.deep_check", fmt.Sprintf("module %d", id), err) }()
	return wizard.DeepCheckStored(ctx, l.DB, l.Secrets, id, o.Write)
}

func (l *Local) SetPassword(ctx context.Context, id uint64, password string) (err error) {
	defer func() { l.audit(ctx, "module.password", fmt.Sprintf("module %d", id), err) }()
	if err := wizard.ValidatePassword(password); err != nil {
		return err
	}
	m, err := store.Load[store.Module](l.DB, id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	if _, err := wizard.CheckModule(ctx, m, password); err != nil {
		return err
	}
	return l.Secrets.Set(id, password)
}

func (l *Local) Jobs(_ context.Context, q JobQuery) (*JobList, error) {
	var rows []*store.Job
	err := l.DB.View(func(tx *store.Tx) error {
		if err := store.Each(tx, func(j *store.Job) bool {
			if q.Match(j) {
				rows = append(rows, j)
			}
			return true
		}); err != nil {
			return err
		}
		if q.Limit > 0 && len(rows) > q.Limit {
			rows = rows[len(rows)-q.Limit:]
		}
		if q.Module != 0 && len(rows) == 0 { // an empty list must not hide a mistyped module id
			if _, err := store.Get[store.Module](tx, q.Module); err != nil {
				return &store.ValidationError{Field: store.FieldRecord,
					Rule: fmt.Sprintf("module %d does not exist and no job ran on it; see vmmpm module list", q.Module)}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	names, err := loadNames(l.DB)
	return &JobList{Jobs: rows, Names: names}, err
}

func (l *Local) Enqueue(ctx context.Context, serviceID uint64, op string, args map[string]string) (_ *store.Job, err error) {
	defer func() { l.audit(ctx, "service."+op, fmt.Sprintf("service %d", serviceID), err) }()
	e, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	return e.Enqueue(serviceID, op, args)
}

// CreateServices orders count services of tariff, given by id or name, for client.
func (l *Local) CreateServices(ctx context.Context, tariff string, count int, client string) (o *Ordered, err error) {
	defer func() { l.audit(ctx, "service.create", orderTarget(tariff, o), err) }()
	e, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, err := findTariff(l.DB, tariff)
	if err != nil {
		return nil, err
	}
	svcs, err := e.CreateServices(t.ID, count, client)
	if err != nil {
		return nil, err
	}
	return &Ordered{Tariff: t, Services: svcs}, nil
}

// findTariff is the tariff arg names: its id, or its name in any case.
func findTariff(db *store.DB, arg string) (*store.Tariff, error) {
	ts, err := store.All[store.Tariff](db)
	if err != nil {
		return nil, err
	}
	id, _ := strconv.ParseUint(arg, 10, 64)
	for _, t := range ts {
		if id != 0 && t.ID == id || strings.EqualFold(t.Name, arg) {
			return t, nil
		}
	}
	return nil, &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("tariff %q does not exist; see vmmpm tariff list", arg)}
}

func (l *Local) Cancel(ctx context.Context, id uint64) (err error) {
	defer func() { l.audit(ctx, "job.cancel", fmt.Sprintf("job %d", id), err) }()
	e, err := l.actor(ctx)
	if err != nil {
		return err
	}
	return e.Cancel(id)
}

func (l *Local) Retry(ctx context.Context, id uint64) (err error) {
	defer func() { l.audit(ctx, "job.retry", fmt.Sprintf("job %d", id), err) }()
	e, err := l.actor(ctx)
	if err != nil {
		return err
	}
	return e.Retry(id)
}

// actor is the engine acting for the call's caller, so its jobs and log lines say who asked.
func (l *Local) actor(ctx context.Context) (queue.Actor, error) {
	e, err := l.Engine()
	if err != nil {
		return queue.Actor{}, err
	}
	return e.As(CallerOf(ctx).String()), nil
}

// Events streams the engine's events. In this process nothing is kept to resume from: since only
// decides whether the first event says Reset.
func (l *Local) Events(ctx context.Context, since uint64, _ bool) (<-chan Event, error) {
	e, err := l.Engine()
	if err != nil {
		return nil, err
	}
	in, unsubscribe := e.Subscribe(4096)
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		defer unsubscribe()
		last := since
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-in:
				if !ok {
					return
				}
				out2 := Event{Event: ev, Reset: last != 0 && ev.Seq != last+1}
				last = ev.Seq
				select {
				case out <- out2:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// RecordError is a refusal about one record of a batch (which task could not be closed).
type RecordError struct {
	Kind string `json:"kind"`
	ID   uint64 `json:"id"`
	Err  error  `json:"-"`
}

func (e *RecordError) Error() string { return e.Err.Error() }
func (e *RecordError) Unwrap() error { return e.Err }

func unknownKind(kind string) error {
	return &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("%q is not a kind of record vmmpm keeps", kind)}
}

var _ Backend = (*Local)(nil)

// lookedFor counts the services flagged for a reconcile look (a look naming no service counts alone).
func lookedFor(db *store.DB) (int, error) {
	looks, err := queue.Looks(db)
	services := map[uint64]bool{}
	n := 0
	for _, lk := range looks {
		if lk.ServiceID == 0 || !services[lk.ServiceID] {
			n++
		}
		services[lk.ServiceID] = true
	}
	return n, err
}
