package backend

import (
	"context"
	"sync"
	"time"

	"vmmpm/queue"
	"vmmpm/stats"
	"vmmpm/store"
)

// StatsFlushEvery is how often the figures are written to the database (at most).
var StatsFlushEvery = time.Minute

// startStats follows the engine's events into a collector that starts from the history kept in the
// database, so figures survive restarts; it writes them back at most once every StatsFlushEvery.
func (l *Local) startStats(eng *queue.Engine) {
	c := stats.New()
	_ = c.Load(l.DB, time.Now()) // unreadable history: start afresh rather than refuse to run
	events, unsubscribe := eng.Subscribe(4096)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // seeding waits for the scheduler's load: a first frame does not wait for it
		defer close(done)
		defer store.LogPanic(nil, "the figures (vmmpm stats)")
		if lanes, err := eng.Lanes(); err == nil {
			c.SeedLanes(lanes)
		}
		c.Run(ctx, events, l.DB, StatsFlushEvery, time.Now, nil)
	}()
	l.collector = c
	l.stopStats = func() { cancel(); <-done; unsubscribe() }
}

// Stats is the figures now: from the collector following this process's engine, or, with no engine
// running here, from the history kept in the database and the unfinished jobs.
func (l *Local) Stats(ctx context.Context) (*stats.Snapshot, error) {
	e, err := l.Engine()
	if err != nil {
		return nil, err
	}
	s, mods, err := l.snapshot(e)
	if err != nil {
		return nil, err
	}
	room := l.capacity(ctx, e, mods)
	for i, m := range mods {
		s.Modules[i].SetCapacity(room[i], m.CapacityWarnPercent())
		s.FitLanes(m.ID, laneKeys(m))
	}
	s.Engine = engineRunner(l.DB)
	s.EngineRenewed = engineRenewed(l.DB)
	backoffs := e.Backoffs()
	for i := range s.Lanes {
		if b, ok := backoffs[s.Lanes[i].Key]; ok {
			s.Lanes[i].Retry = &b
		}
	}
	return s, nil
}

// snapshot is the figures without VMmanager's free counts, each module's health judged as stats
// judges it (stats.Module.Verdict): what Status shows too.
func (l *Local) snapshot(e *queue.Engine) (*stats.Snapshot, []*store.Module, error) {
	c := l.collector
	if c == nil {
		c = stats.New()
		if err := c.Load(l.DB, time.Now()); err != nil {
			return nil, nil, err
		}
		lanes, err := e.Lanes()
		if err != nil {
			return nil, nil, err
		}
		c.SeedLanes(lanes)
	}
	mods, err := store.All[store.Module](l.DB)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]uint64, len(mods))
	for i, m := range mods {
		ids[i] = m.ID
	}
	s := c.Snapshot(time.Now(), ids)
	for i, m := range mods {
		sm := &s.Modules[i]
		sm.Name, sm.LastCheck = m.Name, m.LastCheck
		sm.SetHealth(e.Health(m.ID))
		sm.Logins = l.logins(e, m)
		sm.Paused = pauseOf(e, m.ID)
	}
	return s, mods, nil
}

// capacity is what each module's VMmanager has free: the running engine's last reading (it reads
// again in the background once that is CapacityEvery old, and waits a little for a first one), or,
// with no engine running here, a reading made now for each enabled module; all at once, bounded by
// capacityWait. nil where unknown.
func (l *Local) capacity(ctx context.Context, e *queue.Engine, mods []*store.Module) []*queue.Capacity {
	out := make([]*queue.Capacity, len(mods))
	ctx, cancel := context.WithTimeout(ctx, capacityWait)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range mods {
		switch {
		case l.Mode == ModeEngine:
			wg.Go(func() { out[i] = e.Capacity(ctx, m) })
		case m.Enabled:
			wg.Go(func() { out[i], _ = e.ReadCapacity(ctx, m, queue.CapacityEvery) })
		}
	}
	wg.Wait()
	return out
}

// capacityWait bounds how long Stats waits for VMmanager's figures when no engine runs here.
const capacityWait = 10 * time.Second

// logins is the engine's logins to m's VMmanager in the current session period, or nil when no engine
// runs in this process: a stopped one has logged in to nothing, and saying 0 would be a guess.
func (l *Local) logins(e *queue.Engine, m *store.Module) *stats.Logins {
	if l.Mode != ModeEngine {
		return nil
	}
	n, ok := e.Logins(m)
	if !ok {
		return nil
	}
	return &stats.Logins{Count: n.Count, Since: n.Since, Until: n.Until, SessionTTL: n.TTL}
}

// laneKeys are a module's lanes as its parameters say: none with queues off or when keys depend on
// the service or the operation (they come and go with the jobs).
func laneKeys(m *store.Module) []string {
	if !m.Params.Queue {
		return nil
	}
	t, err := queue.ParseKeyTemplate(m.Params.QueueKey, true)
	if err != nil || t.UsesIID() || t.UsesType() {
		return nil
	}
	name := t.Expand("", m.ID, 0)
	keys := make([]string, max(m.Params.QueueCount, 1))
	for i := range keys {
		keys[i] = queue.QueueKey(name, i+1)
	}
	return keys
}
