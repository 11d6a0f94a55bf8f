package backend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"vmmpm/lease"
	"vmmpm/store"
	"vmmpm/store/kv/pgkv"
)

// On a database shared by several hosts each host reads module passwords from its own keyring, so
// one host may hold a password another changed since. The database keeps each module's password
// version (lease.RecordPassword); a host's keyring keeps, beside each password, the version it holds
// (store.PasswordVersionID). Nothing derived from a password is stored anywhere.

// hostSecrets is the keyring of a host sharing its database: setting a module's password also
// records its version, and removing one forgets it.
type hostSecrets struct {
	store.Secrets
	pool *pgxpool.Pool
	name string // the database, for sentences
	// changed, when set, is told a password was set here (the engine holds afresh at once).
	changed  func()
	migrated atomic.Bool // the version tables exist (made at the first write, not at every one)
}

// sharedSecrets is secrets as a host of db uses them: versioned when db is kept on PostgreSQL.
func sharedSecrets(db *store.DB, secrets store.Secrets) store.Secrets {
	pg, ok := db.KV().(*pgkv.DB)
	if !ok || secrets == nil {
		return secrets
	}
	if _, done := secrets.(*hostSecrets); done {
		return secrets
	}
	return &hostSecrets{Secrets: secrets, pool: pg.Pool(), name: db.Path()}
}

const passwordCallTimeout = 10 * time.Second

func (h *hostSecrets) Set(id uint64, password string) error {
	if hook, ok := store.WebhookOfSecret(id); ok {
		return h.setWebhookSecret(id, hook, password)
	}
	if !store.IsModuleSecret(id) {
		return h.Secrets.Set(id, password)
	}
	held, err := heldVersion(h.Secrets, id)
	if err != nil {
		return err
	}
	if err := h.Secrets.Set(id, password); err != nil {
		return err
	}
	err = h.record(func(ctx context.Context) error {
		v, err := lease.RecordPassword(ctx, h.pool, int64(id), held)
		if err == nil {
			err = h.Secrets.Set(store.PasswordVersionID(id), strconv.FormatInt(v, 10))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("module %d: the password is in this host's keyring, but which version it is could not be recorded in %s (%v); the other hosts go on with theirs: set it again once the database answers", id, h.name, err)
	}
	return nil
}

// setWebhookSecret keeps webhook hook's secret and records that this host holds it, so that the
// engine goes to a host that can sign its deliveries.
func (h *hostSecrets) setWebhookSecret(id, hook uint64, secret string) error {
	if err := h.Secrets.Set(id, secret); err != nil {
		return err
	}
	err := h.record(func(ctx context.Context) error { return lease.RecordWebhook(ctx, h.pool, hook) })
	if err != nil {
		return fmt.Errorf("webhook %d: the secret is in this host's keyring, but %s could not record it (%v); deliveries are signed all the same, but the engine may not move to this host for them: give it again once the database answers", hook, h.name, err)
	}
	return nil
}

// record writes what this host holds to the version tables (made first if need be), then tells the
// engine, which holds afresh at once.
func (h *hostSecrets) record(write func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), passwordCallTimeout)
	defer cancel()
	err := h.migrate(ctx)
	if err == nil {
		err = write(ctx)
	}
	if err == nil && h.changed != nil {
		h.changed()
	}
	return err
}

// knowWebhooks gives every webhook of db its slot (lease.KnowWebhooks), so the engine's choice counts
// webhooks added before slots were kept.
func knowWebhooks(ctx context.Context, pg *pgkv.DB, db *store.DB) error {
	var ids []uint64
	err := db.View(func(tx *store.Tx) error {
		ws, err := store.Webhooks(tx)
		for _, w := range ws {
			ids = append(ids, w.ID)
		}
		return err
	})
	if err != nil || len(ids) == 0 {
		return nil // an unreadable webhook must not stop the engine; webhook list shows the damage
	}
	return lease.KnowWebhooks(ctx, pg.Pool(), ids)
}

// migrate makes the version tables once: a host may set a password before its engine ever joined.
func (h *hostSecrets) migrate(ctx context.Context) error {
	if h.migrated.Load() {
		return nil
	}
	if err := lease.Migrate(ctx, h.pool); err != nil {
		return err
	}
	h.migrated.Store(true)
	return nil
}

// Delete forgets a module's password versions (the module was removed) or a webhook's slot (the
// webhook was), for every host.
func (h *hostSecrets) Delete(id uint64) error {
	hook, isHook := store.WebhookOfSecret(id)
	if err := h.Secrets.Delete(id); err != nil || !isHook && !store.IsModuleSecret(id) {
		return err
	}
	slot := lease.WebhookSlot(hook)
	if !isHook {
		if err := h.Secrets.Delete(store.PasswordVersionID(id)); err != nil && !errors.Is(err, store.ErrSecretNotFound) {
			return err
		}
		slot = int64(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), passwordCallTimeout)
	defer cancel()
	if err := h.migrate(ctx); err != nil {
		return err
	}
	return lease.ForgetPassword(ctx, h.pool, slot)
}

// heldVersion is the version of module id's password this keyring holds: 0 when it holds no
// password, or one from before versions were kept; an error when the keyring cannot say.
func heldVersion(secrets store.Secrets, id uint64) (int64, error) {
	_, v, err := heldPassword(secrets, id)
	return v, err
}

