package queue

import (
	"context"
	"time"

	"vmmpm/store"
)

// CapacityEvery is how old the engine's reading of a module's free room may be before Capacity reads
// it again (in the background).
const CapacityEvery = time.Minute

// Capacity is what a module's VMmanager had free when the engine last read it: the cluster's CPU, RAM
// and disk, and each IP pool on the cluster's interfaces. A figure VMmanager does not give is nil.
type Capacity struct {
	At      time.Time   `json:"at"`
	Cluster ClusterRoom `json:"cluster"`
	Pools   []PoolRoom  `json:"pools"`
}

// Room is a total and how much of it is used.
type Room struct {
	Total int `json:"total"`
	Used  int `json:"used"`
}

// Free is what is left (never below 0).
func (r Room) Free() int { return max(r.Total-r.Used, 0) }

// ClusterRoom is a cluster's CPU, RAM and disk. Oversold: the cluster allows overselling, so its CPU
// and RAM totals may not be limits (the engine then holds no open for them).
type ClusterRoom struct {
	ID       uint64 `json:"id"`
	Name     string `json:"name"`
	CPU      *Room  `json:"cpu,omitempty"`
	RAMMiB   *Room  `json:"ram_mib,omitempty"`
	DiskMiB  *Room  `json:"disk_mib,omitempty"`
	Oversold bool   `json:"oversold,omitempty"`
}

// PoolRoom is one IP pool on an interface of the cluster (0 the main one).
type PoolRoom struct {
	ID        uint64 `json:"id"`
	Name      string `json:"name"`
	Interface int    `json:"interface"`
	IPv4      *Room  `json:"ipv4,omitempty"`
}

// capacityReader is implemented by the VMmanager executor.
type capacityReader interface {
	capacity(ctx context.Context, m *store.Module, maxAge time.Duration) (*Capacity, error)
	lastCapacity(m *store.Module) *Capacity
}

// Capacity returns what m's VMmanager had free at the engine's last reading, and reads it again in
// the background when that reading is older than CapacityEvery. Before the first reading it reads now,
// waiting at most firstReading (and ctx): nil when that fails, or the executor is not VMmanager's. It
// begins at most one reading per module per CapacityEvery, so an unreachable VMmanager costs a screen
// that asks every few seconds one wait a minute, not one each time.
func (e *Engine) Capacity(ctx context.Context, m *store.Module) *Capacity {
	x, ok := e.exec.(capacityReader)
	if !ok {
		return nil
	}
	last := x.lastCapacity(m)
	if last != nil && time.Since(last.At) < CapacityEvery {
		return last
	}
	if t, ok := e.capRead.Load(m.ID); ok && time.Since(t.(time.Time)) < CapacityEvery {
		return last // a reading began within the period (and failed, or runs): do not wait for another
	}
	e.capRead.Store(m.ID, time.Now())
	if last == nil {
		ctx, cancel := context.WithTimeout(ctx, firstReading)
		defer cancel()
		last, _ = x.capacity(ctx, m, CapacityEvery)
		return last
	}
	mod := *m
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = x.capacity(ctx, &mod, CapacityEvery)
	}()
	return last
}

// firstReading bounds how long Capacity waits for a module's first reading.
const firstReading = 3 * time.Second

// ReadCapacity reads what m's VMmanager has free now, unless the engine's last reading is younger
// than maxAge; nil with no error when the executor is not VMmanager's.
func (e *Engine) ReadCapacity(ctx context.Context, m *store.Module, maxAge time.Duration) (*Capacity, error) {
	x, ok := e.exec.(capacityReader)
	if !ok {
		return nil, nil
	}
	c, err := x.capacity(ctx, m, maxAge)
	if err != nil {
		return nil, verdict(err)
	}
	return c, nil
}
