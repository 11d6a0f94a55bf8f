package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Webhook is a receiver of event deliveries. Its secret (the HMAC key) lives in Secrets under
// WebhookSecretID, never here.
type Webhook struct {
	ID  uint64 `json:"id"`
	URL string `json:"url"`
	// Events are the event types it gets: "service.active", "service.*" (every service event), "*".
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// Event types: service.<status> when a service's status changes (service.processing, service.active,
// service.suspended, service.deleted, service.failed, service.ordered), job.<state> when a job's state
// changes (job.queued, job.running, job.retrying, job.done, job.failed, job.cancelled), and webhook.test.
const (
	EventServicePrefix = "service."
	EventJobPrefix     = "job."
	EventTest          = "webhook.test"
)

// EventTypes are every event type a webhook may name, in the order above.
func EventTypes() []string {
	out := []string{}
	for _, s := range []string{ServiceProcessing, ServiceActive, ServiceSuspended, ServiceDeleted, ServiceFailed, ServiceOrdered} {
		out = append(out, EventServicePrefix+s)
	}
	for _, s := range JobStates {
		out = append(out, EventJobPrefix+s)
	}
	return append(out, EventTest)
}

// Wants reports whether the webhook gets events of type ev.
func (w *Webhook) Wants(ev string) bool {
	for _, p := range w.Events {
		if p == "*" || p == ev || strings.HasSuffix(p, ".*") && strings.HasPrefix(ev, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return ev == EventTest
}

// Validate checks the URL (see CheckWebhookURL) and that every event pattern names known events.
func (w *Webhook) Validate() error {
	if err := CheckWebhookURL(w.URL); err != nil {
		return err
	}
	if len(w.Events) == 0 {
		return invalid("events", "must list at least one event type, e.g. service.*,job.failed")
	}
	types := EventTypes()
	for _, p := range w.Events {
		ok := p == "*" || slices.Contains(types, p)
		if prefix, wild := strings.CutSuffix(p, "*"); wild && strings.HasSuffix(prefix, ".") {
			ok = slices.ContainsFunc(types, func(t string) bool { return strings.HasPrefix(t, prefix) })
		}
		if !ok {
			return invalid("events", "%q is not an event type; use service.*, job.*, * or one of %s", p, strings.Join(types, ", "))
		}
	}
	return nil
}

// CheckWebhookURL allows https:// anywhere and plain http:// only to a loopback address.
func CheckWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return invalid("url", "%q is not a URL; give one like https://billing.example.com/vmmpm-hook", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
			return nil
		}
		return invalid("url", "plain http is allowed only to a loopback address; use https:// for %s", host)
	}
	return invalid("url", "must start with https:// (or http:// to a loopback address)")
}

// WebhookSecretID is the Secrets key of webhook id's signing secret. Module ids are sequence numbers far
// below 2⁶², and job secrets set bit 63, so none of them meet.
func WebhookSecretID(id uint64) uint64 { return webhookSecretBit | id }

// WebhookOfSecret is the webhook whose secret Secrets key id is (ok false for any other key).
func WebhookOfSecret(id uint64) (uint64, bool) {
	return id &^ webhookSecretBit, id&(jobSecretBit|webhookSecretBit|versionBit) == webhookSecretBit
}

const webhookSecretBit = uint64(1) << 62

var (
	bucketWebhooks = []byte("webhooks")
	// bucketOutbox holds the deliveries not yet made, by delivery id (the order they were written in).
	bucketOutbox = []byte("webhook_outbox")
	// bucketDelivered holds the newest MaxDelivered finished deliveries (made, or given up on).
	bucketDelivered = []byte("webhook_delivered")
	// bucketNotified holds each service's status as the last service event said it.
	bucketNotified = []byte("webhook_service_status")
)

// MaxDelivered is how many finished deliveries are kept for webhook deliveries to show.
const MaxDelivered = 10_000

// AddWebhook stores w under a new id.
func AddWebhook(tx *Tx, w *Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	b, err := writeBucket(tx, bucketWebhooks)
	if err != nil {
		return err
	}
	if w.ID, err = b.NextSequence(); err != nil {
		return err
	}
	return putJSON(b, Key(w.ID), w)
}

// Webhooks lists every webhook in id order.
func Webhooks(tx *Tx) ([]*Webhook, error) {
	b := tx.tx.Bucket(bucketWebhooks)
	if b == nil {
		return nil, nil
	}
	var out []*Webhook
	err := b.ForEach(func(k, v []byte) error {
		w := new(Webhook)
		if err := json.Unmarshal(v, w); err != nil {
			return unreadable(tx.tx, bucketWebhooks, k, err)
		}
		out = append(out, w)
		return nil
	})
	return out, err
}

// WebhookCache is Webhooks for a caller that reads them in every commit (the outbox hook): the
// records are compared with the bytes last decoded, and decoded again only when one changed, was
// added or removed. Decoding them took about 40 % of the hook's time inside the one writer's critical
// section. What it returns is shared: read it, never change it. Safe for concurrent use.
type WebhookCache struct {
	mu    sync.Mutex
	raw   [][]byte
	hooks []*Webhook
}

// Webhooks is what Webhooks(tx) would return.
func (c *WebhookCache) Webhooks(tx *Tx) ([]*Webhook, error) {
	b := tx.tx.Bucket(bucketWebhooks)
	if b == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, same := 0, true
	_ = b.ForEach(func(_, v []byte) error {
		same = same && n < len(c.raw) && bytes.Equal(c.raw[n], v)
		n++
		return nil
	})
	if same && n == len(c.raw) {
		return c.hooks, nil
	}
	hooks, err := Webhooks(tx)
	if err != nil {
		return nil, err
	}
	c.raw = c.raw[:0]
	_ = b.ForEach(func(_, v []byte) error {
		c.raw = append(c.raw, bytes.Clone(v))
		return nil
	})
	c.hooks = hooks
	return hooks, nil
}

// GetWebhook is webhook id, or a refusal naming it.
func GetWebhook(tx *Tx, id uint64) (*Webhook, error) {
	ws, err := Webhooks(tx)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.ID == id {
			return w, nil
		}
	}
	return nil, &ValidationError{Field: FieldRecord, Rule: fmt.Sprintf("there is no webhook %d; see vmmpm webhook list", id)}
}

