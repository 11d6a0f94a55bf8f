package common

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/wizard"
)

// Data is what screens read and act on. Every read and action goes through the backend, the same
// interface the commands use: in this process (engine inside) or over a `vmmpm serve` socket
// (attached); screens never know which.
type Data struct {
	// primary is the backend the TUI was started on; Backend is what screens read now (a fallback
	// while the primary stood down).
	primary backend.Backend
	// Fallback, when set, makes the backend to read while the primary is out of reach (cli supplies
	// one only for a shared database); an error means there is none now, and it is asked again later.
	Fallback func(context.Context) (backend.Backend, error)
	// Engine is the backend seen as the jobs pane's engine.
	Engine Engine
	// Secrets is this process's password store when the database is held here (the keyring probe at
	// start); nil when attached, where the server's keyring is what counts.
	Secrets store.Secrets
	// info says who answers (mode, pid, database, where passwords live); read it with Link.
	info backend.Info

	// version counts changes (engine events, saves); screens reload on a tick when it moved.
	version atomic.Uint64
	conn    conn
}

// NewData wraps b; secrets is set only when the database is held in this process.
func NewData(b backend.Backend, secrets store.Secrets) *Data {
	d := &Data{primary: b, Secrets: secrets}
	d.Engine = engineOf{d}
	d.info, _ = b.Info(context.Background())
	return d
}

// Version is the change counter; Bump advances it. Many bumps between two ticks cost one reload.
func (d *Data) Version() uint64 { return d.version.Load() }
func (d *Data) Bump()           { d.version.Add(1) }

// CheckTimeout bounds the connection test of `t`.
var CheckTimeout = 30 * time.Second

// ReadTimeout bounds a screen's read, so a stuck server cannot hang a screen forever.
var ReadTimeout = 15 * time.Second

func bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), ReadTimeout)
}

// All lists every record of kind T.
func All[T any, P interface {
	*T
	store.Record
}](d *Data) ([]P, error) {
	ctx, cancel := bg()
	defer cancel()
	return backend.All[T, P](ctx, d.Backend())
}

// Load reads one record of kind T.
func Load[T any, P interface {
	*T
	store.Record
}](d *Data, id uint64) (P, error) {
	ctx, cancel := bg()
	defer cancel()
	return backend.Load[T, P](ctx, d.Backend(), id)
}

// CheckModule is `module check`: log in with the stored password, require @admin, confirm the cluster
// is still listed, and record the result.
func (d *Data) CheckModule(id uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	_, err := d.Backend().CheckModule(ctx, id)
	return err
}

// DeepCheck is `module check --deep`: the read-only deep check with the stored password, its outcome
// kept with the module; the verdict is one sentence, and an error when a probe differed.
func (d *Data) DeepCheck(id uint64) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*CheckTimeout)
	defer cancel()
	defer d.Bump()
	rep, err := d.Backend().DeepCheck(ctx, id, backend.DeepOptions{})
	if err != nil {
		return "", err
	}
	if differs := rep.Differs(); len(differs) > 0 {
		return "", fmt.Errorf("module %d: VMmanager answers differently from what vmmpm relies on in %d of %d probes (%s); "+
			"run vmmpm module check %d --deep for the table", id, len(differs), len(rep.Probes), strings.Join(differs, ", "), id)
	}
	if in := rep.Inconclusive(); len(in) > 0 {
		return fmt.Sprintf("module %d: deep check found no mismatch, but %d of %d probes had nothing to compare (%s); "+
			"run vmmpm module check %d --deep --write against a staging VMmanager to prove them",
			id, len(in), len(rep.Probes), strings.Join(in, ", "), id), nil
	}
	return fmt.Sprintf("module %d: deep check passed, all %d probes answer as vmmpm expects", id, len(rep.Probes)), nil
}

// DeleteModule is `module rm`: the module and its password together, refused while it has unfinished
// operations; the warnings name tariffs that still list it.
func (d *Data) DeleteModule(id uint64) (warnings []string, err error) {
	return d.delete(backend.KindOf[store.Module](), id)
}

// SetModule is `module set`: typed changes applied with the wizard's rules, logging in to VMmanager
// first when a live setting (URL, username, TLS, cluster) changed.
func (d *Data) SetModule(id uint64, ch *wizard.ModuleChanges) (warnings []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	_, warnings, err = d.Backend().SetModule(ctx, id, ch)
	return warnings, err
}

