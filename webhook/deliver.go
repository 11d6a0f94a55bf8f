package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"vmmpm/store"
)

// Options tune a Deliverer; the zero value is what the product uses.
type Options struct {
	// Workers is how many deliveries are in flight at once, over all webhooks (default 16).
	Workers int
	// Timeout bounds one attempt: connecting, sending, and the receiver's answer (default 10 s).
	Timeout time.Duration
	// FirstRetry is the pause after a first failed attempt; each further failure doubles it, up to
	// MaxRetry (defaults 1 s and 10 min), with ±10% jitter.
	FirstRetry, MaxRetry time.Duration
	// GiveUpAfter is how long after its event a delivery is tried before it is given up (default 72 h:
	// a receiver down for a weekend still gets everything).
	GiveUpAfter time.Duration
	// Poll is how often the outbox is read when nothing said it changed (default 1 s).
	Poll time.Duration
	// Version goes into the User-Agent.
	Version string
	Logger  *slog.Logger
	Now     func() time.Time
	Client  *http.Client
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.FirstRetry <= 0 {
		o.FirstRetry = time.Second
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = 10 * time.Minute
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 72 * time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Workers
		o.Client = &http.Client{Transport: tr,
			// a redirect is an answer that is not 2xx: the event is not where it was sent
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
}

// Deliverer posts the outbox's deliveries: at least once each, one service's events in the order they
// happened (a delivery waits until the ones before it for the same service and webhook are made), with
// retries and backoff, and the outcome of each attempt kept in the database.
type Deliverer struct {
	db      *store.DB
	secrets store.Secrets
	opt     Options
	wake    chan struct{}

	mu   sync.Mutex
	keys map[uint64]string // webhook id → secret, read from the keyring once
}

// New makes a deliverer for db's outbox; Run runs it.
func New(db *store.DB, secrets store.Secrets, opt Options) *Deliverer {
	opt.defaults()
	return &Deliverer{db: db, secrets: secrets, opt: opt, wake: make(chan struct{}, 1), keys: map[uint64]string{}}
}

// Notify says the outbox may have grown (a commit wrote to it): Run looks at once instead of at its
// next poll.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Forget drops what the deliverer remembers of webhook id (its secret), after it was removed or changed.
func (d *Deliverer) Forget(id uint64) {
	d.mu.Lock()
	delete(d.keys, id)
	d.mu.Unlock()
}

// lane is the deliveries of one service to one webhook, in outbox order (or one delivery about no
// service): only its head is ever in flight.
type lane struct {
	items    []*store.Delivery
	inflight bool
}

type laneKey struct{ hook, service, solo uint64 }

func keyOf(dl *store.Delivery) laneKey {
	if dl.Service == 0 {
		return laneKey{hook: dl.Webhook, solo: dl.ID}
	}
	return laneKey{hook: dl.Webhook, service: dl.Service}
}

type result struct {
	key    laneKey
	dl     *store.Delivery
	status int
	err    error
	at     time.Time
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	lanes := map[laneKey]*lane{}
	results := make(chan result, d.opt.Workers)
	busy := 0
	var last uint64
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		hooks, err := d.load(&last, lanes)
		if err != nil {
			d.opt.Logger.Error("cannot read the webhook outbox", "error", err.Error())
		}
		next := d.opt.Now().Add(d.opt.Poll)
		now := d.opt.Now()
		for k, l := range lanes {
			if _, ok := hooks[k.hook]; !ok && err == nil && !l.inflight {
				delete(lanes, k) // its webhook was removed, and its deliveries with it
				continue
			}
			if l.inflight || len(l.items) == 0 {
				continue
			}
			head := l.items[0]
			if head.NextAt.After(now) {
				if head.NextAt.Before(next) {
					next = head.NextAt
				}
				continue
			}
			w, ok := hooks[k.hook]
			if !ok || busy >= d.opt.Workers {
				continue
			}
			l.inflight, busy = true, busy+1
			go func() { results <- d.attempt(ctx, k, w, head) }()
		}
		timer.Reset(max(time.Until(next), time.Millisecond))
		select {
		case <-ctx.Done():
			for ; busy > 0; busy-- {
				<-results
			}
			return nil
		case <-d.wake:
			continue
		case <-timer.C:
			continue
		case r := <-results:
			batch := []result{r}
			for more := true; more; {
				select {
				case r := <-results:
					batch = append(batch, r)
				default:
					more = false
				}
			}
			busy -= len(batch)
			if ctx.Err() != nil {
				continue // cut short by the stop, not by the receiver: nothing to record
			}
			d.record(batch, lanes)
		}
	}
}

// load reads the webhooks and the deliveries written since last into lanes.
func (d *Deliverer) load(last *uint64, lanes map[laneKey]*lane) (map[uint64]store.Webhook, error) {
	hooks := map[uint64]store.Webhook{}
	err := d.db.View(func(tx *store.Tx) error {
		ws, err := store.Webhooks(tx)
		if err != nil {
			return err
		}
		for _, w := range ws {
			hooks[w.ID] = *w
		}
		return store.PendingDeliveries(tx, *last, func(dl *store.Delivery) bool {
			*last = dl.ID
			k := keyOf(dl)
			l := lanes[k]
			if l == nil {
				l = &lane{}
				lanes[k] = l
			}
			l.items = append(l.items, dl)
			return true
		})
	})
	return hooks, err
}

// record applies attempts' outcomes: a made delivery leaves its lane (the next one may go), a failed one
// waits out its backoff at the head; both are written in one transaction.
func (d *Deliverer) record(batch []result, lanes map[laneKey]*lane) {
	var finished, failed []*store.Delivery
	for _, r := range batch {
		l := lanes[r.key]
		if l != nil {
			l.inflight = false
		}
		dl := *r.dl
		dl.Attempts++
		dl.LastStatus = r.status
		if r.err == nil {
			dl.State, dl.DeliveredAt, dl.NextAt, dl.LastError = store.DeliveryDelivered, r.at, time.Time{}, ""
		} else {
			dl.LastError = r.err.Error()
			if r.at.Sub(dl.CreatedAt) >= d.opt.GiveUpAfter {
				dl.State, dl.NextAt = store.DeliveryGaveUp, time.Time{}
				d.opt.Logger.Error("webhook delivery given up", "delivery", dl.ID, "webhook", dl.Webhook, "event", dl.Event,
					"attempts", dl.Attempts, "error", dl.LastError)
			} else {
				dl.NextAt = r.at.Add(d.backoff(dl.Attempts))
				d.opt.Logger.Warn("webhook delivery failed; will retry", "delivery", dl.ID, "webhook", dl.Webhook,
					"event", dl.Event, "attempt", dl.Attempts, "next", dl.NextAt.Format(time.RFC3339), "error", dl.LastError)
			}
		}
		if dl.State == store.DeliveryPending {
			failed = append(failed, &dl)
		} else {
			finished = append(finished, &dl)
		}
		if l != nil && len(l.items) > 0 && l.items[0].ID == dl.ID {
			if dl.State == store.DeliveryPending {
				l.items[0] = &dl
			} else {
				l.items[0] = nil
				l.items = l.items[1:]
				if len(l.items) == 0 {
					delete(lanes, r.key)
				}
			}
		}
	}
	err := d.db.Update(func(tx *store.Tx) error {
		for _, dl := range finished {
			if err := store.FinishDelivery(tx, dl); err != nil {
				return err
			}
		}
		for _, dl := range failed {
			if err := store.UpdateDelivery(tx, dl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil { // the outbox still holds them: they are sent again after a restart (at least once)
		d.opt.Logger.Error("cannot record webhook deliveries", "error", err.Error())
	}
}

func (d *Deliverer) backoff(attempts int) time.Duration {
	b := d.opt.FirstRetry
	for i := 1; i < attempts && b < d.opt.MaxRetry; i++ {
		b *= 2
	}
	b = min(b, d.opt.MaxRetry)
	return time.Duration(float64(b) * (0.9 + 0.2*rand.Float64()))
}

// attempt posts one delivery.
func (d *Deliverer) attempt(ctx context.Context, k laneKey, w store.Webhook, dl *store.Delivery) result {
	r := result{key: k, dl: dl}
	secret, err := d.secret(w.ID)
	if err != nil {
		r.err = fmt.Errorf("its secret cannot be read: %w", err)
		r.at = d.opt.Now()
		return r
	}
	actx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, w.URL, bytes.NewReader(dl.Body))
	if err != nil {
		r.err, r.at = err, d.opt.Now()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vmmpm/"+d.opt.Version)
	req.Header.Set(HeaderDelivery, strconv.FormatUint(dl.ID, 10))
	req.Header.Set(HeaderEvent, dl.Event)
	req.Header.Set(HeaderSignature, Sign(secret, d.opt.Now().Unix(), dl.Body))
	resp, err := d.opt.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", d.opt.Timeout)
		}
		r.err, r.at = fmt.Errorf("the receiver did not answer: %w", err), d.opt.Now()
		return r
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	r.status, r.at = resp.StatusCode, d.opt.Now()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.err = fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return r
}

func (d *Deliverer) secret(id uint64) (string, error) {
	d.mu.Lock()
	s, ok := d.keys[id]
	d.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := d.secrets.Get(store.WebhookSecretID(id))
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	d.keys[id] = s
	d.mu.Unlock()
	return s, nil
}
