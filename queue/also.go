package queue

import "vmmpm/store"

// Also returns the actor whose enqueues (Enqueue, CreateServices, Retry) run fn in their own
// transaction, after their writes, with copies of the jobs they wrote: what fn writes (a billing id on
// the new services, the answer an idempotency key will replay) is durable exactly when the jobs are, and
// an error from fn undoes the whole call and is returned as its error.
func (a Actor) Also(fn func(tx *store.Tx, jobs []store.Job) error) Actor {
	a.also = fn
	return a
}

// enqueueTx is the engine's enqueueTx with the actor's Also after fn.
func (a Actor) enqueueTx(fn func(tx *store.Tx, add func(*jobState)) error) error {
	if a.also == nil {
		return a.e.enqueueTx(fn)
	}
	return a.e.enqueueTx(func(tx *store.Tx, add func(*jobState)) error {
		var added []*jobState
		if err := fn(tx, func(js *jobState) { added = append(added, js); add(js) }); err != nil {
			return err
		}
		jobs := make([]store.Job, len(added))
		for i, js := range added {
			jobs[i] = cloneJob(&js.job)
		}
		return a.also(tx, jobs)
	})
}