// CloseTask is `tasks close`.
func (d *Data) CloseTask(id uint64) error {
	ctx, cancel := bg()
	defer cancel()
	defer d.Bump()
	return d.Backend().CloseTasks(ctx, []uint64{id})
}

// SaveCatalog is `datacenter add/edit` or `department add/edit`, by the record's kind.
func (d *Data) SaveCatalog(r store.Record) error {
	_, err := d.save(r)
	return err
}

// DeleteCatalog is `datacenter rm` or `department rm`, by the record's kind.
func (d *Data) DeleteCatalog(r store.Record) error {
	_, err := d.delete(string(r.Bucket()), r.GetID())
	return err
}

// SaveTariff is `tariff add/edit`, OS and recipe checked against its modules' VMmanager; its warnings
// come back as one line.
func (d *Data) SaveTariff(t *store.Tariff) (warning string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	defer d.Bump()
	warnings, err := d.Backend().Save(ctx, t)
	return strings.Join(warnings, "; "), err
}

// ModuleImages lists what module id's VMmanager offers a tariff (OS images for its cluster, recipes),
// for the tariff form's pick lists.
func (d *Data) ModuleImages(id uint64) (*wizard.Images, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
	defer cancel()
	return d.Backend().ModuleImages(ctx, id)
}

// DeleteTariff is `tariff rm`.
func (d *Data) DeleteTariff(id uint64) error {
	_, err := d.delete(backend.KindOf[store.Tariff](), id)
	return err
}

func (d *Data) save(r store.Record) ([]string, error) {
	ctx, cancel := bg()
	defer cancel()
	defer d.Bump()
	return d.Backend().Save(ctx, r)
}

func (d *Data) delete(kind string, id uint64) ([]string, error) {
	ctx, cancel := bg()
	defer cancel()
	defer d.Bump()
	return d.Backend().Delete(ctx, kind, id)
}

// CreateServices enqueues `open` for count new services of a tariff (service create).
func (d *Data) CreateServices(tariffID uint64, count int, client string) ([]uint64, error) {
	defer d.Bump()
	svcs, err := d.Engine.CreateServices(tariffID, count, client)
	ids := make([]uint64, len(svcs))
	for i := range svcs {
		ids[i] = svcs[i].ID
	}
	return ids, err
}

// Enqueue runs an operation on a service through the engine (service OP).
func (d *Data) Enqueue(serviceID uint64, op string, args map[string]string) (uint64, error) {
	defer d.Bump()
	j, err := d.Engine.Enqueue(serviceID, op, args)
	if err != nil {
		return 0, err
	}
	return j.ID, nil
}

// conn is the link to a server: when it broke and why ("" while up), and the engine's own state;
// while the server stood down, the fallback read instead.
type conn struct {
	mu     sync.Mutex
	silent bool
	down   string
	since  time.Time
	engine queue.Status
	// fallback is what screens read while the primary stood down (nil: the primary); gone is the
	// primary as it was last heard, and since when it is out of reach.
	fallback  backend.Backend
	gone      backend.Info
	goneSince time.Time
	// tried is when Fallback was last asked; swaps counts changes of the backend read.
	tried time.Time
	swaps uint64
	// opening: the fallback is the one the TUI started on (StartOn), with no stand-down to tell of.
	opening bool
}

// FallbackAfter is how long the primary stays out of reach before a fallback is looked for: longer
// than a serve's restart or a handover between hosts (about a second), so those show as a brief
// "reattaching…", and short enough that a host standing down is not a dead screen. It is also how
// often Fallback is asked while it finds none.
var FallbackAfter = 3 * time.Second

// Backend is what screens read and act on now: the primary, or the fallback while it stood down.
func (d *Data) Backend() backend.Backend {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.current()
}

// current is Backend with conn.mu held.
func (d *Data) current() backend.Backend {
	if d.conn.fallback != nil {
		return d.conn.fallback
	}
	return d.primary
}

// StartOn makes b what screens read from the start, while the primary does not answer yet: a TUI
// opened on a standby host reads the database until that host's serve, which opens its socket only
// once it runs the engine, answers. b is then closed like a fallback.
func (d *Data) StartOn(b backend.Backend) {
	d.conn.mu.Lock()
	d.conn.fallback, d.conn.opening = b, true
	d.conn.mu.Unlock()
	d.ReadLink()
}

// Reading is the fallback read now, nil while the primary is.
func (d *Data) Reading() backend.Backend {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.conn.fallback
}