// RemoveWebhook deletes webhook id and the deliveries it still had pending.
func RemoveWebhook(tx *Tx, id uint64) (*Webhook, error) {
	w, err := GetWebhook(tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.tx.Bucket(bucketWebhooks).Delete(Key(id)); err != nil {
		return nil, err
	}
	if err := deleteSecretCheck(tx, id); err != nil {
		return nil, err
	}
	ob := tx.tx.Bucket(bucketOutbox)
	if ob == nil {
		return w, nil
	}
	var drop [][]byte
	err = ob.ForEach(func(k, v []byte) error {
		var d Delivery
		if decodeDelivery(v, &d) == nil && d.Webhook == id {
			drop = append(drop, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range drop {
		if err == nil {
			err = ob.Delete(k)
		}
	}
	return w, err
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryGaveUp    = "gave_up"
)

// Delivery is one event for one webhook: written to the outbox in the transaction of the change that
// caused it, sent until the receiver answers 2xx, then kept a while among the delivered.
type Delivery struct {
	ID      uint64 `json:"id"` // what the Vmmpm-Delivery header carries; unique, and the same on every retry
	Webhook uint64 `json:"webhook_id"`
	Event   string `json:"event"`
	// Service orders deliveries: one service's events reach a receiver in the order they happened.
	Service     uint64          `json:"service_id,omitempty"`
	Body        json.RawMessage `json:"body"`
	State       string          `json:"state"`
	CreatedAt   time.Time       `json:"created_at"`
	Attempts    int             `json:"attempts"`
	NextAt      time.Time       `json:"next_at,omitzero"`
	LastStatus  int             `json:"last_status,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	DeliveredAt time.Time       `json:"delivered_at,omitzero"`

	// Frozen, when set instead of Body, is the event as the commit that caused it left things, in the
	// webhook package's compact form: the payload is built from it when it is sent, outside the commit.
	Frozen []byte `json:"-"`
}

// AddDeliveries writes one pending delivery of event ev (about service, 0 for none) for each of hooks
// that wants it, and returns their ids.
func AddDeliveries(tx *Tx, hooks []*Webhook, ev string, service uint64, body []byte, at time.Time) ([]uint64, error) {
	return addDeliveries(tx, hooks, Delivery{Event: ev, Service: service, Body: body, CreatedAt: at})
}

// AddFrozenDeliveries is AddDeliveries for an event frozen (Delivery.Frozen) rather than rendered.
func AddFrozenDeliveries(tx *Tx, hooks []*Webhook, ev string, service uint64, frozen []byte, at time.Time) ([]uint64, error) {
	return addDeliveries(tx, hooks, Delivery{Event: ev, Service: service, Frozen: frozen, CreatedAt: at})
}

// addDeliveries writes a pending copy of d for each of hooks that wants its event.
func addDeliveries(tx *Tx, hooks []*Webhook, d Delivery) ([]uint64, error) {
	var ids []uint64
	var b interface {
		NextSequence() (uint64, error)
		Put([]byte, []byte) error
	}
	for _, w := range hooks {
		if !w.Wants(d.Event) {
			continue
		}
		if b == nil {
			ob, err := writeBucket(tx, bucketOutbox)
			if err != nil {
				return nil, err
			}
			b = ob
		}
		id, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		d.ID, d.Webhook, d.State = id, w.ID, DeliveryPending
		if err := putDelivery(b, &d); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// PendingDeliveries calls fn for each pending delivery with an id above after, in id order, until fn
// returns false.
func PendingDeliveries(tx *Tx, after uint64, fn func(*Delivery) bool) error {
	b := tx.tx.Bucket(bucketOutbox)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(Key(after + 1)); k != nil; k, v = c.Next() {
		d := new(Delivery)
		if err := decodeDelivery(v, d); err != nil {
			return unreadable(tx.tx, bucketOutbox, k, err)
		}
		if !fn(d) {
			return nil
		}
	}
	return nil
}

// UpdateDelivery records a failed attempt of a pending delivery (nothing when it is gone: its webhook
// was removed).
func UpdateDelivery(tx *Tx, d *Delivery) error {
	b := tx.tx.Bucket(bucketOutbox)
	if b == nil || b.Get(Key(d.ID)) == nil {
		return nil
	}
	return putDelivery(b, d)
}

// FinishDelivery moves d from the outbox to the delivered (d.State says how it ended; its body is not
// kept), keeping the newest MaxDelivered there.
func FinishDelivery(tx *Tx, d *Delivery) error {
	ob := tx.tx.Bucket(bucketOutbox)
	if ob == nil || ob.Get(Key(d.ID)) == nil {
		return nil
	}
	if err := ob.Delete(Key(d.ID)); err != nil {
		return err
	}
	b, err := writeBucket(tx, bucketDelivered)
	if err != nil {
		return err
	}
	kept := *d
	kept.Body, kept.Frozen = nil, nil // the history says what happened; the payload was the receiver's
	if err := putDelivery(b, &kept); err != nil {
		return err
	}
	if d.ID%256 != 0 { // counting walks the bucket: now and then is enough to keep it bounded
		return nil
	}
	if n := b.KeyN(); n > MaxDelivered {
		left := n - MaxDelivered
		return deleteFirst(b, func([]byte) bool { left--; return left >= 0 })
	}
	return nil
}

// Deliveries lists the pending deliveries, then the newest finished ones up to limit in all (0: no
// limit), keeping those keep accepts.
func Deliveries(tx *Tx, keep func(*Delivery) bool, limit int) ([]Delivery, error) {
	var out []Delivery
	full := func() bool { return limit > 0 && len(out) >= limit }
	err := PendingDeliveries(tx, 0, func(d *Delivery) bool {
		if keep == nil || keep(d) {
			out = append(out, *d)
		}
		return !full()
	})
	if err != nil || full() {
		return out, err
	}
	if b := tx.tx.Bucket(bucketDelivered); b != nil {
		c := b.Cursor()
		for k, v := c.Last(); k != nil && !full(); k, v = c.Prev() {
			var d Delivery
			if err := decodeDelivery(v, &d); err != nil {
				return nil, unreadable(tx.tx, bucketDelivered, k, err)
			}
			if keep == nil || keep(&d) {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// ServiceRecord is a copy of service id's record as stored (nil when there is none): the outbox keeps
// it as the commit left it without decoding it inside the engine's transaction.
func ServiceRecord(tx *Tx, id uint64) ([]byte, error) {
	var v []byte
	err := tx.within(bucketServices, func() error {
		v = append([]byte(nil), tx.tx.Bucket(bucketServices).Get(Key(id))...)
		return nil
	})
	if len(v) == 0 {
		v = nil
	}
	return v, err
}

// Notified is the status the last service event said service id had ("" when none was said).
func Notified(tx *Tx, id uint64) string {
	if b := tx.tx.Bucket(bucketNotified); b != nil {
		return string(b.Get(Key(id)))
	}
	return ""
}

// SetNotified records the status the service event just written says.
func SetNotified(tx *Tx, id uint64, status string) error {
	b, err := writeBucket(tx, bucketNotified)
	if err != nil {
		return err
	}
	return b.Put(Key(id), []byte(status))
}
