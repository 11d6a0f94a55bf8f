package backend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/webhook"
)

// The calls behind the HTTPS API, tokens, webhooks and the audit trail.

// Reasons the API refuses a caller, for errors.Is (the API answers 401 and 403).
var (
	ErrUnauthenticated = errors.New("no valid token")
	ErrForbidden       = errors.New("the token's role does not allow this")
	// ErrIdempotencyReused: an Idempotency-Key came back with another request than its first.
	ErrIdempotencyReused = errors.New("idempotency key reused for another request")
)

// Idempotency is an idempotency key with what identifies the request it came with.
type Idempotency struct {
	Key string `json:"key"`
	// Request is a digest of the call and its body: the same key with another digest is refused.
	Request string `json:"request"`
	// Call names the call in sentences ("POST /api/v1/services").
	Call string `json:"call"`
}

func (in *Idempotency) check() error {
	if in == nil {
		return nil
	}
	if in.Key == "" || len(in.Key) > store.MaxIdempotencyKey {
		return &store.ValidationError{Field: "Idempotency-Key", Rule: fmt.Sprintf("must be 1 to %d characters", store.MaxIdempotencyKey)}
	}
	return nil
}

// OrderRequest is CreateServices as billing calls it.
type OrderRequest struct {
	Tariff      string `json:"tariff"` // id or name
	Count       int    `json:"count"`  // 0 is 1
	ClientEmail string `json:"client_email"`
	// ExternalID is billing's own id of the service; no two services have the same one (so count is 1).
	ExternalID  string       `json:"external_id,omitempty"`
	Idempotency *Idempotency `json:"idempotency,omitempty"`
}

// Placed is what Order made: the tariff and each service with the job that opens it. Replayed: the
// answer is the first one again, for a repeated idempotency key, and nothing was made this time.
type Placed struct {
	Tariff   store.Tariff    `json:"tariff"`
	Services []PlacedService `json:"services"`
	Replayed bool            `json:"replayed,omitempty"`
}

// PlacedService is one service of an order and the job that opens it.
type PlacedService struct {
	Service store.Service `json:"service"`
	Job     store.Job     `json:"job"`
}

// OperateRequest runs an operation (a queue.Operations entry) on a service.
type OperateRequest struct {
	Service     uint64            `json:"service"`
	Type        string            `json:"type"`
	Args        map[string]string `json:"args,omitempty"`
	Idempotency *Idempotency      `json:"idempotency,omitempty"`
}

// Job actions of JobActionRequest.
const (
	ActionCancel = "cancel"
	ActionRetry  = "retry"
)

// JobActionRequest cancels or retries a job.
type JobActionRequest struct {
	Job         uint64       `json:"job"`
	Action      string       `json:"action"`
	Idempotency *Idempotency `json:"idempotency,omitempty"`
}

// Operated is the job an operation or a job action left, as it was then.
type Operated struct {
	Job      store.Job `json:"job"`
	Replayed bool      `json:"replayed,omitempty"`
}

