package webhook

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
	// RecordEvery is how long outcomes are gathered before they are written in one transaction, which
	// joins the engine's next commit (default 2 ms). Short is better for the engine: a period's worth
	// of outcomes makes its commit, and every lane waiting on it, that much slower (50 ms cost 6 % of
	// jobs/s at 20 ms an operation, BenchmarkEngineWithWebhook); and the deliverer posts nothing while
	// it writes, so when commits are slow it yields to the engine and catches up after. A crash in
	// between only sends those deliveries again.
	RecordEvery time.Duration
	// Write runs the deliverer's bookkeeping in a write transaction (the engine's WriteAlong, so it
	// shares the jobs' commits); nil: a transaction of its own.
	Write func(fn func(*store.Tx)) error
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
	if o.RecordEvery <= 0 {
		o.RecordEvery = 2 * time.Millisecond
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
		tr.DisableCompression = true // a receiver's answer is read only to keep the connection
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

	mu      sync.Mutex
	targets map[uint64]*target // webhook id → what its deliveries share, read once
}

// target is what every delivery to one webhook shares: its secret (read from the keyring once), its
// parsed URL and the headers that do not change, so an attempt builds only what is its own.
type target struct {
	// lacks: the keyring could not give the secret (asked again after until); the rest is unset.
	lacks  error
	until  time.Time
	rawURL string
	url    *url.URL
	secret string
	header http.Header
	macs   sync.Pool // HMACs keyed by the secret: keying one anew hashed the key's pads every time
}

func (t *target) sign(unix int64, body []byte) string {
	m, _ := t.macs.Get().(hash.Hash)
	if m == nil {
		m = newMAC(t.secret)
	}
	defer t.macs.Put(m)
	m.Reset()
	return signWith(m, unix, body)
}

// New makes a deliverer for db's outbox; Run runs it.
func New(db *store.DB, secrets store.Secrets, opt Options) *Deliverer {
	opt.defaults()
	if opt.Write == nil {
		opt.Write = func(fn func(*store.Tx)) error {
			return db.Update(func(tx *store.Tx) error { fn(tx); return nil })
		}
	}
	return &Deliverer{db: db, secrets: secrets, opt: opt, wake: make(chan struct{}, 1), targets: map[uint64]*target{}}
}

// Notify says the outbox may have grown (a commit wrote to it): Run looks at once instead of at its
// next poll.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Forget drops what the deliverer remembers of webhook id (its secret, URL and headers), after it was
// removed or changed.
func (d *Deliverer) Forget(id uint64) {
	d.mu.Lock()
	delete(d.targets, id)
	d.mu.Unlock()
}

// lane is the deliveries of one service to one webhook, in outbox order (or one delivery about no
// service): only its head is ever in flight.
type lane struct {
	items    []*store.Delivery
	inflight bool
	// scheduled: the lane is in the ready queue or the waiting heap (at most once in either).
	scheduled bool
}

type laneKey struct{ hook, service, solo uint64 }

func keyOf(dl *store.Delivery) laneKey {
	if dl.Service == 0 {
		return laneKey{hook: dl.Webhook, solo: dl.ID}
	}
	return laneKey{hook: dl.Webhook, service: dl.Service}
}

// task is one attempt for a worker to make.
type task struct {
	key laneKey
	w   store.Webhook
	dl  *store.Delivery
}

type result struct {
	key    laneKey
	dl     *store.Delivery
	status int
	err    error
	at     time.Time
	// local: nothing was sent, for want of what only this host gives (the webhook's secret in its
	// keyring): no attempt is counted and the delivery is never given up for it.
	local bool
}

// waiting is a min-heap of lanes whose head waits out a backoff, by when it may go.
type waiting []waiter

type waiter struct {
	at  time.Time
	key laneKey
}

func (w waiting) Len() int           { return len(w) }
func (w waiting) Less(i, j int) bool { return w[i].at.Before(w[j].at) }
func (w waiting) Swap(i, j int)      { w[i], w[j] = w[j], w[i] }
func (w *waiting) Push(x any)        { *w = append(*w, x.(waiter)) }
func (w *waiting) Pop() any {
	old := *w
	x := old[len(old)-1]
	*w = old[:len(old)-1]
	return x
}

