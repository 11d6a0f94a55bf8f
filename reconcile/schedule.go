package reconcile

import (
	"context"
	"log/slog"
	"time"

	"vmmpm/store"
)

// DefaultCheck is how often Schedule looks for modules whose scan is due.
const DefaultCheck = time.Minute

// Schedule runs each module's scan every reconcile_every (store.Module.ReconcileInterval; 0 is off),
// counted from its last scan as kept in the database, so a restart does not scan again early.
type Schedule struct {
	DB *store.DB
	// Scan scans one module and records it as scheduled (backend.Local.ScheduledScan).
	Scan func(ctx context.Context, module uint64) (*Report, error)
	// Check is how often due modules are looked for (default DefaultCheck); the first look is one
	// Check after Run starts, so a server's start-up is not slowed by scans.
	Check time.Duration
	Log   *slog.Logger
	Now   func() time.Time
}

// Run scans due modules, one at a time, until ctx ends.
func (s *Schedule) Run(ctx context.Context) {
	check, now, log := s.Check, s.Now, s.Log
	if check <= 0 {
		check = DefaultCheck
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, id := range s.due(now(), log) {
			if ctx.Err() != nil {
				return
			}
			began := time.Now()
			rep, err := s.Scan(ctx, id)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				log.Warn("reconcile scan failed", "module", id, "error", err.Error())
				continue
			}
			for _, m := range rep.Modules {
				if m.Failed() {
					log.Warn("reconcile scan could not read the module", "module", m.ModuleID, "error", firstOf(m.Error, m.Unreadable))
				}
				log.Info("reconcile scan", "module", m.ModuleID, "findings", total(m.Counts), "vms", m.Compared.VMs,
					"services", m.Compared.Services, "requests", m.Compared.Requests, "took", time.Since(began).Round(time.Millisecond))
			}
		}
	}
}

// due are the modules whose scan is due at now.
func (s *Schedule) due(now time.Time, log *slog.Logger) []uint64 {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mods, err := store.All[store.Module](s.DB)
	if err != nil {
		log.Error("reconcile schedule cannot read the modules", "error", err.Error())
		return nil
	}
	last, err := LastScans(s.DB)
	if err != nil {
		log.Error("reconcile schedule cannot read the last scans", "error", err.Error())
		return nil
	}
	at := map[uint64]time.Time{}
	for _, l := range last {
		at[l.ModuleID] = l.At
	}
	var out []uint64
	for _, m := range mods {
		every := m.ReconcileInterval()
		if every > 0 && !now.Before(at[m.ID].Add(every)) {
			out = append(out, m.ID)
		}
	}
	return out
}

func total(c map[string]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

func firstOf(s string, more []string) string {
	if s != "" || len(more) == 0 {
		return s
	}
	return more[0]
}
