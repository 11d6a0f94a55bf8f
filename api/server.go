// Package api is vmmpm's HTTPS API under /api/v1, for billing systems: one more caller of
// backend.Backend, with tokens and roles, idempotency keys, the OpenAPI document it answers by
// (openapi.json, served at /api/v1/openapi.json) and the OpenMetrics figures at /metrics. It runs in
// vmmpm serve beside the Unix socket.
package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"vmmpm/backend"
)

// Options bound what one client can take; the zero value is what serve uses.
type Options struct {
	Version string
	Logger  *slog.Logger
	// ReadHeaderTimeout bounds the TLS handshake and the request's headers (default 5 s); ReadTimeout
	// the whole request with its body (default 15 s); WriteTimeout the answer (default 30 s);
	// IdleTimeout a kept-alive connection between requests (default 60 s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxBody bounds a request body (default 1 MiB); MaxHeaderBytes its headers (default 16 KiB).
	MaxBody        int64
	MaxHeaderBytes int
	// MaxConns bounds open connections (default 1024) and MaxConnsPerAddr those from one address
	// (default 256): more are closed as soon as they are accepted.
	MaxConns, MaxConnsPerAddr int
	// MaxInFlight bounds the calls answered at once (default 128); more are answered 429 at once.
	MaxInFlight int
	// AuthFailures is how many failed authentications an address may make per AuthWindow (defaults 20
	// and 1 min); beyond them it is answered 429 until the window ends.
	AuthFailures int
	AuthWindow   time.Duration
	Now          func() time.Time
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.ReadHeaderTimeout, 5*time.Second)
	set(&o.ReadTimeout, 15*time.Second)
	set(&o.WriteTimeout, 30*time.Second)
	set(&o.IdleTimeout, time.Minute)
	set(&o.AuthWindow, time.Minute)
	seti := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	seti(&o.MaxHeaderBytes, 16<<10)
	seti(&o.MaxConns, 1024)
	seti(&o.MaxConnsPerAddr, 256)
	seti(&o.MaxInFlight, 128)
	seti(&o.AuthFailures, 20)
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server answers the API for a backend.
type Server struct {
	b     backend.Backend
	opt   Options
	log   *slog.Logger
	slots chan struct{}
	fails *failures
	mux   *http.ServeMux
	roles map[string]string // route pattern → the role it needs ("" none)
}

// New makes the API server of b.
func New(b backend.Backend, opt Options) *Server {
	opt.defaults()
	s := &Server{b: b, opt: opt, log: opt.Logger, slots: make(chan struct{}, opt.MaxInFlight),
		fails: &failures{max: opt.AuthFailures, window: opt.AuthWindow, by: map[string]*failCount{}}, roles: map[string]string{}}
	s.mux = s.routes()
	return s
}

// Listen opens addr (HOST:PORT) for the API, with the connection limits; with cert set it serves TLS
// (HTTP/1.1), without it plain HTTP, which only a loopback address may take. It returns the listener
// and the URL clients use.
func (s *Server) Listen(addr string, cert *tls.Certificate) (net.Listener, string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %q is not HOST:PORT (%v); give one like 127.0.0.1:8443", addr, err)
	}
	if cert == nil && !IsLoopback(host) {
		return nil, "", fmt.Errorf("--listen %s is not a loopback address, so the API needs TLS there; leave out --no-tls", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("cannot listen on %s (%v); choose another --listen address or port", addr, err)
	}
	lim := &limitListener{Listener: ln, max: s.opt.MaxConns, perAddr: s.opt.MaxConnsPerAddr, by: map[string]int{}}
	scheme := "http"
	var out net.Listener = lim
	if cert != nil {
		scheme = "https"
		out = tls.NewListener(lim, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"}})
	}
	return out, scheme + "://" + ln.Addr().String(), nil
}

// IsLoopback reports whether host names this machine only (127.0.0.0/8, ::1, localhost).
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve answers on ln until ctx ends, then lets the calls in progress finish (at most grace).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
		ReadTimeout:       s.opt.ReadTimeout,
		WriteTimeout:      s.opt.WriteTimeout,
		IdleTimeout:       s.opt.IdleTimeout,
		MaxHeaderBytes:    s.opt.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// no HTTP/2: one request per connection at a time keeps the limits above meaningful
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(shut)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = hs.Close()
		err = nil
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// limitListener closes, as soon as they are accepted, connections beyond max in all or perAddr from
// one address: a flood from one client leaves room for the others.
type limitListener struct {
	net.Listener
	max, perAddr int
	mu           sync.Mutex
	total        int
	by           map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := addrOf(c.RemoteAddr())
		l.mu.Lock()
		if l.total >= l.max || l.by[addr] >= l.perAddr {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.total++
		l.by[addr]++
		l.mu.Unlock()
		return &limitConn{Conn: c, release: func() {
			l.mu.Lock()
			l.total--
			if l.by[addr]--; l.by[addr] <= 0 {
				delete(l.by, addr)
			}
			l.mu.Unlock()
		}}, nil
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

func addrOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// failures counts failed authentications per address in fixed windows.
type failures struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	by     map[string]*failCount
	swept  time.Time
}

type failCount struct {
	since time.Time
	n     int
}

// blocked says how long addr must wait before it may try a token again (0: it may now).
func (f *failures) blocked(addr string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.by[addr]
	if c == nil || now.Sub(c.since) >= f.window || c.n < f.max {
		return 0
	}
	return c.since.Add(f.window).Sub(now)
}

func (f *failures) add(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.swept) > f.window { // forget old windows now and then, so the map stays small
		for a, c := range f.by {
			if now.Sub(c.since) >= f.window {
				delete(f.by, a)
			}
		}
		f.swept = now
	}
	c := f.by[addr]
	if c == nil || now.Sub(c.since) >= f.window {
		c = &failCount{since: now}
		f.by[addr] = c
	}
	c.n++
}
