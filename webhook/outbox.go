package webhook

import (
	"encoding/json"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// Hook is the engine's commit hook (queue.Options.OnCommit) that writes the outbox: inside the
// transaction of every job write, an event when a service's status changed since the last service event
// said it (service.<status>) and when a job's state changed (job.<state>), one pending delivery per
// webhook that wants it. A crash can neither lose one nor leave one for a change that did not happen.
func Hook(now func() time.Time) queue.CommitHook {
	if now == nil {
		now = time.Now
	}
	return func(tx *store.Tx, jobs []queue.JobWrite) error {
		hooks, err := store.Webhooks(tx)
		if err != nil {
			hooks = nil // an unreadable webhook must not stop the engine; webhook list shows the damage
		}
		at := now()
		for _, w := range jobs {
			if err := jobEvents(tx, hooks, w, at); err != nil {
				return err
			}
		}
		return nil
	}
}

func jobEvents(tx *store.Tx, hooks []*store.Webhook, w queue.JobWrite, at time.Time) error {
	jobEvent := ""
	if w.Job.State != w.From {
		jobEvent = store.EventJobPrefix + w.Job.State
	}
	if !w.Others && !wanted(hooks, jobEvent) {
		return nil // the service is as the last commit left it, and nobody wants this job's news
	}
	s, err := store.Get[store.Service](tx, w.Job.ServiceID)
	if err != nil {
		s = nil
	}
	if s != nil && w.Others && s.Status != store.Notified(tx, s.ID) {
		if err := store.SetNotified(tx, s.ID, s.Status); err != nil {
			return err
		}
		if err := add(tx, hooks, store.EventServicePrefix+s.Status, s, w.Job, at); err != nil {
			return err
		}
	}
	if jobEvent != "" {
		return add(tx, hooks, jobEvent, s, w.Job, at)
	}
	return nil
}

// wanted reports whether any of hooks wants event ev ("" none).
func wanted(hooks []*store.Webhook, ev string) bool {
	if ev == "" {
		return false
	}
	for _, h := range hooks {
		if h.Wants(ev) {
			return true
		}
	}
	return false
}

func add(tx *store.Tx, hooks []*store.Webhook, ev string, s *store.Service, j *store.Job, at time.Time) error {
	if !wanted(hooks, ev) {
		return nil
	}
	body := Event{Type: ev, At: at}
	var sid uint64
	if s != nil {
		v := ServiceOf(s)
		body.Service, sid = &v, s.ID
	}
	if j != nil {
		v := JobOf(j, false)
		body.Job = &v
		sid = j.ServiceID
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = store.AddDeliveries(tx, hooks, ev, sid, data, at)
	return err
}

// AddTest writes a webhook.test delivery for webhook w alone.
func AddTest(tx *store.Tx, w *store.Webhook, at time.Time) (*store.Delivery, error) {
	data, err := json.Marshal(Event{Type: store.EventTest, At: at, Webhook: &Target{ID: w.ID, URL: w.URL}})
	if err != nil {
		return nil, err
	}
	ids, err := store.AddDeliveries(tx, []*store.Webhook{w}, store.EventTest, 0, data, at)
	if err != nil {
		return nil, err
	}
	return &store.Delivery{ID: ids[0], Webhook: w.ID, Event: store.EventTest, Body: data, State: store.DeliveryPending, CreatedAt: at}, nil
}
