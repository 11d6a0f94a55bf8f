package backend

import (
	"context"
	"errors"
	"strconv"
	"time"

	"vmmpm/lease"
	"vmmpm/store"
	"vmmpm/wizard"
)

// A host that holds an older version of a module's password, or one set before versions were kept,
// may hold the very password VMmanager accepts: another host set the same password again (a
// "change" by version), or versions began after this host was given it. Rather than hold the
// module's jobs until someone types that password again here, the host logs in to VMmanager with it:
// accepted, it catches up (the version stays, its keyring notes the current one). Refused or not
// answered, the module stays held, and is tried again only when its version changes or after
// reprobeEvery.

// reprobeEvery bounds how often one module's password is tried against VMmanager while it is lacking.
const reprobeEvery = 5 * time.Minute

// probeTimeout bounds one login (the watcher waits for it).
const probeTimeout = 10 * time.Second

// probed is the last login tried for a module: against which current version, and when.
type probed struct {
	version int64
	at      time.Time
}

// catchUp tries the password this host holds of each module it lacks whose login was not tried lately,
// and records a catch-up for each VMmanager accepts. It says whether any caught up.
func (l *engineLease) catchUp(secrets store.Secrets, states map[int64]lease.PasswordState, lacks map[uint64]string) bool {
	caught := false
	for id := range lacks {
		st := states[int64(id)]
		if p, ok := l.probes[id]; ok && p.version == st.Version && time.Since(p.at) < reprobeEvery {
			continue
		}
		l.probes[id] = probed{st.Version, time.Now()}
		if l.loginWith(secrets, id, st.Version) {
			caught = true
		}
	}
	return caught
}

// loginWith logs in to module id's VMmanager with the password this keyring holds and, accepted,
// records that this host holds version current.
func (l *engineLease) loginWith(secrets store.Secrets, id uint64, current int64) bool {
	password, held, err := heldPassword(secrets, id)
	if err != nil || password == "" {
		return false // none here: only vmmpm module password gives it
	}
	m, err := store.Load[store.Module](l.db, id)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if _, err := wizard.CheckModule(ctx, m, password); err != nil {
		var ce *wizard.CheckError
		if errors.As(err, &ce) {
			l.log.Info("the password this host holds of a module it lacks does not log in; give it the current one", "module", id, "why", err.Error())
		}
		return false
	}
	v, err := lease.RecordPassword(ctx, l.pg.Pool(), int64(id), held)
	if err == nil {
		err = secrets.Set(store.PasswordVersionID(id), strconv.FormatInt(v, 10))
	}
	if err != nil {
		l.log.Warn("a module password that logs in could not be recorded as current here; trying again later", "module", id, "error", err.Error())
		return false
	}
	l.log.Info("module password caught up: the one this host holds logs in to VMmanager, so it is the current one", "module", id, "version", v)
	return true
}
