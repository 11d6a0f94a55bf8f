package vmm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors. Every error the client returns matches at least one of them with errors.Is.
var (
	ErrBadURL         = errors.New("bad VMmanager URL")
	ErrUnreachable    = errors.New("VMmanager unreachable")
	ErrTLS            = errors.New("TLS failure")
	ErrUnauthorized   = errors.New("unauthorized")
	ErrBadCredentials = errors.New("bad credentials") // login refused; also matches ErrUnauthorized
	ErrNotAdmin       = errors.New("not an administrator")
	ErrForbidden      = errors.New("forbidden")
	ErrNotFound       = errors.New("not found")
	ErrUnavailable    = errors.New("VMmanager unavailable")
	ErrTaskFailed     = errors.New("VMmanager task failed")
	ErrBadAnswer      = errors.New("unexpected answer") // not JSON, wrong shape, redirect: probably not VMmanager 6
	ErrInvalid        = errors.New("invalid argument")  // refused locally before any request
	// ErrBusy: VMmanager refused a change because the VM is busy with another task. No source shows
	// that answer; HTTP's own words for it are 409 Conflict and 423 Locked, so those match.
	ErrBusy = errors.New("VM busy with another task")
)

// errShape is an answer that is VMmanager's JSON but holds a field of another type than vmmpm reads; it
// matches ErrBadAnswer too. Its sentence names the field and what came.
var errShape = fmt.Errorf("%w: a field of another type", ErrBadAnswer)

// APIError is a non-2xx answer. The body's {"error":{"code","msg"}} fills Code and Msg when present.
type APIError struct {
	Status int
	Code   int
	Msg    string
	login  bool // answer to the token request: a 4xx there means bad credentials
}

func (e *APIError) Error() string {
	what := "VMmanager"
	if e.login {
		what = "VMmanager login"
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s answered HTTP %d (error %d: %s)", what, e.Status, e.Code, e.Msg)
	}
	return fmt.Sprintf("%s answered HTTP %d (%s)", what, e.Status, e.Msg)
}

// Is maps the status to the sentinels, so callers need not know status codes.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadCredentials:
		return e.badCredentials()
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.badCredentials()
	case ErrForbidden:
		return e.Status == http.StatusForbidden && !e.login
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	case ErrBusy:
		return !e.login && (e.Status == http.StatusConflict || e.Status == http.StatusLocked)
	}
	return false
}

// badCredentials: VMmanager's status for a wrong password is undocumented, so any client-error answer to the
// token request counts, except those that mean "no such endpoint here".
func (e *APIError) badCredentials() bool {
	if !e.login || e.Status < 400 || e.Status > 499 {
		return false
	}
	switch e.Status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusTooManyRequests:
		return false
	}
	return true
}

// NetError is a failure to reach VMmanager at all; it matches ErrUnreachable.
type NetError struct {
	Kind string // "dns", "refused", "timeout" or "network"
	Host string
	Err  error
}

func (e *NetError) Error() string {
	switch e.Kind {
	case "dns":
		return fmt.Sprintf("the host name %s could not be resolved", e.Host)
	case "refused":
		return fmt.Sprintf("%s refused the connection", e.Host)
	case "timeout":
		return fmt.Sprintf("%s did not answer in time", e.Host)
	}
	return fmt.Sprintf("could not reach %s: %v", e.Host, e.Err)
}

func (e *NetError) Unwrap() error        { return e.Err }
func (e *NetError) Is(target error) bool { return target == ErrUnreachable }