// run is Run's state, owned by its goroutine: the lanes, those whose head may go now (ready, in
// order), those waiting out a backoff, and the webhooks as last read.
type run struct {
	lanes map[laneKey]*lane
	ready []laneKey
	wait  waiting
	hooks map[uint64]store.Webhook
	last  uint64 // the newest delivery id read from the outbox
}

// schedule puts lane k where its head belongs: ready now, or waiting until its next try.
func (r *run) schedule(k laneKey, l *lane, now time.Time) {
	if l.scheduled || l.inflight || len(l.items) == 0 {
		return
	}
	l.scheduled = true
	if at := l.items[0].NextAt; at.After(now) {
		heap.Push(&r.wait, waiter{at: at, key: k})
		return
	}
	r.ready = append(r.ready, k)
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) error {
	r := &run{lanes: map[laneKey]*lane{}, hooks: map[uint64]store.Webhook{}}
	results := make(chan result, d.opt.Workers)
	tasks := make(chan task, d.opt.Workers)
	defer close(tasks)
	for range d.opt.Workers { // long-lived: a goroutine per attempt grew its stack anew every time
		go func() {
			for t := range tasks {
				results <- d.attemptSafely(ctx, t.key, t.w, t.dl)
			}
		}()
	}
	busy := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	var unwritten []*store.Delivery // outcomes not written yet
	var writeBy <-chan time.Time
	defer func() { d.write(unwritten) }()
	reload := true
	for {
		if reload {
			if err := d.load(r); err != nil {
				d.opt.Logger.Error("cannot read the webhook outbox", "error", err.Error())
			}
			reload = false
		}
		now := d.opt.Now()
		for len(r.wait) > 0 && !r.wait[0].at.After(now) {
			w := heap.Pop(&r.wait).(waiter)
			r.ready = append(r.ready, w.key)
		}
		for busy < d.opt.Workers && len(r.ready) > 0 {
			k := r.ready[0]
			r.ready = r.ready[1:]
			l := r.lanes[k]
			if l == nil {
				continue
			}
			l.scheduled = false
			w, ok := r.hooks[k.hook]
			if !ok { // its webhook was removed, and its deliveries with it
				delete(r.lanes, k)
				continue
			}
			if l.inflight || len(l.items) == 0 {
				continue
			}
			if l.items[0].NextAt.After(now) {
				r.schedule(k, l, now)
				continue
			}
			head := l.items[0]
			l.inflight, busy = true, busy+1
			tasks <- task{key: k, w: w, dl: head}
		}
		next := d.opt.Poll
		if len(r.wait) > 0 {
			next = min(next, time.Until(r.wait[0].at))
		}
		if len(r.ready) > 0 && busy < d.opt.Workers {
			next = 0
		}
		timer.Reset(max(next, time.Millisecond))
		select {
		case <-ctx.Done():
			for ; busy > 0; busy-- {
				<-results
			}
			return nil
		case <-d.wake:
			reload = true
			continue
		case <-timer.C:
			reload = len(r.ready) == 0 // a poll, not a lane waiting for a free worker
			continue
		case <-writeBy:
			d.write(unwritten)
			unwritten, writeBy = nil, nil
			continue
		case res := <-results:
			batch := []result{res}
			for more := true; more; {
				select {
				case res := <-results:
					batch = append(batch, res)
				default:
					more = false
				}
			}
			busy -= len(batch)
			if ctx.Err() != nil {
				continue // cut short by the stop, not by the receiver: nothing to record
			}
			unwritten = append(unwritten, d.record(batch, r)...)
			if writeBy == nil {
				writeBy = time.After(d.opt.RecordEvery)
			}
		}
	}
}

// load reads the webhooks and the deliveries written since the last one read into their lanes.
func (d *Deliverer) load(r *run) error {
	now := d.opt.Now()
	return d.db.View(func(tx *store.Tx) error {
		ws, err := store.Webhooks(tx)
		if err != nil {
			return err
		}
		clear(r.hooks)
		for _, w := range ws {
			r.hooks[w.ID] = *w
		}
		return store.PendingDeliveries(tx, r.last, func(dl *store.Delivery) bool {
			r.last = dl.ID
			k := keyOf(dl)
			l := r.lanes[k]
			if l == nil {
				l = &lane{}
				r.lanes[k] = l
			}
			l.items = append(l.items, dl)
			r.schedule(k, l, now)
			return true
		})
	})
}

