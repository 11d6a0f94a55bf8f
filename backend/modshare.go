package backend

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"vmmpm/lease"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/store/kv/pgkv"
)

// Modules shared among live engines (ARCHITECTURE "Beyond one machine", plan step 2): on a shared
// database each module is a lane, (module, "module"), and the engine holding a module's lane runs
// its jobs; the lease shares the lanes fairly among the live engines and moves them when one joins
// or dies. moduleShare ties one process's lease to its queue engine: the lanes held decide which
// modules the engine runs (the rest are elsewhere, queue.Engine.SetElsewhere); a lane the fair share
// hands over is held first (nothing new starts) and goes once none of its jobs runs here (the
// lease's Releasing); every write is guarded by the epochs of the lanes held; the check before a VM
// is created and the VM's epoch mark are the module's lane's.
//
// Not wired into serve yet: serve still runs one engine under the engine lane (shared.go).

// moduleLane is module id's lane.
func moduleLane(id uint64) lease.Lane { return lease.Lane{Module: int64(id), Key: "module"} }

// laneModule is the module of a module lane (false for any other lane).
func laneModule(l lease.Lane) (uint64, bool) {
	return uint64(l.Module), l.Key == "module" && l.Module > 0
}

// handingOver is the hold's reason while a module's lane is being handed to another engine.
const handingOver = "its lane is being handed to another host's engine; its jobs go on there"

type moduleShare struct {
	db  *store.DB
	pg  *pgkv.DB
	log *slog.Logger
	le  *lease.Engine

	mu      sync.Mutex
	eng     *queue.Engine
	held    map[uint64]lease.Held // module → its lane, as the lease last said
	leaving map[uint64]bool       // modules whose lane the fair share hands over
	going   map[uint64]bool       // of those, the ones answered free to go (no longer guarded)
	lost    func(error)           // told once when a write was fenced
	lostOne sync.Once
}

func newModuleShare(db *store.DB, pg *pgkv.DB, log *slog.Logger) *moduleShare {
	return &moduleShare{db: db, pg: pg, log: log, held: map[uint64]lease.Held{}, leaving: map[uint64]bool{}, going: map[uint64]bool{}}
}

// addLanes registers a lane for every module in the database.
func (s *moduleShare) addLanes(ctx context.Context) error {
	mods, err := store.All[store.Module](s.db)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if err := lease.AddLane(ctx, s.pg.Pool(), moduleLane(m.ID)); err != nil {
			return err
		}
	}
	return nil
}

// attach gives the share its engine (made after the lease joined) and tells it what it runs.
func (s *moduleShare) attach(le *lease.Engine, eng *queue.Engine, lost func(error)) error {
	s.mu.Lock()
	s.le, s.eng, s.lost = le, eng, lost
	s.mu.Unlock()
	s.pg.SetWriteCheck(s.guard)
	return s.apply()
}

// changed is the lease's OnChange: the module lanes held now. A lane gone that was not handed over
// (it lapsed: this host froze, or lost the database) is a lost lease: its jobs may run elsewhere now,
// so the engine must stop (lost), not go on writing them.
func (s *moduleShare) changed(held []lease.Held) {
	s.mu.Lock()
	was := s.held
	s.held = map[uint64]lease.Held{}
	for _, h := range held {
		if m, ok := laneModule(h.Lane); ok {
			s.held[m] = h
		}
	}
	var lapsed []uint64
	for m := range was {
		if _, still := s.held[m]; !still && !s.going[m] {
			lapsed = append(lapsed, m)
		}
	}
	lost := s.lost
	s.mu.Unlock()
	if len(lapsed) > 0 && lost != nil {
		s.lostOne.Do(func() { lost(fmt.Errorf("%w (the lanes of modules %v lapsed)", ErrLeaseLost, lapsed)) })
		return
	}
	if err := s.apply(); err != nil {
		s.log.Warn("the modules this engine runs could not be set; the next change tries again", "error", err)
	}
}