// heldPassword is module id's password in this keyring ("" when none) and its version (heldVersion).
func heldPassword(secrets store.Secrets, id uint64) (string, int64, error) {
	password, err := secrets.Get(id)
	if errors.Is(err, store.ErrSecretNotFound) {
		return "", 0, nil
	} else if err != nil {
		return "", 0, err
	}
	s, err := secrets.Get(store.PasswordVersionID(id))
	if errors.Is(err, store.ErrSecretNotFound) {
		return password, 0, nil
	} else if err != nil {
		return "", 0, err
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return password, v, nil
}

// passwordHolds is, for the modules whose password versions the database keeps, the version this
// host's keyring holds of each, and the modules it lacks with why (the engine holds those). unsure:
// the keyring could not say for some (locked, not answering): they are held until it can.
func passwordHolds(secrets store.Secrets, states map[int64]lease.PasswordState) (have map[int64]int64, lacks map[uint64]string, unsure bool) {
	have, lacks = map[int64]int64{}, map[uint64]string{}
	for m, st := range states {
		if hook, ok := lease.SlotWebhook(m); ok { // a webhook's secret: held or not, never a hold
			_, err := secrets.Get(store.WebhookSecretID(hook))
			if err == nil {
				have[m] = 1
			}
			unsure = unsure || err != nil && !errors.Is(err, store.ErrSecretNotFound)
			continue
		}
		id := uint64(m)
		v, err := heldVersion(secrets, id)
		if err != nil {
			unsure = true
			lacks[id] = fmt.Sprintf("this host's keyring cannot say which password of module %d it holds (%v)", id, err)
			continue
		}
		if have[m] = v; v == st.Version {
			continue
		}
		what := "no password"
		if v > 0 {
			what = fmt.Sprintf("version %d of the password", v)
		}
		lacks[id] = fmt.Sprintf("this host's keyring holds %s of module %d, but its current password is version %d, set on another host; give it here with vmmpm module password %d",
			what, id, st.Version, id)
	}
	return have, lacks, unsure
}

// watchPasswords keeps this engine's password versions (what status shows) and its holds in step
// with the database's whenever a host sets a module's password: polled every second (one small
// query), or at once after a set made through this process. last is what refreshPasswords read first.
func (l *engineLease) watchPasswords(secrets store.Secrets, every time.Duration, last map[int64]lease.PasswordState) {
	defer close(l.pwDone)
	tick := time.NewTicker(every)
	defer tick.Stop()
	failing := false // said once until a read succeeds again
	for {
		select {
		case <-l.pwStop:
			return
		case <-l.pwWake:
		case <-tick.C:
		}
		states, err := l.refreshPasswords(secrets, last)
		if err != nil {
			if !failing {
				l.log.Warn("cannot read the module password versions of the shared database; trying again every second", "error", err.Error())
			}
			failing = true
			continue
		}
		if failing {
			l.log.Info("the module password versions of the shared database are read again")
		}
		failing, last = false, states
		if lacks := l.lacking(); len(lacks) > 0 && l.catchUp(secrets, states, lacks) {
			if st, err := l.refreshPasswords(secrets, nil); err == nil {
				last = st // the holds go at once, not at the next poll
			}
		}
		l.checkHandover(context.Background())
	}
}

// refreshPasswords reads the database's password versions and, when they differ from last, records
// the versions this host holds and holds the modules it lacks.
func (l *engineLease) refreshPasswords(secrets store.Secrets, last map[int64]lease.PasswordState) (map[int64]lease.PasswordState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), passwordCallTimeout)
	defer cancel()
	states, err := lease.ModulePasswords(ctx, l.pg.Pool())
	if err != nil || (last != nil && maps.Equal(states, last)) {
		return last, err
	}
	have, lacks, unsure := passwordHolds(secrets, states)
	if err := l.le.SetPasswords(ctx, have); err != nil {
		return last, err
	}
	l.setHolds(lacks)
	l.setHooksLacking(slotsLacking(states, have))
	if unsure {
		return last, nil // asked again at the next poll
	}
	return states, nil
}

// wakePasswords makes watchPasswords read the versions now.
func (l *engineLease) wakePasswords() {
	select {
	case l.pwWake <- struct{}{}:
	default:
	}
}

// setHolds keeps the modules this host lacks and hands them to the engine once it runs.
func (l *engineLease) setHolds(lacks map[uint64]string) {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	l.lacks = lacks
	if l.applyHolds != nil {
		l.applyHolds(lacks)
	}
}

// slotsLacking is how many webhooks' secrets (their slots in states) have says this host lacks.
func slotsLacking(states map[int64]lease.PasswordState, have map[int64]int64) int {
	n := 0
	for m := range states {
		if _, ok := lease.SlotWebhook(m); ok && have[m] == 0 {
			n++
		}
	}
	return n
}

func (l *engineLease) setHooksLacking(n int) {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	l.hooksMissing = n
}

// hooksLacking is how many webhooks' secrets this host lacks.
func (l *engineLease) hooksLacking() int {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	return l.hooksMissing
}

// lacking is a copy of the modules this host lacks.
func (l *engineLease) lacking() map[uint64]string {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	return maps.Clone(l.lacks)
}

// holdWith hands the holds to apply now and on every change (the engine's SetHolds).
func (l *engineLease) holdWith(apply func(map[uint64]string)) {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	l.applyHolds = apply
	apply(l.lacks)
}