// TLSError is a failed certificate check or TLS handshake; it matches ErrTLS. Its fields cross the
// socket as JSON, so an attached wizard can show the certificate too.
type TLSError struct {
	// Kind: "untrusted" (self-signed or unknown issuer), "hostname", "expired", "pin" (another
	// certificate than the pinned one), "ca-file" (the module's CA file cannot be used), "http" (the
	// port answers plain HTTP), "not-tls" or "handshake".
	Kind string `json:"kind"`
	Host string `json:"host"`
	// Cert is the certificate the server presented, when the handshake got that far.
	Cert *Certificate `json:"cert,omitempty"`
	// Pin is the fingerprint the module expected (Kind "pin").
	Pin string `json:"pin,omitempty"`
	// HTTPURL is the address to use instead (Kind "http").
	HTTPURL string `json:"http_url,omitempty"`
	Err     error  `json:"-"`
}

func (e *TLSError) Error() string {
	switch e.Kind {
	case "untrusted":
		return fmt.Sprintf("the TLS certificate of %s is self-signed or from an unknown authority", e.Host)
	case "hostname":
		return fmt.Sprintf("the TLS certificate of %s is not valid for that host name", e.Host)
	case "expired":
		return fmt.Sprintf("the TLS certificate of %s has expired or is not yet valid", e.Host)
	case "pin":
		got := "none"
		if e.Cert != nil {
			got = e.Cert.SHA256
		}
		return fmt.Sprintf("%s presented a certificate with SHA-256 %s, not the pinned %s", e.Host, got, e.Pin)
	case "ca-file":
		return e.Err.Error()
	case "http":
		return fmt.Sprintf("%s answers plain HTTP on that port, not HTTPS", e.Host)
	case "not-tls":
		return fmt.Sprintf("%s does not speak TLS on that port", e.Host)
	}
	return fmt.Sprintf("the TLS handshake with %s failed: %v", e.Host, e.Err)
}

// Trustable reports whether trusting the presented certificate (a pin, a CA file or skipping
// verification) could make the connection work: not when the port speaks no TLS at all.
func (e *TLSError) Trustable() bool {
	return e.Cert != nil && e.Kind != "http" && e.Kind != "not-tls" && e.Kind != "ca-file"
}

func (e *TLSError) Unwrap() error        { return e.Err }
func (e *TLSError) Is(target error) bool { return target == ErrTLS }

// TaskError is a VMmanager task that ended in "fail".
type TaskError struct {
	Task   TaskRef
	Reason string // VMmanager's output for the task, when it gives one
}

func (e *TaskError) Error() string {
	what := "VMmanager task " + e.Task.ConsulID
	if e.Task.Name != "" {
		what += " (" + e.Task.Name + ")"
	}
	if e.Reason != "" {
		return fmt.Sprintf("%s failed: %s", what, clip(e.Reason, 300))
	}
	return what + " failed"
}
func (e *TaskError) Is(target error) bool { return target == ErrTaskFailed }

// Transient reports whether retrying the same call later may succeed: network trouble, timeouts, 5xx,
// 503, an expired token and a VM busy with another task are transient; bad input, a missing object, refused credentials are not.
func Transient(err error) bool {
	var ae *APIError
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, ErrBadCredentials), errors.Is(err, ErrNotAdmin), errors.Is(err, ErrTLS),
		errors.Is(err, ErrBadURL), errors.Is(err, ErrInvalid), errors.Is(err, ErrTaskFailed),
		errors.Is(err, ErrBadAnswer):
		return false
	case errors.Is(err, ErrUnreachable), errors.Is(err, ErrUnavailable), errors.Is(err, ErrUnauthorized),
		errors.Is(err, ErrBusy), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &ae):
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusRequestTimeout
	}
	return false
}

// kindError is a sentence of its own that still matches one sentinel (kind), and optionally wraps a cause.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind || errors.Is(e.kind, target) }
func (e *kindError) Unwrap() error        { return e.cause }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// hidePassword masks a password VMmanager quoted back in its error message (e.g. a policy refusal), so it
// never reaches a job's error, a log line or the screen.
func hidePassword(err error, password string) error {
	var ae *APIError
	if password != "" && errors.As(err, &ae) {
		ae.Msg = strings.ReplaceAll(ae.Msg, password, "***")
	}
	return err
}
