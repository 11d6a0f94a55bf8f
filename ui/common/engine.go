package common

import (
	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// ModuleCounts are one module's job counts and lanes, as the engine reports them.
type ModuleCounts = queue.ModuleCounts

// Engine is the part of the queue engine the jobs pane drives, through the backend. The TUI never runs
// jobs itself: it reads pages of the history, counts and lane positions, and asks the engine to act.
type Engine interface {
	// Page returns up to limit jobs in state ("" for all), newest first, after offset, and the total in
	// that state, at O(limit) cost.
	Page(state string, offset, limit int) ([]store.Job, int, error)
	Counts() map[uint64]queue.ModuleCounts
	// LanePosition is the job's queue key and how many jobs are ahead of it (-1 when finished).
	LanePosition(jobID uint64) (lane string, pos int)
	Cancel(id uint64) error
	Retry(id uint64) error
	Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error)
	CreateServices(tariffID uint64, count int, client string) ([]store.Service, error)
}

// engineOf is a backend seen as an Engine.
type engineOf struct{ b backend.Backend }

func (e engineOf) Page(state string, offset, limit int) ([]store.Job, int, error) {
	ctx, cancel := bg()
	defer cancel()
	p, err := e.b.Page(ctx, state, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	return p.Jobs, p.Total, nil
}

func (e engineOf) Counts() map[uint64]queue.ModuleCounts {
	ctx, cancel := bg()
	defer cancel()
	c, _ := e.b.Counts(ctx)
	return c
}

func (e engineOf) LanePosition(jobID uint64) (string, int) {
	ctx, cancel := bg()
	defer cancel()
	p, err := e.b.LanePosition(ctx, jobID)
	if err != nil {
		return "", -1
	}
	return p.Lane, p.Ahead
}

func (e engineOf) Cancel(id uint64) error {
	ctx, cancel := bg()
	defer cancel()
	return e.b.Cancel(ctx, id)
}

func (e engineOf) Retry(id uint64) error {
	ctx, cancel := bg()
	defer cancel()
	return e.b.Retry(ctx, id)
}

func (e engineOf) Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error) {
	ctx, cancel := bg()
	defer cancel()
	return e.b.Enqueue(ctx, serviceID, op, args)
}

func (e engineOf) CreateServices(tariffID uint64, count int, client string) ([]store.Service, error) {
	ctx, cancel := bg()
	defer cancel()
	return e.b.CreateServices(ctx, tariffID, count, client)
}