// releasing is the lease's Releasing: the planned module lanes are held here (nothing new starts),
// and those with no job running here may go.
func (s *moduleShare) releasing(planned []lease.Lane) []lease.Lane {
	leaving := map[uint64]bool{}
	for _, l := range planned {
		if m, ok := laneModule(l); ok {
			leaving[m] = true
		}
	}
	s.mu.Lock()
	eng, same := s.eng, maps.Equal(leaving, s.leaving)
	s.leaving = leaving
	s.mu.Unlock()
	if eng == nil {
		return nil
	}
	// Asked every round: the engine is told again only when the planned set moved (apply reads the
	// modules and the holders).
	if !same {
		if err := s.apply(); err != nil {
			return nil
		}
	}
	var free []lease.Lane
	going := map[uint64]bool{}
	for _, l := range planned {
		if m, ok := laneModule(l); ok && !eng.Busy(m) {
			free, going[m] = append(free, l), true
		}
	}
	s.mu.Lock()
	s.going = going
	s.mu.Unlock()
	return free
}

// apply tells the engine which modules another engine runs (every one whose lane it does not hold)
// and which it holds while their lane is handed over.
func (s *moduleShare) apply() error {
	s.mu.Lock()
	eng := s.eng
	s.mu.Unlock()
	if eng == nil {
		return nil
	}
	mods, err := store.All[store.Module](s.db)
	if err != nil {
		return err
	}
	names := s.holderNames()
	s.mu.Lock()
	elsewhere, holds := map[uint64]string{}, map[uint64]string{}
	for _, m := range mods {
		switch _, mine := s.held[m.ID]; {
		case !mine:
			elsewhere[m.ID] = cmp.Or(names[m.ID], noHolder)
		case s.leaving[m.ID]:
			holds[m.ID] = handingOver
		}
	}
	s.mu.Unlock()
	// Elsewhere first: a hold lifted from a module another engine runs now must start nothing here.
	if err := eng.SetElsewhere(elsewhere); err != nil {
		return err
	}
	eng.SetHolds(holds)
	return nil
}

// holderNames names, per module, the engine holding its lane ("no engine" while none does).
func (s *moduleShare) holderNames() map[uint64]string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs, _ := lease.LaneHolders(ctx, s.pg.Pool())
	out := map[uint64]string{}
	for l, e := range hs {
		if m, ok := laneModule(l); ok {
			out[m] = fmt.Sprintf("vmmpm on host %s (pid %d)", e.Host, e.PID)
		}
	}
	return out
}

// noHolder names the runner of a module whose lane no engine holds.
const noHolder = "no engine yet (its lane is free; a live engine claims it within a second)"

// guarded are the lanes every write checks: those held, but for the ones answered free to go (their
// release may commit before the write does).
func (s *moduleShare) guarded() []lease.Held {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hs []lease.Held
	for m, h := range s.held {
		if !s.going[m] {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b lease.Held) int { return int(a.Module - b.Module) })
	return hs
}

// guard fences every write of this process by the epochs of the module lanes it holds.
func (s *moduleShare) guard() (string, func([][][]byte) error) {
	hs := s.guarded()
	return s.le.GuardAllSQL(hs), func(rows [][][]byte) error {
		err := s.le.GuardAllRows(hs, rows)
		if errors.Is(err, lease.ErrFenced) {
			s.lostOne.Do(func() { s.lost(fmt.Errorf("%w (%v)", ErrLeaseLost, err)) })
			return ErrLeaseLost
		}
		return err
	}
}

// mayCreate is queue.Options.MayCreate: the module's lane is held, by this host's clock.
func (s *moduleShare) mayCreate(module uint64) error {
	s.mu.Lock()
	h, ok := s.held[module]
	s.mu.Unlock()
	if ok && s.le.Holds(h) {
		return nil
	}
	return ErrLeaseLost
}

// epoch is queue.Options.Epoch: the epoch of the module's lane.
func (s *moduleShare) epoch(module uint64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[module].Epoch
}
