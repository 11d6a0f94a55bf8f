package vmm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

const (
	loginPath    = "/auth/v4/public/token"
	maxBody      = 16 << 20
	maxPause     = 2 * time.Second
	pauseStep    = 100 * time.Millisecond
	maxAuthRetry = 1
)

// call runs one API request for an operation: it sends the token, logs in again once on a 401, and
// returns the body of a 2xx answer or the error for any other.
func (c *Client) call(ctx context.Context, o *op, method, path string, body any) ([]byte, error) {
	for renew := 0; ; renew++ {
		tok, err := o.auth(ctx, renew > 0)
		if err != nil {
			return nil, err
		}
		status, data, err := c.exchange(ctx, method, path, tok, body)
		if err != nil {
			return nil, err
		}
		if status == http.StatusUnauthorized && renew < maxAuthRetry {
			c.log.Debug("vmm: token refused, logging in again", "path", pathOnly(path))
			continue
		}
		if status < 200 || status > 299 {
			return nil, decodeError(status, data, false)
		}
		return data, nil
	}
}

// object runs a call and decodes its JSON object answer into out.
func (c *Client) object(ctx context.Context, o *op, method, path string, body, out any) error {
	data, err := c.call(ctx, o, method, path, body)
	if err != nil {
		return err
	}
	return decodeAnswer(http.StatusOK, data, out, false)
}

// list runs a GET and decodes the list envelope.
func list[T any](ctx context.Context, c *Client, o *op, path string) ([]T, error) {
	data, err := c.call(ctx, o, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return decodeListAt[T](data, path)
}

// login asks for a token. Errors never mention the password, and a server echo of it is masked.
func (c *Client) login(ctx context.Context) (string, error) {
	body := map[string]string{"email": c.email, "password": c.password}
	status, data, err := c.exchange(ctx, http.MethodPost, loginPath, "", body)
	if err != nil {
		return "", err
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		return "", errorf(ErrBadAnswer, "%s has no VMmanager 6 login endpoint (HTTP %d on %s)", c.host, status, loginPath)
	}
	var t tokenAnswer
	if err := decodeAnswer(status, data, &t, true); err != nil {
		return "", hidePassword(err, c.password)
	}
	if t.Token == "" {
		return "", errorf(ErrBadAnswer, "%s answered the login without a token", c.host)
	}
	c.logins.Add(1)
	c.log.Debug("vmm: logged in", "host", c.host, "user", c.email)
	return t.Token, nil
}

// exchange sends one request, repeating it while VMmanager answers 503 (asleep) within the retry budget.
// It returns the last status and body; transport failures come back classified.
func (c *Client) exchange(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, fmt.Errorf("vmm: encode request: %w", err)
		}
	}
	deadline := time.Now().Add(c.retryFor)
	for attempt := 1; ; attempt++ {
		status, data, err := c.once(ctx, method, path, token, payload)
		if err != nil || status != http.StatusServiceUnavailable {
			if tap, ok := ctx.Value(tapKey{}).(tapFunc); ok && err == nil {
				tap(method, path, status, payload, data)
			}
			return status, data, err
		}
		pause := min(pauseStep*time.Duration(attempt), maxPause)
		if time.Now().Add(pause).After(deadline) {
			return status, data, nil
		}
		c.log.Debug("vmm: 503, retrying", "path", pathOnly(path), "attempt", attempt, "pause", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// tapFunc sees every answer of the calls made with its context (withTap): the deep check's --write
// probes run the engine's own client calls and still check and record each raw answer.
type tapFunc func(method, path string, status int, request, answer []byte)

type tapKey struct{}

func withTap(ctx context.Context, f tapFunc) context.Context {
	return context.WithValue(ctx, tapKey{}, f)
}

// once is a single HTTP round trip bounded by the per-call timeout.
func (c *Client) once(ctx context.Context, method, path, token string, payload []byte) (int, []byte, error) {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(cctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, errorf(ErrBadURL, "cannot build a request for %s", c.base)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("x-xsrf-token", token)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, c.classify(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, c.classify(ctx, err)
	}
	c.log.Debug("vmm: request", "method", method, "path", pathOnly(path), "status", resp.StatusCode,
		"took", time.Since(start))
	if len(data) > maxBody {
		return 0, nil, errorf(ErrBadAnswer, "%s sent an answer larger than %d MiB", c.host, maxBody>>20)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return 0, nil, errorf(ErrBadAnswer, "%s redirected to %q; use that address instead", c.host,
			resp.Header.Get("Location"))
	}
	return resp.StatusCode, data, nil
}

// classify turns a transport error into ErrTLS or ErrUnreachable, or the caller's own context error.
func (c *Client) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		dnsErr    *net.DNSError
		netErr    net.Error
		tlsAlert  tls.AlertError
		tlsKind   string
		netKind   string
		isTimeout = errors.Is(err, context.DeadlineExceeded)
	)
	switch {
	case errors.As(err, new(*pinError)):
		tlsKind = "pin"
	case errors.As(err, new(*caFileError)):
		tlsKind = "ca-file"
	case errors.Is(err, http.ErrSchemeMismatch):
		tlsKind = "http"
	case errors.As(err, &unknown):
		tlsKind = "untrusted"
	case errors.As(err, &hostname):
		tlsKind = "hostname"
	case errors.As(err, &invalid):
		tlsKind = "expired"
		if invalid.Reason != x509.Expired {
			tlsKind = "handshake"
		}
	case errors.As(err, &record):
		tlsKind = "not-tls"
	case errors.As(err, &verify), errors.As(err, &tlsAlert):
		tlsKind = "handshake"
	case errors.As(err, &dnsErr):
		netKind = "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		netKind = "refused"
	case isTimeout || (errors.As(err, &netErr) && netErr.Timeout()):
		netKind = "timeout"
	default:
		netKind = "network"
	}
	if tlsKind != "" {
		return tlsFailure(tlsKind, c.host, err)
	}
	return &NetError{Kind: netKind, Host: c.host, Err: err}
}

// pathOnly drops the query (it may hold an email) from what goes to the log.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}
