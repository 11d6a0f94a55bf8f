package wizard

import (
	"context"
	"errors"
	"strings"
	"time"

	"vmmpm/vmm"
)

// Cause classifies why the integration check failed (spec §3).
type Cause int

// The causes the wizard names.
const (
	CauseNone Cause = iota
	CauseBadURL
	CauseConnection
	CauseTLS
	CauseBadCredentials
	CauseNotAdmin
	CauseUnexpected
	CauseCancelled
)

var causeNames = [...]string{
	CauseNone:           "no failure",
	CauseBadURL:         "bad URL",
	CauseConnection:     "DNS or connection failure",
	CauseTLS:            "TLS failure",
	CauseBadCredentials: "bad credentials",
	CauseNotAdmin:       "not an administrator",
	CauseUnexpected:     "unexpected answer",
	CauseCancelled:      "check cancelled",
}

func (c Cause) String() string {
	if c < 0 || int(c) >= len(causeNames) {
		return "unknown"
	}
	return causeNames[c]
}

// Classify maps a vmm error to the cause the wizard shows.
func Classify(err error) Cause {
	switch {
	case err == nil:
		return CauseNone
	case errors.Is(err, context.Canceled):
		return CauseCancelled
	case errors.Is(err, vmm.ErrBadURL):
		return CauseBadURL
	case errors.Is(err, vmm.ErrTLS):
		return CauseTLS
	case errors.Is(err, vmm.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return CauseConnection
	case errors.Is(err, vmm.ErrBadCredentials):
		return CauseBadCredentials
	case errors.Is(err, vmm.ErrNotAdmin):
		return CauseNotAdmin
	}
	return CauseUnexpected
}

// CheckError is a failed integration check: the cause and the client's error. Its message is one
// sentence saying what is wrong and what to do; it never contains the password.
type CheckError struct {
	Cause  Cause
	Err    error
	Module uint64 // the stored module checked, named in what to do; 0 for a draft
}

func (e *CheckError) Error() string {
	return vmm.DescribeModule(e.Err, e.Module)
}

// TLS is the certificate failure behind a check run on this side (attached, errors.As on the whole
// error finds it beside the check): what the server presented, and
// whether trusting it (pin, CA file, skip verification) could help at all.
func (e *CheckError) TLS() *vmm.TLSError {
	var te *vmm.TLSError
	if errors.As(e.Err, &te) {
		return te
	}
	return nil
}

func (e *CheckError) Unwrap() error { return e.Err }

// Integration is what step 3 asks for, minus the password.
type Integration struct {
	URL         string `json:"url"`
	Username    string `json:"username"`
	InsecureTLS bool   `json:"insecure_tls"`
	TLSPin      string `json:"tls_pin,omitempty"`
	CAFile      string `json:"tls_ca_file,omitempty"`
}

// Integration returns the draft's step 3 fields.
func (d *Draft) Integration() Integration {
	return Integration{URL: d.URL, Username: d.Username, InsecureTLS: d.InsecureTLS, TLSPin: d.TLSPin, CAFile: d.TLSCAFile}
}

// CheckResult is what a successful check learned.
type CheckResult struct {
	URL      string        `json:"url"` // normalised
	Clusters []vmm.Cluster `json:"clusters"`
	At       time.Time     `json:"at"`
}

// Check timing: an interactive check should fail within seconds, not the client's operation defaults.
var (
	CheckCallTimeout = 15 * time.Second
	CheckRetryFor    = 10 * time.Second
)

// CheckIntegration is what leaving step 3 does (spec §3): normalise the URL, log in, require @admin,
// and fetch the clusters for step 4. Cancel ctx to abandon it (esc in the wizard). A bad URL is a
// *CheckError with CauseBadURL like every other cause; an empty or malformed email or password is a
// *store.ValidationError, refused before any request.
func CheckIntegration(ctx context.Context, in Integration, password string) (*CheckResult, error) {
	fail := func(err error) (*CheckResult, error) {
		return nil, &CheckError{Cause: Classify(err), Err: err}
	}
	if err := first(ValidateUsername(in.Username), ValidatePassword(password), validateTLS(in.TLSPin, in.CAFile)); err != nil {
		return nil, err
	}
	c, err := vmm.New(vmm.Config{URL: in.URL, Email: in.Username, Password: password,
		InsecureTLS: in.InsecureTLS, TLSPin: in.TLSPin, CAFile: strings.TrimSpace(in.CAFile), Timeout: CheckCallTimeout, RetryFor: CheckRetryFor,
		SessionTTL: time.Minute}) // the cluster list reuses the check's login

	if err != nil {
		return fail(err)
	}
	if err := c.CheckAdmin(ctx); err != nil {
		return fail(err)
	}
	cs, err := c.Clusters(ctx)
	if err != nil {
		return fail(err)
	}
	return &CheckResult{URL: c.URL(), Clusters: cs, At: time.Now().UTC()}, nil
}