// record applies attempts' outcomes to the lanes: a made delivery leaves its lane (the next one may
// go), a failed one waits out its backoff at the head. It returns the deliveries to write.
func (d *Deliverer) record(batch []result, r *run) []*store.Delivery {
	var out []*store.Delivery
	for _, res := range batch {
		l := r.lanes[res.key]
		if l != nil {
			l.inflight = false
		}
		dl := *res.dl
		if res.local {
			if dl.LastError != res.err.Error() { // written and logged once, not at every poll
				d.opt.Logger.Warn("webhook delivery waits for this host's keyring", "delivery", dl.ID, "webhook", dl.Webhook, "error", res.err.Error())
				dl.LastError = res.err.Error()
				out = append(out, &dl)
			}
			dl.NextAt = res.at.Add(d.opt.Poll)
			if l != nil && len(l.items) > 0 && l.items[0].ID == dl.ID {
				l.items[0] = &dl
				r.schedule(res.key, l, res.at)
			}
			continue
		}
		dl.Attempts++
		dl.LastStatus = res.status
		if res.err == nil {
			dl.State, dl.DeliveredAt, dl.NextAt, dl.LastError = store.DeliveryDelivered, res.at, time.Time{}, ""
		} else {
			dl.LastError = res.err.Error()
			if res.at.Sub(dl.CreatedAt) >= d.opt.GiveUpAfter {
				dl.State, dl.NextAt = store.DeliveryGaveUp, time.Time{}
				d.opt.Logger.Error("webhook delivery given up", "delivery", dl.ID, "webhook", dl.Webhook, "event", dl.Event,
					"attempts", dl.Attempts, "error", dl.LastError)
			} else {
				dl.NextAt = res.at.Add(d.backoff(dl.Attempts))
				d.opt.Logger.Warn("webhook delivery failed; will retry", "delivery", dl.ID, "webhook", dl.Webhook,
					"event", dl.Event, "attempt", dl.Attempts, "next", dl.NextAt.Format(time.RFC3339), "error", dl.LastError)
			}
		}
		out = append(out, &dl)
		if l == nil || len(l.items) == 0 || l.items[0].ID != dl.ID {
			continue
		}
		if dl.State == store.DeliveryPending {
			l.items[0] = &dl
		} else {
			l.items[0] = nil
			l.items = l.items[1:]
			if len(l.items) == 0 {
				delete(r.lanes, res.key)
				continue
			}
		}
		r.schedule(res.key, l, res.at)
	}
	return out
}

// write records outcomes in one transaction: a finished delivery moves to the delivered, a failed one
// keeps its attempts, last error and next try in the outbox.
// What is not written stays in the outbox as it was: it is sent again (at least once).
func (d *Deliverer) write(dls []*store.Delivery) {
	if len(dls) == 0 {
		return
	}
	if err := d.opt.Write(func(tx *store.Tx) { d.writeIn(tx, dls) }); err != nil {
		d.opt.Logger.Error("cannot record webhook deliveries", "error", err.Error())
	}
}

