package webhook

import (
	"bytes"
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
	var cache store.WebhookCache
	return func(tx *store.Tx, jobs []queue.JobWrite) error {
		hooks, err := cache.Webhooks(tx)
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
	sid := w.Job.ServiceID
	svc, status := serviceAt(tx, sid)
	var frozen []byte // one frozen form serves both events: they show the same commit
	freezeOnce := func() []byte {
		if frozen == nil {
			frozen = freeze(svc, w.Job)
		}
		return frozen
	}
	if svc != nil && w.Others && status != store.Notified(tx, sid) {
		if err := store.SetNotified(tx, sid, status); err != nil {
			return err
		}
		if err := add(tx, hooks, store.EventServicePrefix+status, sid, freezeOnce, at); err != nil {
			return err
		}
	}
	if jobEvent != "" {
		return add(tx, hooks, jobEvent, sid, freezeOnce, at)
	}
	return nil
}

// serviceAt is service id's record as this transaction holds it, and its status; nil when it is gone
// or does not decode (the events then carry no service, as the damage is reported elsewhere). Only
// the status is read here: the payload is built from the record when it is sent.
func serviceAt(tx *store.Tx, id uint64) ([]byte, string) {
	raw, err := store.ServiceRecord(tx, id)
	if err != nil || raw == nil {
		return nil, ""
	}
	if s, ok := statusOf(raw); ok {
		return raw, s
	}
	var s struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(raw, &s) != nil {
		return nil, ""
	}
	return raw, s.Status
}

var statusKey = []byte(`"status":"`)

// statusOf finds the status in a service record without decoding it (decoding the record was most of
// the hook's time). In encoding/json's output every quote inside a string is escaped, so `"status":"`
// is a key, and store.Service's only one: no field before it nests an object. A status with an escape
// in it, or none found, is left to the decoder (ok false).
func statusOf(raw []byte) (string, bool) {
	i := bytes.Index(raw, statusKey)
	if i < 0 {
		return "", false
	}
	v := raw[i+len(statusKey):]
	end := bytes.IndexByte(v, '"')
	if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
		return "", false
	}
	return string(v[:end]), true
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

// add writes event ev about service sid for the hooks that want it, frozen as frozen makes it.
func add(tx *store.Tx, hooks []*store.Webhook, ev string, sid uint64, frozen func() []byte, at time.Time) error {
	if !wanted(hooks, ev) {
		return nil
	}
	_, err := store.AddFrozenDeliveries(tx, hooks, ev, sid, frozen(), at)
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
