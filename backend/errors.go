package backend

import (
	"context"
	"errors"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

// ErrNotAnswering: the server holding the database accepts connections but answers nothing (stopped
// with SIGSTOP, or stuck on a hung disk).
var ErrNotAnswering = errors.New("the vmmpm server is not answering")

// SilentError is ErrNotAnswering with how long the server had been silent when it was noticed.
type SilentError struct {
	For   time.Duration
	Msg   string
	Cause error // what the transport said (a deadline), for errors.Is; never shown
}

func (e *SilentError) Error() string   { return e.Msg }
func (e *SilentError) Unwrap() []error { return []error{ErrNotAnswering, e.Cause} }

// sentinels are the errors callers test with errors.Is, by a stable name for the wire.
var sentinels = map[string]error{
	"not_found":          store.ErrNotFound,
	"no_database":        store.ErrNoDatabase,
	"db_in_use":          store.ErrInUse,
	"db_damaged":         store.ErrDamaged,
	"db_newer":           store.ErrNewerSchema,
	"backup_exists":      store.ErrBackupExists,
	"secret_not_found":   store.ErrSecretNotFound,
	"no_session":         store.ErrNoSession,
	"no_provider":        store.ErrNoProvider,
	"keyring_locked":     store.ErrLocked,
	"secret_timeout":     store.ErrSecretTimeout,
	"job_not_found":      queue.ErrNotFound,
	"engine_paused":      queue.ErrPaused,
	"not_answering":      ErrNotAnswering,
	"bad_url":            vmm.ErrBadURL,
	"unreachable":        vmm.ErrUnreachable,
	"tls":                vmm.ErrTLS,
	"unauthorized":       vmm.ErrUnauthorized,
	"bad_credentials":    vmm.ErrBadCredentials,
	"not_admin":          vmm.ErrNotAdmin,
	"unavailable":        vmm.ErrUnavailable,
	"invalid":            vmm.ErrInvalid,
	"unauthenticated":    ErrUnauthenticated,
	"forbidden":          ErrForbidden,
	"idempotency_reused": ErrIdempotencyReused,
	"canceled":           context.Canceled,
	"deadline":           context.DeadlineExceeded,
}

// WireError is an error as it crosses the socket: its sentence as is, and what callers test it for.
type WireError struct {
	Message    string                 `json:"message"`
	Is         []string               `json:"is,omitempty"`
	Validation *store.ValidationError `json:"validation,omitempty"`
	// Check is the cause of a failed integration check (wizard.Cause), 0 when none.
	Check wizard.Cause `json:"check,omitempty"`
	// Record names the record a batch refusal is about.
	Record *RecordError `json:"record,omitempty"`
	// TLS is a certificate failure's detail: what the server presented, the pin expected, the http:// URL.
	TLS *vmm.TLSError `json:"tls,omitempty"`
}

// Encode describes err for the wire.
func Encode(err error) *WireError {
	w := &WireError{Message: err.Error()}
	for name, s := range sentinels {
		if errors.Is(err, s) {
			w.Is = append(w.Is, name)
		}
	}
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		w.Validation = ve
	}
	var ce *wizard.CheckError
	if errors.As(err, &ce) {
		w.Check = ce.Cause
	}
	var re *RecordError
	if errors.As(err, &re) {
		w.Record = &RecordError{Kind: re.Kind, ID: re.ID}
	}
	var te *vmm.TLSError
	if errors.As(err, &te) {
		w.TLS = te
	}
	return w
}

// Decode rebuilds an error from its wire form: the same sentence, matching the same errors.Is and
// errors.As tests as the original.
func Decode(w *WireError) error {
	e := &remoteError{msg: w.Message}
	for _, name := range w.Is {
		if s, ok := sentinels[name]; ok {
			e.causes = append(e.causes, s)
		}
	}
	if w.Validation != nil {
		e.causes = append(e.causes, w.Validation)
	}
	if w.Check != 0 {
		e.causes = append(e.causes, &wizard.CheckError{Cause: w.Check, Err: errors.New(w.Message)})
	}
	if w.Record != nil {
		e.causes = append(e.causes, &RecordError{Kind: w.Record.Kind, ID: w.Record.ID, Err: errors.New(w.Message)})
	}
	if w.TLS != nil {
		te := *w.TLS
		te.Err = errors.New(w.Message)
		e.causes = append(e.causes, &te)
	}
	return e
}

type remoteError struct {
	msg    string
	causes []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.causes }
