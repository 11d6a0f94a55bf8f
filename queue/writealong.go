package queue

import "vmmpm/store"

// WriteAlong runs fn in the engine's next group commit and returns once that commit is durable, or
// with the disk's refusal: bookkeeping kept beside the engine (the outcomes of webhook deliveries)
// shares the jobs' fsync instead of taking bbolt's one writer lock between their commits. fn only
// writes, and may run more than once (a first transaction rolled back when a job change beside it
// failed); it cannot fail: what it cannot write it leaves for later itself.
func (e *Engine) WriteAlong(fn func(tx *store.Tx)) error {
	return e.c.commit(&change{apply: func(tx *store.Tx) error { fn(tx); return nil }})
}