// ServiceQuery filters and pages services; zero fields match everything.
type ServiceQuery struct {
	ExternalID  string `json:"external_id,omitempty"`
	Status      string `json:"status,omitempty"`
	ClientEmail string `json:"client_email,omitempty"`
	Tariff      uint64 `json:"tariff,omitempty"`
	// After is the last id of the previous page; Limit is the page's size (default 100, at most 1000).
	After uint64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// ServicePage is one page of services in id order; Next is the After of the next page (0: none).
type ServicePage struct {
	Services []store.Service `json:"services"`
	Next     uint64          `json:"next,omitempty"`
}

// JobPageQuery filters and pages jobs; zero fields match everything.
type JobPageQuery struct {
	Service uint64 `json:"service,omitempty"`
	State   string `json:"state,omitempty"`
	After   uint64 `json:"after,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// JobPage is one page of jobs in id order; Next is the After of the next page (0: none).
type JobPage struct {
	Jobs []store.Job `json:"jobs"`
	Next uint64      `json:"next,omitempty"`
}

// Page sizes of ServiceQuery and JobPageQuery.
const (
	DefaultPage = 100
	MaxPage     = 1000
)

// TokenRequest makes an API token.
type TokenRequest struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
}

// TokenAdded is the token made: Secret is the token itself, shown this once and kept nowhere.
type TokenAdded struct {
	Token  store.Token `json:"token"`
	Secret string      `json:"secret"`
}

// WebhookRequest adds a webhook. Secret is the signing secret; empty: one is generated.
type WebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret,omitempty"`
}

// WebhookAdded is the webhook made; Secret is the generated secret (shown this once), empty when it
// was given.
type WebhookAdded struct {
	Webhook store.Webhook `json:"webhook"`
	Secret  string        `json:"secret,omitempty"`
}

// DeliveryQuery filters webhook deliveries: the pending ones first, then the newest finished ones.
type DeliveryQuery struct {
	// Failed keeps deliveries with at least one failed attempt (and those given up).
	Failed  bool   `json:"failed,omitempty"`
	Webhook uint64 `json:"webhook,omitempty"`
	ID      uint64 `json:"id,omitempty"`
	Limit   int    `json:"limit,omitempty"` // default 100
}

// AuditQuery filters the audit trail; zero fields match everything.
type AuditQuery struct {
	Since time.Time `json:"since,omitzero"`
	// Actor keeps entries whose actor contains it, in any case ("billing-prod", "uid 1000").
	Actor string `json:"actor,omitempty"`
	Limit int    `json:"limit,omitempty"` // the newest Limit (0: all)
}

// MinWebhookSecret is the shortest signing secret a webhook may be given.
const MinWebhookSecret = 16

// ---- Local ----

// scope is who an idempotency key belongs to: keys of different callers never meet.
func scope(ctx context.Context) string {
	c := CallerOf(ctx)
	return c.Via + ":" + c.String()
}

// remembered is the first answer to in's key, decoded into out; ok is false when the key is new.
func (l *Local) remembered(ctx context.Context, tx *store.Tx, in *Idempotency, out any) (ok bool, err error) {
	if in == nil {
		return false, nil
	}
	rec, err := store.GetIdempotent(tx, scope(ctx), in.Key)
	if err != nil || rec == nil {
		return false, err
	}
	if rec.Request != in.Request {
		return false, store.Classed(ErrIdempotencyReused, fmt.Sprintf(
			"Idempotency-Key %q was first used at %s for another request (%s with a different body); send a new key for a new request",
			in.Key, rec.At.UTC().Format(time.RFC3339), rec.Call))
	}
	return true, json.Unmarshal(rec.Result, out)
}

func (l *Local) lookup(ctx context.Context, in *Idempotency, out any) (ok bool, err error) {
	if in == nil {
		return false, nil
	}
	err = l.DB.View(func(tx *store.Tx) error {
		ok, err = l.remembered(ctx, tx, in, out)
		return err
	})
	return ok, err
}

func (l *Local) remember(ctx context.Context, tx *store.Tx, in *Idempotency, result any) error {
	if in == nil {
		return nil
	}
	data, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return store.PutIdempotent(tx, &store.Idempotent{Scope: scope(ctx), Key: in.Key, Request: in.Request, Call: in.Call,
		Result: data, At: time.Now()})
}

// replay stops an enqueue whose key a concurrent call used first: the transaction is undone and the
// first answer given.
type replay struct{}

func (replay) Error() string { return "replayed" }

func (l *Local) Order(ctx context.Context, o OrderRequest) (p *Placed, err error) {
	target := "tariff " + o.Tariff
	inTx := false // the entry went into the order's own transaction
	defer func() {
		if err != nil || !inTx && !p.Replayed {
			l.audit(ctx, "service.create", target, err)
		}
	}()
	if o.Count == 0 {
		o.Count = 1
	}
	if err := o.Idempotency.check(); err != nil {
		return nil, err
	}
	if o.ExternalID != "" {
		if err := store.CheckExternalID(o.ExternalID); err != nil {
			return nil, err
		}
		if o.Count != 1 {
			return nil, &store.ValidationError{Field: "count", Rule: "must be 1 with an external_id: each service has its own"}
		}
		target = "external_id " + o.ExternalID
	}
	placed := new(Placed)
	if ok, err := l.lookup(ctx, o.Idempotency, placed); ok || err != nil {
		placed.Replayed = ok
		return placed, err
	}
	e, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	t, err := findTariff(l.DB, o.Tariff)
	if err != nil {
		return nil, err
	}
	placed.Tariff = *t
	base := target
	_, err = e.Also(func(tx *store.Tx, jobs []store.Job) error {
		placed.Services = nil // it may run again, alone, when a transaction it shared failed
		if ok, err := l.remembered(ctx, tx, o.Idempotency, new(Placed)); ok || err != nil {
			return errors.Join(replay{}, err)
		}
		ids := make([]uint64, len(jobs))
		for i, j := range jobs {
			var s *store.Service
			var err error
			if o.ExternalID != "" {
				s, err = store.SetExternalID(tx, j.ServiceID, o.ExternalID)
			} else {
				s, err = store.Get[store.Service](tx, j.ServiceID)
			}
			if err != nil {
				return err
			}
			placed.Services = append(placed.Services, PlacedService{Service: *s, Job: j})
			ids[i] = s.ID
		}
		target = fmt.Sprintf("%s: service %s", base, idList(ids))
		if err := store.AppendAudit(tx, l.auditEntry(ctx, "service.create", target, nil)); err != nil {
			return err
		}
		return l.remember(ctx, tx, o.Idempotency, placed)
	}).CreateServices(t.ID, o.Count, o.ClientEmail)
	if errors.As(err, new(replay)) {
		placed = new(Placed)
		ok, err := l.lookup(ctx, o.Idempotency, placed)
		placed.Replayed = ok
		return placed, err
	}
	if err != nil {
		target = base
		return nil, err
	}
	inTx = true
	return placed, nil
}

func (l *Local) Operate(ctx context.Context, o OperateRequest) (op *Operated, err error) {
	action, target := "service."+o.Type, fmt.Sprintf("service %d", o.Service)
	inTx := false // the entry went into the enqueue's own transaction
	defer func() {
		if err != nil || !inTx && !op.Replayed {
			l.audit(ctx, action, target, err)
		}
	}()
	if err := o.Idempotency.check(); err != nil {
		return nil, err
	}
	op = new(Operated)
	if ok, err := l.lookup(ctx, o.Idempotency, op); ok || err != nil {
		op.Replayed = ok
		return op, err
	}
	e, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	_, err = e.Also(func(tx *store.Tx, jobs []store.Job) error {
		if ok, err := l.remembered(ctx, tx, o.Idempotency, new(Operated)); ok || err != nil {
			return errors.Join(replay{}, err)
		}
		if len(jobs) > 0 {
			op.Job = jobs[0]
		}
		if err := store.AppendAudit(tx, l.auditEntry(ctx, action, target, nil)); err != nil {
			return err
		}
		return l.remember(ctx, tx, o.Idempotency, op)
	}).Enqueue(o.Service, o.Type, o.Args)
	if errors.As(err, new(replay)) {
		op = new(Operated)
		ok, err := l.lookup(ctx, o.Idempotency, op)
		op.Replayed = ok
		return op, err
	}
	if err != nil {
		return nil, err
	}
	inTx = true
	return op, nil
}

func (l *Local) JobAction(ctx context.Context, a JobActionRequest) (op *Operated, err error) {
	defer func() {
		if op == nil || !op.Replayed {
			l.audit(ctx, "job."+a.Action, fmt.Sprintf("job %d", a.Job), err)
		}
	}()
	if err := a.Idempotency.check(); err != nil {
		return nil, err
	}
	if a.Action != ActionCancel && a.Action != ActionRetry {
		return nil, &store.ValidationError{Field: "action", Rule: "must be cancel or retry"}
	}
	if a.Idempotency != nil { // one at a time per key: a cancel's answer is remembered after it
		unlock := l.keyLock(scope(ctx) + "\x00" + a.Idempotency.Key)
		defer unlock()
	}
	op = new(Operated)
	if ok, err := l.lookup(ctx, a.Idempotency, op); ok || err != nil {
		op.Replayed = ok
		return op, err
	}
	e, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	if a.Action == ActionCancel {
		err = e.Cancel(a.Job)
	} else {
		err = e.Retry(a.Job)
	}
	if err != nil {
		return nil, err
	}
	err = l.DB.Update(func(tx *store.Tx) error {
		j, err := store.Get[store.Job](tx, a.Job)
		if err != nil {
			return err
		}
		op.Job = *j
		return l.remember(ctx, tx, a.Idempotency, op)
	})
	return op, err
}

// keyLock serialises calls on one key.
func (l *Local) keyLock(key string) (unlock func()) {
	l.keyMu.Lock()
	if l.keyLocks == nil {
		l.keyLocks = map[string]*keyLock{}
	}
	k := l.keyLocks[key]
	if k == nil {
		k = &keyLock{}
		l.keyLocks[key] = k
	}
	k.n++
	l.keyMu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.keyMu.Lock()
		if k.n--; k.n == 0 {
			delete(l.keyLocks, key)
		}
		l.keyMu.Unlock()
	}
}

