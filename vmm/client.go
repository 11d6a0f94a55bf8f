package vmm

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where VMmanager is and how to talk to it.
type Config struct {
	URL         string // as typed; normalised by New
	Email       string
	Password    string
	InsecureTLS bool          // skip certificate verification (self-signed VMmanager)
	SessionTTL  time.Duration // how long a token is reused; 0 = log in for every operation
	Timeout     time.Duration // per HTTP call; default 30s
	RetryFor    time.Duration // how long 503 answers are retried; default 30s
	PollEvery   time.Duration // Await's slow polling interval (fast: a tenth of it); default 2s
	HTTPClient  *http.Client  // optional; its TLS settings then win over InsecureTLS, TLSPin and CAFile
	Logger      *slog.Logger  // optional; request lines at debug level, never bodies
	// TLSPin trusts exactly the certificate with this SHA-256 fingerprint (of the leaf's DER, colons
	// optional), checked on every connection, whoever signed it; it wins over CAFile and InsecureTLS.
	TLSPin string
	// CAFile is a PEM file of the CA certificates VMmanager is verified against, read at every
	// handshake; it wins over InsecureTLS.
	CAFile string
}

// Client is safe for concurrent use. It holds one token cache: one Client per module.
//
// An "operation" is one call of an exported method (WaitTask counts as one however often it polls). With
// SessionTTL 0 every operation logs in first and uses its own token; otherwise tokens are shared until the
// period ends or VMmanager answers 401. Either way at most one login is in flight: others wait for it.
type Client struct {
	base     string
	host     string
	email    string
	password string
	ttl      time.Duration
	timeout  time.Duration
	retryFor time.Duration
	http     *http.Client
	log      *slog.Logger
	logins   atomic.Int64

	pollEvery time.Duration
	watch     watcher // Await's shared task poller
	cache     lookups // accounts and clusters within the session period

	mu       sync.Mutex
	token    string // cached token (only when ttl > 0)
	gen      uint64 // number of the login that produced token
	expires  time.Time
	inflight *loginCall
	period   LoginPeriod // the current session period's logins (see LoginPeriod)
}

type loginCall struct {
	done  chan struct{}
	token string
	gen   uint64
	err   error
}