func (d *Deliverer) writeIn(tx *store.Tx, dls []*store.Delivery) {
	for _, dl := range dls {
		var err error
		if dl.State == store.DeliveryPending {
			err = store.UpdateDelivery(tx, dl)
		} else {
			err = store.FinishDelivery(tx, dl)
		}
		if err != nil {
			d.opt.Logger.Error("cannot record a webhook delivery", "delivery", dl.ID, "error", err.Error())
		}
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

// attemptSafely is attempt with a panic turned into a failed attempt (and a crash report): Run counts
// on one result per attempt it started.
func (d *Deliverer) attemptSafely(ctx context.Context, k laneKey, w store.Webhook, dl *store.Delivery) (r result) {
	defer func() {
		if err := store.Recovered(recover()); err != nil {
			r = result{key: k, dl: dl, err: err, at: d.opt.Now()}
		}
	}()
	return d.attempt(ctx, k, w, dl)
}

// attempt posts one delivery.
func (d *Deliverer) attempt(ctx context.Context, k laneKey, w store.Webhook, dl *store.Delivery) result {
	r := result{key: k, dl: dl}
	t, err := d.target(w)
	if err != nil {
		r.err, r.at, r.local = err, d.opt.Now(), errors.Is(err, errNoSecret)
		return r
	}
	body, err := Body(dl)
	if err != nil {
		r.err = fmt.Errorf("its payload cannot be built: %w", err)
		r.at = d.opt.Now()
		return r
	}
	actx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	resp, err := d.opt.Client.Do(t.request(actx, dl, body, d.opt.Now().Unix()))
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

// request is the POST of delivery dl with body, signed at unix: what http.NewRequestWithContext
// makes, from the URL parsed once.
func (t *target) request(ctx context.Context, dl *store.Delivery, body []byte, unix int64) *http.Request {
	h := make(http.Header, len(t.header)+3)
	maps.Copy(h, t.header)
	h[HeaderDelivery] = []string{strconv.FormatUint(dl.ID, 10)}
	h[HeaderEvent] = []string{dl.Event}
	h[HeaderSignature] = []string{t.sign(unix, body)}
	u := *t.url
	req := &http.Request{Method: http.MethodPost, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Host: u.Host,
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }}
	return req.WithContext(ctx)
}

// target is what deliveries to w share, made on its first delivery (and again after Forget, or when
// its URL changed).
func (d *Deliverer) target(w store.Webhook) (*target, error) {
	d.mu.Lock()
	t, ok := d.targets[w.ID]
	d.mu.Unlock()
	if ok && t.rawURL == w.URL {
		if t.lacks != nil && d.opt.Now().Before(t.until) {
			return nil, t.lacks // one keyring read per poll for all of the webhook's lanes
		}
		if t.lacks == nil {
			return t, nil
		}
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return nil, err
	}
	u.Host = strings.TrimSuffix(u.Host, ":") // as http.NewRequest has it: an empty port is none
	secret, err := d.secrets.Get(store.WebhookSecretID(w.ID))
	// Another secret than the webhook was added with would sign every delivery so that billing refuses it.
	if err == nil && !d.db.SecretMatches(w.ID, secret) {
		err = errWrongSecret
	}
	if err != nil {
		lacks := secretError(w.ID, err)
		d.mu.Lock()
		d.targets[w.ID] = &target{rawURL: w.URL, lacks: lacks, until: d.opt.Now().Add(d.opt.Poll)}
		d.mu.Unlock()
		return nil, lacks
	}
	t = &target{rawURL: w.URL, url: u, secret: secret, header: http.Header{
		"Content-Type": {"application/json"}, "User-Agent": {"vmmpm/" + d.opt.Version}}}
	d.mu.Lock()
	d.targets[w.ID] = t
	d.mu.Unlock()
	return t, nil
}

// errWrongSecret: this host's keyring holds a secret for the webhook other than the one it was added with.
var errWrongSecret = errors.New("another secret than the webhook's")

// errNoSecret marks a delivery this host cannot sign: its keyring does not give the webhook's secret
// (another host of a shared database made the webhook, or the keyring is locked).
var errNoSecret = errors.New("no webhook secret in this host's keyring")

// noSecret is errNoSecret with the sentence an admin reads in webhook deliveries.
type noSecret struct{ msg string }

func (e *noSecret) Error() string        { return e.msg }
func (e *noSecret) Is(target error) bool { return target == errNoSecret }

func secretError(id uint64, err error) error {
	why := fmt.Sprintf("cannot give webhook %d's secret (%v)", id, err)
	switch {
	case errors.Is(err, store.ErrSecretNotFound):
		why = fmt.Sprintf("lacks webhook %d's secret", id)
	case errors.Is(err, errWrongSecret):
		why = fmt.Sprintf("holds another secret for webhook %d than the one it was added with, which billing checks signatures with", id)
	}
	return &noSecret{fmt.Sprintf("this host's keyring %s, so nothing was sent; give it here with vmmpm webhook secret %d --secret-file FILE (the secret given to, or printed by, webhook add)", why, id)}
}