type keyLock struct {
	mu sync.Mutex
	n  int
}

func (l *Local) Services(_ context.Context, q ServiceQuery) (*ServicePage, error) {
	limit := pageSize(q.Limit)
	page := &ServicePage{Services: []store.Service{}}
	err := l.DB.View(func(tx *store.Tx) error {
		if q.ExternalID != "" {
			id := store.ServiceByExternalID(tx, q.ExternalID)
			if id == 0 || id <= q.After {
				return nil
			}
			s, err := store.Get[store.Service](tx, id)
			if err != nil {
				return err
			}
			if q.matches(s) {
				page.Services = append(page.Services, *s)
			}
			return nil
		}
		return store.EachAfter(tx, q.After, func(s *store.Service) bool {
			if !q.matches(s) {
				return true
			}
			if len(page.Services) == limit {
				page.Next = page.Services[limit-1].ID
				return false
			}
			page.Services = append(page.Services, *s)
			return true
		})
	})
	return page, err
}

func (q ServiceQuery) matches(s *store.Service) bool {
	return (q.ExternalID == "" || s.ExternalID == q.ExternalID) && (q.Status == "" || s.Status == q.Status) &&
		(q.ClientEmail == "" || strings.EqualFold(s.ClientEmail, q.ClientEmail)) && (q.Tariff == 0 || s.TariffID == q.Tariff)
}

