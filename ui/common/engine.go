package common

import (
	"strconv"
	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// ModuleCounts are one module's job counts and lanes, as the engine reports them.
type ModuleCounts = queue.ModuleCounts

// Engine is the part of the queue engine the jobs pane drives, through the backend. The TUI never runs
// jobs itself: it reads one view of the history per refresh and asks the engine to act.
type Engine interface {
	// JobsView is one screenful of the pane (jobs, lane positions, counts, module names) in one call.
	JobsView(q backend.JobsQuery) (*backend.JobsView, error)
	// JobDetail is one job, whole, with its place in its lane.
	JobDetail(id uint64) (*backend.JobDetail, error)
	Cancel(id uint64) error
	Retry(id uint64) error
	Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error)
	CreateServices(tariffID uint64, count int, client string) ([]store.Service, error)
}

// engineOf is the data's backend of the moment seen as an Engine.
type engineOf struct{ d *Data }

func (e engineOf) JobsView(q backend.JobsQuery) (*backend.JobsView, error) {
	ctx, cancel := bg()
	defer cancel()
	return e.d.Backend().JobsView(ctx, q)
}

func (e engineOf) JobDetail(id uint64) (*backend.JobDetail, error) {
	ctx, cancel := bg()
	defer cancel()
	return e.d.Backend().JobDetail(ctx, id)
}

func (e engineOf) Cancel(id uint64) error {
	ctx, cancel := bg()
	defer cancel()
	return e.d.Backend().Cancel(ctx, id)
}

func (e engineOf) Retry(id uint64) error {
	ctx, cancel := bg()
	defer cancel()
	return e.d.Backend().Retry(ctx, id)
}

func (e engineOf) Enqueue(serviceID uint64, op string, args map[string]string) (*store.Job, error) {
	ctx, cancel := bg()
	defer cancel()
	return e.d.Backend().Enqueue(ctx, serviceID, op, args)
}

func (e engineOf) CreateServices(tariffID uint64, count int, client string) ([]store.Service, error) {
	ctx, cancel := bg()
	defer cancel()
	o, err := e.d.Backend().CreateServices(ctx, strconv.FormatUint(tariffID, 10), count, client)
	if err != nil {
		return nil, err
	}
	return o.Services, nil
}
