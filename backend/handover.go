package backend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"vmmpm/lease"
)

// ErrHandedOver ends an engine that handed a shared database's jobs to a live standby whose keyring
// holds module passwords or webhook secrets this host lacks (serve then waits as a standby again).
var ErrHandedOver = errors.New("this host's engine handed the jobs of the shared database to another host's engine, whose keyring holds module passwords or webhook secrets this host lacks; give this host those (vmmpm module password ID, vmmpm webhook secret ID) if it should run them when the other stops")

// checkHandover hands the engine over when this host runs it, lacks some module's current password
// or a webhook's secret, and a live standby holds more of them: held here, that module's jobs (or
// that webhook's deliveries) would wait while a host able to run them stands by. The standby claims the lane once this engine has stopped
// at a job boundary and left (the lease's AllModules rule keeps this host from claiming it back).
func (l *engineLease) checkHandover(ctx context.Context) {
	lacks := slices.Sorted(maps.Keys(l.lacking()))
	if len(lacks) == 0 && l.hooksLacking() == 0 || !l.running() {
		l.outranked = false
		return
	}
	ctx, cancel := context.WithTimeout(ctx, passwordCallTimeout)
	defer cancel()
	es, err := lease.Engines(ctx, l.pg.Pool())
	if err != nil {
		return // asked again at the next poll
	}
	to, ok := lease.Outranked(es, l.le.ID())
	// Seen at two polls in a row: a keyring that fails one read (it then lacks every password for a
	// second) does not move the engine.
	seen := ok && l.outranked
	l.outranked = ok
	if !seen {
		return
	}
	l.handOnce.Do(func() {
		l.log.Info("handing the engine over: another host's keyring holds module passwords or webhook secrets this host lacks",
			"to", fmt.Sprintf("host %s (pid %d)", to.Host, to.PID), "lacks_modules", fmt.Sprint(lacks),
			"lacks_webhook_secrets", l.hooksLacking())
		close(l.handover)
	})
}

// running says this process holds the engine lane (it is no standby).
func (l *engineLease) running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.on
}

// handoverCh is closed when the engine should stop and hand over (nil: never).
func (l *engineLease) handoverCh() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.handover
}