func pageSize(n int) int {
	if n <= 0 {
		return DefaultPage
	}
	return min(n, MaxPage)
}

func (l *Local) JobPage(_ context.Context, q JobPageQuery) (*JobPage, error) {
	limit := pageSize(q.Limit)
	page := &JobPage{Jobs: []store.Job{}}
	err := l.DB.View(func(tx *store.Tx) error {
		return store.EachAfter(tx, q.After, func(j *store.Job) bool {
			if q.Service != 0 && j.ServiceID != q.Service || q.State != "" && j.State != q.State {
				return true
			}
			if len(page.Jobs) == limit {
				page.Next = page.Jobs[limit-1].ID
				return false
			}
			page.Jobs = append(page.Jobs, *j)
			return true
		})
	})
	return page, err
}

// ---- tokens ----

func (l *Local) AddToken(ctx context.Context, r TokenRequest) (added *TokenAdded, err error) {
	defer func() { l.audit(ctx, "token.add", "token "+r.Name, err) }()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := "vmmpm_" + base64.RawURLEncoding.EncodeToString(raw)
	now := time.Now()
	if !r.Expires.IsZero() && !r.Expires.After(now) {
		return nil, &store.ValidationError{Field: "expires", Rule: "must be in the future"}
	}
	t := &store.Token{Name: r.Name, Role: r.Role, Hash: store.HashToken(secret), CreatedAt: now, ExpiresAt: r.Expires,
		CreatedBy: CallerOf(ctx).String()}
	if err := l.DB.Update(func(tx *store.Tx) error { return store.AddToken(tx, t) }); err != nil {
		return nil, err
	}
	t.Hash = ""
	return &TokenAdded{Token: *t, Secret: secret}, nil
}

func (l *Local) Tokens(context.Context) ([]store.Token, error) {
	out := []store.Token{}
	err := l.DB.View(func(tx *store.Tx) error {
		ts, err := store.Tokens(tx)
		for _, t := range ts {
			t.Hash = ""
			out = append(out, *t)
		}
		return err
	})
	return out, err
}

func (l *Local) RemoveToken(ctx context.Context, name string) (err error) {
	defer func() { l.audit(ctx, "token.rm", "token "+name, err) }()
	return l.DB.Update(func(tx *store.Tx) error {
		_, err := store.RemoveToken(tx, name)
		return err
	})
}

// touchEvery is how often a token's last use is written (not at every call).
const touchEvery = time.Minute

func (l *Local) Authenticate(_ context.Context, secret, role string) (*store.Token, error) {
	var t *store.Token
	err := l.DB.View(func(tx *store.Tx) (err error) {
		t, err = store.FindToken(tx, store.HashToken(secret))
		return err
	})
	now := time.Now()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, store.Classed(ErrUnauthenticated, "the token is not known: it was removed, or mistyped; make one with vmmpm token add")
	case err != nil:
		return nil, err
	case t.Expired(now):
		return nil, store.Classed(ErrUnauthenticated, fmt.Sprintf("token %q expired at %s; make a new one with vmmpm token add", t.Name, t.ExpiresAt.UTC().Format(time.RFC3339)))
	case !store.RoleAllows(t.Role, role):
		return nil, store.Classed(ErrForbidden, fmt.Sprintf("token %q has the role %s, and this call needs %s; use a token with that role (vmmpm token add NAME --role %s)", t.Name, t.Role, role, role))
	}
	if now.Sub(t.LastUsed) > touchEvery && l.touching.CompareAndSwap(false, true) {
		id := t.ID
		go func() { // off the call's path; a write at most once a minute per token
			defer l.touching.Store(false)
			_ = l.DB.Update(func(tx *store.Tx) error { return store.TouchToken(tx, id, now) })
		}()
	}
	t.Hash = ""
	return t, nil
}