// Primary is the backend the TUI was started on, whatever is read now.
func (d *Data) Primary() backend.Backend { return d.primary }

// Swaps counts the changes of the backend read (to the fallback and back): each makes every
// screen's picture old.
func (d *Data) Swaps() uint64 {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.conn.swaps
}

// SetEngine records the engine's state from an EngineStatus event.
func (d *Data) SetEngine(st queue.Status) {
	d.conn.mu.Lock()
	d.conn.engine = st
	d.conn.mu.Unlock()
}

// EngineState is the engine's state as last heard (paused, waiting for the keyring, or running).
func (d *Data) EngineState() queue.Status {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.conn.engine
}

// SetDown records that the primary cannot be reached (the server stopped, or answers nothing), once:
// since is when it went quiet. While the fallback is read, it is known already.
func (d *Data) SetDown(err error) {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	if d.conn.down != "" || d.conn.fallback != nil {
		return
	}
	d.conn.down, d.conn.since = err.Error(), time.Now()
	var se *backend.SilentError
	if d.conn.silent = errors.As(err, &se); d.conn.silent {
		d.conn.since = d.conn.since.Add(-se.For)
	}
}

// Silent reports whether the link is down because the server answers nothing (rather than gone).
func (d *Data) Silent() bool {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.conn.down != "" && d.conn.silent
}

// SetUp records that the primary answers again; it reports whether it had been down (or stood down),
// and then reads who answers now (a restarted server has a new pid). A fallback is closed.
func (d *Data) SetUp() bool {
	d.conn.mu.Lock()
	was := d.conn.down != "" || d.conn.fallback != nil
	d.conn.down = ""
	d.conn.mu.Unlock()
	d.CloseFallback()
	d.ReadLink()
	return was
}

// ReadLink reads again who answers (the fallback names the engine it reads, which may move).
func (d *Data) ReadLink() {
	b := d.Backend()
	ctx, cancel := bg()
	defer cancel()
	if st, err := b.Status(ctx); err == nil {
		d.conn.mu.Lock()
		if d.current() == b { // not swapped meanwhile
			d.info, d.conn.engine = st.Info, st.Engine
		}
		d.conn.mu.Unlock()
	}
}

// TryFallback makes the fallback once the primary has been out of reach for FallbackAfter, asking
// Fallback at most once per FallbackAfter; it returns the fallback it started reading, else nil.
func (d *Data) TryFallback(ctx context.Context, now time.Time) backend.Backend {
	if !d.fallbackDue(now) {
		return nil
	}
	b, err := d.Fallback(ctx)
	if err != nil {
		return nil
	}
	d.conn.mu.Lock()
	d.conn.gone, d.conn.goneSince = d.info, d.conn.since
	d.conn.fallback, d.conn.down, d.conn.opening = b, "", false
	d.conn.swaps++
	d.conn.mu.Unlock()
	d.ReadLink()
	return b
}

// fallbackDue says whether Fallback is to be asked now, and if so records that it was.
func (d *Data) fallbackDue(now time.Time) bool {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	c := &d.conn
	if d.Fallback == nil || c.fallback != nil || c.down == "" || now.Sub(c.since) < FallbackAfter || now.Sub(c.tried) < FallbackAfter {
		return false
	}
	c.tried = now
	return true
}

// StoodDown is the primary as it was last heard and since when it is out of reach, while the
// fallback is read (ok false otherwise).
func (d *Data) StoodDown() (gone backend.Info, since time.Time, ok bool) {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.conn.gone, d.conn.goneSince, d.conn.fallback != nil && !d.conn.opening
}

// CloseFallback closes the fallback, if any (the primary answers again, or the TUI ends): the screens
// read the primary again.
func (d *Data) CloseFallback() {
	d.conn.mu.Lock()
	old := d.conn.fallback
	d.conn.fallback, d.conn.opening = nil, false
	if old != nil {
		d.conn.swaps++
	}
	d.conn.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

// Link says who answers and, when the link is down, since when and why.
func (d *Data) Link() (info backend.Info, down string, since time.Time) {
	d.conn.mu.Lock()
	defer d.conn.mu.Unlock()
	return d.info, d.conn.down, d.conn.since
}

// Names maps each record's id to what name gives for it (its name, usually).
func Names[P interface{ GetID() uint64 }](rows []P, name func(P) string) map[uint64]string {
	out := make(map[uint64]string, len(rows))
	for _, r := range rows {
		out[r.GetID()] = name(r)
	}
	return out
}
