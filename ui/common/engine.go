package common

import (
	"vmmpm/queue"
	"vmmpm/store"
)

// ModuleCounts are one module's job counts and lanes, as the engine reports them.
type ModuleCounts = queue.ModuleCounts

// Engine is the part of the queue engine the TUI drives; *queue.Engine satisfies it. The TUI never runs
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

var _ Engine = (*queue.Engine)(nil)