// ---- webhooks ----

func (l *Local) AddWebhook(ctx context.Context, r WebhookRequest) (added *WebhookAdded, err error) {
	var w store.Webhook
	defer func() { l.audit(ctx, "webhook.add", "webhook "+hostOf(r.URL), err) }()
	secret, generated := r.Secret, false
	if secret == "" {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		secret, generated = "whsec_"+hex.EncodeToString(raw), true
	} else if err := checkSecret(secret); err != nil {
		return nil, err
	}
	w = store.Webhook{URL: r.URL, Events: r.Events, CreatedAt: time.Now(), CreatedBy: CallerOf(ctx).String()}
	err = l.DB.Update(func(tx *store.Tx) error {
		if err := store.AddWebhook(tx, &w); err != nil {
			return err
		}
		return store.SetWebhookSecretCheck(tx, w.ID, store.SecretCheck(secret))
	})
	if err != nil {
		return nil, err
	}
	if err := l.Secrets.Set(store.WebhookSecretID(w.ID), secret); err != nil { // both or neither
		_ = l.DB.Update(func(tx *store.Tx) error { _, err := store.RemoveWebhook(tx, w.ID); return err })
		return nil, err
	}
	added = &WebhookAdded{Webhook: w}
	if generated {
		added.Secret = secret
	}
	return added, nil
}

func checkSecret(secret string) error {
	if len(secret) < MinWebhookSecret {
		return &store.ValidationError{Field: "secret", Rule: fmt.Sprintf("must be at least %d characters", MinWebhookSecret)}
	}
	return nil
}

func hostOf(u string) string {
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = rest
	}
	host, _, _ := strings.Cut(u, "/")
	if _, h, ok := strings.Cut(host, "@"); ok { // never credentials in the trail
		host = h
	}
	return host
}

func (l *Local) Webhooks(context.Context) ([]store.Webhook, error) {
	out := []store.Webhook{}
	err := l.DB.View(func(tx *store.Tx) error {
		ws, err := store.Webhooks(tx)
		for _, w := range ws {
			out = append(out, *w)
		}
		return err
	})
	return out, err
}

func (l *Local) RemoveWebhook(ctx context.Context, id uint64) (err error) {
	defer func() { l.audit(ctx, "webhook.rm", fmt.Sprintf("webhook %d", id), err) }()
	if err := l.DB.Update(func(tx *store.Tx) error { _, err := store.RemoveWebhook(tx, id); return err }); err != nil {
		return err
	}
	if d := l.deliverer(); d != nil {
		d.Forget(id)
	}
	if err := l.Secrets.Delete(store.WebhookSecretID(id)); err != nil && !errors.Is(err, store.ErrSecretNotFound) {
		return fmt.Errorf("webhook %d is removed, but its secret is still in the keyring (%w)", id, err)
	}
	return nil
}