// New checks the configuration; it does not contact VMmanager.
func New(cfg Config) (*Client, error) {
	base, err := NormalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Email == "" {
		return nil, errorf(ErrInvalid, "the VMmanager user (email) is empty")
	}
	if _, err := ParsePin(cfg.TLSPin); err != nil {
		return nil, err
	}
	u, _ := url.Parse(base)
	c := &Client{
		base: base, host: u.Host, email: cfg.Email, password: cfg.Password,
		ttl: cfg.SessionTTL, timeout: cfg.Timeout, retryFor: cfg.RetryFor,
		http: cfg.HTTPClient, log: cfg.Logger, pollEvery: cfg.PollEvery,
	}
	if c.pollEvery <= 0 {
		c.pollEvery = 2 * time.Second
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.retryFor <= 0 {
		c.retryFor = 30 * time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = defaultHTTPClient(tlsConfig(cfg, u.Hostname()))
	}
	return c, nil
}

func defaultHTTPClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{
		Transport: tr,
		// A redirect would turn POSTs into GETs; report it instead so the admin fixes the address.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// URL is the normalised base URL.
func (c *Client) URL() string { return c.base }

// Logins is how many successful logins this client performed.
func (c *Client) Logins() int { return int(c.logins.Load()) }

// NoSessionPeriod is how long LoginPeriod counts logins when SessionTTL is 0: no session is kept then,
// every operation logs in, and the count is of logins in hour-long periods instead.
const NoSessionPeriod = time.Hour

// LoginPeriod is the logins of a client's current session period. With a SessionTTL the period is the
// stretch during which the client held a usable session without a gap: it begins with a login made when
// no token of this client was still within its SessionTTL, and ends when the last token obtained runs
// out (each login extends it to that login's time + SessionTTL). A healthy period holds one login; more
// are renewals after VMmanager refused a token (401) before its time. With SessionTTL 0 it is an hour
// (NoSessionPeriod) begun by the first login after the previous one ended. A new Client starts afresh.
type LoginPeriod struct {
	Logins     int       // successful logins within the period
	Start, End time.Time // zero when no period runs (no login yet, or the last one ended)
}

// LoginPeriod reports the period running at now (the zero LoginPeriod when none does).
func (c *Client) LoginPeriod(now time.Time) LoginPeriod {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.period.Logins == 0 || !now.Before(c.period.End) {
		return LoginPeriod{}
	}
	return c.period
}

// countLogin adds a login made at now to the current period, or begins a new one (c.mu held).
func (c *Client) countLogin(now time.Time) {
	p := &c.period
	if p.Logins == 0 || !now.Before(p.End) {
		*p = LoginPeriod{Start: now, End: now.Add(NoSessionPeriod)}
	}
	p.Logins++
	if c.ttl > 0 {
		p.End = now.Add(c.ttl) // the period lasts as long as the newest token
	}
}

// Login performs a fresh login now (joining one already in flight) and caches the token when SessionTTL > 0.
func (c *Client) Login(ctx context.Context) error {
	_, err := c.freshOp(ctx)
	return err
}

// freshOp starts an operation with a token from a login made now (or joined while in flight).
func (c *Client) freshOp(ctx context.Context) (*op, error) {
	c.mu.Lock()
	stale := c.gen
	c.mu.Unlock()
	tok, gen, err := c.session(ctx, stale)
	if err != nil {
		return nil, err
	}
	return &op{c: c, token: tok, gen: gen}, nil
}

// session returns a usable token and the number of the login that made it. stale names a login whose
// token VMmanager refused (0 = none), so a new one is needed.
func (c *Client) session(ctx context.Context, stale uint64) (string, uint64, error) {
	for {
		c.mu.Lock()
		if stale != 0 && stale == c.gen {
			c.token = "" // refused by VMmanager: nobody should send it again
		}
		if c.ttl > 0 && c.token != "" && c.gen != stale && time.Now().Before(c.expires) {
			tok, gen := c.token, c.gen
			c.mu.Unlock()
			return tok, gen, nil
		}
		if call := c.inflight; call != nil {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return "", 0, ctx.Err()
			}
			if call.err != nil && !isContextErr(call.err) {
				return "", 0, call.err
			}
			continue // TTL 0 needs its own login; otherwise the cache now holds the new token
		}
		call := &loginCall{done: make(chan struct{})}
		c.inflight = call
		c.mu.Unlock()
		// The login is shared by everyone waiting on it, so it runs on when its starter stops waiting
		// (bounded by Timeout, and RetryFor while VMmanager sleeps): cut short, it would still have
		// opened a session in VMmanager, one nobody uses, and the next caller would log in again.
		go c.lead(context.WithoutCancel(ctx), call)
		select {
		case <-call.done:
			return call.token, call.gen, call.err
		case <-ctx.Done():
			return "", 0, ctx.Err()
		}
	}
}

// lead performs the login for everyone waiting on call.
func (c *Client) lead(ctx context.Context, call *loginCall) {
	tok, err := c.login(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = nil
	call.err = err
	if err == nil {
		now := time.Now()
		c.gen++
		call.token, call.gen = tok, c.gen
		c.countLogin(now)
		if c.ttl > 0 {
			c.token, c.expires = tok, now.Add(c.ttl)
		}
	}
	close(call.done)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// op is one operation's view of the session.
type op struct {
	c     *Client
	token string
	gen   uint64
}

func (c *Client) op() *op { return &op{c: c} }

// auth returns the token to send; renew asks for a new one because VMmanager refused the current one.
// With a session period the cache is asked each time, so a long WaitTask also renews when the period ends.
func (o *op) auth(ctx context.Context, renew bool) (string, error) {
	if o.token != "" && !renew && o.c.ttl == 0 {
		return o.token, nil
	}
	stale := uint64(0)
	if renew {
		stale = o.gen
	}
	tok, gen, err := o.c.session(ctx, stale)
	if err != nil {
		return "", err
	}
	o.token, o.gen = tok, gen
	return tok, nil
}