func (l *Local) SetWebhookSecret(ctx context.Context, id uint64, secret string) (err error) {
	defer func() { l.audit(ctx, "webhook.secret", fmt.Sprintf("webhook %d", id), err) }()
	if err := checkSecret(secret); err != nil {
		return err
	}
	err = l.DB.View(func(tx *store.Tx) error {
		if _, err := store.GetWebhook(tx, id); err != nil {
			return err
		}
		if !store.SecretMatches(tx, id, secret) {
			return &store.ValidationError{Field: "secret", Rule: fmt.Sprintf("is not webhook %d's: billing checks signatures with the secret given when the webhook was added (webhook add printed it, or read it from --secret-file); give that one", id)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.Secrets.Set(store.WebhookSecretID(id), secret); err != nil {
		return err
	}
	if d := l.deliverer(); d != nil { // the waiting deliveries go now, signed with it
		d.Forget(id)
		d.Notify()
	}
	return nil
}

// webhooksLacking are the webhooks whose secret this keyring does not hold, or holds another one than
// the webhook was added with (one keyring read each).
func (l *Local) webhooksLacking() ([]uint64, error) {
	ws, err := l.Webhooks(context.Background())
	var out []uint64
	for _, w := range ws {
		secret, err := l.Secrets.Get(store.WebhookSecretID(w.ID))
		if errors.Is(err, store.ErrSecretNotFound) || err == nil && !l.DB.SecretMatches(w.ID, secret) {
			out = append(out, w.ID)
		}
	}
	return out, err
}

func (l *Local) TestWebhook(ctx context.Context, id uint64) (d *store.Delivery, err error) {
	defer func() { l.audit(ctx, "webhook.test", fmt.Sprintf("webhook %d", id), err) }()
	err = l.DB.Update(func(tx *store.Tx) error {
		w, err := store.GetWebhook(tx, id)
		if err != nil {
			return err
		}
		d, err = webhook.AddTest(tx, w, time.Now())
		return err
	})
	if dl := l.deliverer(); err == nil && dl != nil {
		dl.Notify()
	}
	return d, err
}

func (l *Local) Deliveries(_ context.Context, q DeliveryQuery) ([]store.Delivery, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPage
	}
	var out []store.Delivery
	err := l.DB.View(func(tx *store.Tx) (err error) {
		out, err = store.Deliveries(tx, func(d *store.Delivery) bool {
			return (q.ID == 0 || d.ID == q.ID) && (q.Webhook == 0 || d.Webhook == q.Webhook) &&
				(!q.Failed || d.LastError != "" || d.State == store.DeliveryGaveUp)
		}, limit)
		return err
	})
	if out == nil {
		out = []store.Delivery{}
	}
	return out, err
}

// deliverer is the webhook deliverer running in this process, or nil.
func (l *Local) deliverer() *webhook.Deliverer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hooks
}

// ---- audit ----

func (l *Local) Audit(_ context.Context, q AuditQuery) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	actor := strings.ToLower(q.Actor)
	err := l.DB.View(func(tx *store.Tx) (err error) {
		out, err = store.ReadAudit(tx, func(e *store.AuditEntry) bool {
			return (q.Since.IsZero() || !e.At.Before(q.Since)) && (actor == "" || strings.Contains(strings.ToLower(e.Actor), actor))
		}, q.Limit)
		return err
	})
	return out, err
}

// audit records a change the caller made (or tried): who, what, to what, how it ended. A trail that
// cannot be written does not undo the change; the next entries are still tried.
func (l *Local) audit(ctx context.Context, action, target string, err error) {
	if l.DB.ReadOnly() {
		return
	}
	_ = l.auditLog().add(l.auditEntry(ctx, action, target, err))
}

// auditEntry is the trail's entry of a call: its caller, what, to what, how it ended.
func (l *Local) auditEntry(ctx context.Context, action, target string, err error) *store.AuditEntry {
	c := CallerOf(ctx)
	if c.Via == ViaProcess && l.Via != "" {
		c.Via = l.Via
	}
	e := &store.AuditEntry{At: time.Now(), Actor: c.String(), Via: c.Via, Action: action, Target: target, Outcome: store.AuditOK}
	if err != nil {
		e.Outcome, e.Error = store.AuditFailed, err.Error()
		var ve *store.ValidationError
		if errors.As(err, &ve) || errors.Is(err, store.ErrNotFound) || errors.Is(err, queue.ErrNotFound) {
			e.Outcome = store.AuditRefused
		}
	}
	return e
}

func (l *Local) auditLog() *auditWriter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.trail == nil {
		l.trail = &auditWriter{db: l.DB}
	}
	return l.trail
}

// auditWriter groups the entries of concurrent calls into one transaction: whoever finds nobody writing
// writes everything pending, and the others wait for that write.
type auditWriter struct {
	db      *store.DB
	mu      sync.Mutex
	pending []*store.AuditEntry
	waiters []chan error
	writing bool
}

func (w *auditWriter) add(e *store.AuditEntry) error {
	done := make(chan error, 1)
	w.mu.Lock()
	w.pending, w.waiters = append(w.pending, e), append(w.waiters, done)
	if w.writing {
		w.mu.Unlock()
		return <-done
	}
	w.writing = true
	for len(w.pending) > 0 {
		batch, waiters := w.pending, w.waiters
		w.pending, w.waiters = nil, nil
		w.mu.Unlock()
		err := w.db.Update(func(tx *store.Tx) error { return store.AppendAudit(tx, batch...) })
		for _, c := range waiters {
			c <- err
		}
		w.mu.Lock()
	}
	w.writing = false
	w.mu.Unlock()
	return <-done
}
