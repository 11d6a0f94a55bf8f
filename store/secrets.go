package store

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zalando/go-keyring"
)

// Secrets holds module passwords outside the database, keyed by module id.
type Secrets interface {
	Get(moduleID uint64) (string, error)
	Set(moduleID uint64, password string) error
	Delete(moduleID uint64) error
	// Describe says where the passwords live, for the screen.
	Describe() string
}

// Causes of a *SecretError, for errors.Is.
var (
	ErrSecretNotFound = errors.New("no password stored for this module")
	ErrNoSession      = errors.New("no D-Bus session bus")
	ErrNoProvider     = errors.New("no Secret Service provider on the D-Bus session bus")
	ErrLocked         = errors.New("keyring collection is locked")
	ErrSecretTimeout  = errors.New("keyring did not answer in time")
	ErrSecretInvalid  = errors.New("invalid keyring request")
	ErrSecretFailed   = errors.New("keyring call failed")
)

// SecretError is a failed keyring call: Op ("read", "store", "remove"), the classified Cause (one of the
// Err* values above) and the underlying error. Its message never contains the password.
type SecretError struct {
	Op       string
	ModuleID uint64
	Cause    error
	Err      error
}

func (e *SecretError) Unwrap() []error { return []error{e.Cause, e.Err} }

func (e *SecretError) Error() string {
	what := "cannot " + e.Op + " the password of " + strings.Replace(secretUser(e.ModuleID), "-", " ", 1)
	if e.ModuleID == probeID {
		what = "passwords cannot be kept"
	}
	switch e.Cause {
	case ErrNoSession:
		return what + ": there is no D-Bus session bus; run vmmpm in a desktop session, or on a server under dbus-run-session with an unlocked gnome-keyring-daemon (README, Running on a headless server)"
	case ErrNoProvider:
		return what + ": nothing provides the Secret Service on this D-Bus session; start gnome-keyring-daemon --unlock --components=secrets (or another Secret Service) in this session"
	case ErrLocked:
		return what + ": the keyring's default collection is locked and could not be unlocked; unlock it (on a desktop log in again, on a server see README, Running on a headless server) and try again"
	case ErrSecretNotFound:
		return what + ": the keyring holds no password for it; store it again with vmmpm module password ID"
	case ErrSecretTimeout:
		return what + ": the keyring did not answer in time, probably waiting on an unlock prompt nobody can see; unlock the keyring and try again"
	case ErrSecretInvalid:
		return what + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s: the keyring reported %q; check that the Secret Service in this session works (secret-tool search service vmmpm)", what, e.Err.Error())
}

// DefaultSecretTimeout bounds every keyring call: a Secret Service unlock prompt can block forever.
const DefaultSecretTimeout = 5 * time.Second

// Keyring keeps passwords in the OS keyring through the Secret Service (go-keyring).
type Keyring struct {
	// Service is the keyring service name; NewKeyring sets it from VMMPM_KEYRING_SERVICE or "vmmpm".
	Service string
	// Timeout bounds each call; zero means DefaultSecretTimeout.
	Timeout time.Duration
}

// NewKeyring returns the OS keyring store for service $VMMPM_KEYRING_SERVICE, or "vmmpm".
func NewKeyring() Secrets {
	svc := os.Getenv("VMMPM_KEYRING_SERVICE")
	if svc == "" {
		svc = "vmmpm"
	}
	return &Keyring{Service: svc, Timeout: DefaultSecretTimeout}
}

func (k *Keyring) Describe() string {
	return fmt.Sprintf("OS keyring (Secret Service), service %q", k.Service)
}

func (k *Keyring) Get(moduleID uint64) (string, error) {
	var pw string
	err := k.call("read", moduleID, "", func() (err error) {
		pw, err = keyring.Get(k.Service, secretUser(moduleID))
		return err
	})
	if err != nil {
		return "", err
	}
	return pw, nil
}

func (k *Keyring) Set(moduleID uint64, password string) error {
	if password == "" {
		return &SecretError{Op: "store", ModuleID: moduleID, Cause: ErrSecretInvalid, Err: errors.New("the password is empty")}
	}
	return k.call("store", moduleID, password, func() error {
		return keyring.Set(k.Service, secretUser(moduleID), password)
	})
}

func (k *Keyring) Delete(moduleID uint64) error {
	return k.call("remove", moduleID, "", func() error {
		return keyring.Delete(k.Service, secretUser(moduleID))
	})
}

// JobSecretID is the Secrets key of a password that belongs to one job (setpassword's new root
// password) until the job ends. Module ids are bbolt sequence numbers, far below 2⁶³, so the two never meet.
func JobSecretID(jobID uint64) uint64 { return jobSecretBit | jobID }

const jobSecretBit = uint64(1) << 63

// PasswordVersionID is the Secrets key under which a host's keyring keeps the version of module
// moduleID's password it holds, on a database shared by several hosts: kept beside the password, so
// a keyring that loses one loses both.
func PasswordVersionID(moduleID uint64) uint64 { return versionBit | moduleID }

const versionBit = uint64(1) << 61

// IsModuleSecret says whether id is a module's password (not a job's, a webhook's or a version).
func IsModuleSecret(id uint64) bool { return id&(jobSecretBit|webhookSecretBit|versionBit) == 0 }

// secretUser names the keyring entry: module-<id>, job-<id> for a job's password, webhook-<id> for a
// webhook's signing secret, module-<id>-version for the version of a module's password a host holds.
func secretUser(id uint64) string {
	if id&jobSecretBit != 0 {
		return "job-" + strconv.FormatUint(id&^jobSecretBit, 10)
	}
	if id&webhookSecretBit != 0 {
		return "webhook-" + strconv.FormatUint(id&^webhookSecretBit, 10)
	}
	if id&versionBit != 0 {
		return "module-" + strconv.FormatUint(id&^versionBit, 10) + "-version"
	}
	return "module-" + strconv.FormatUint(id, 10)
}

// call runs fn under the deadline. On timeout fn keeps running in its goroutine (go-keyring cannot be
// cancelled), so a Set that times out may still land later; callers that must not keep it delete it.
func (k *Keyring) call(op string, moduleID uint64, password string, fn func() error) error {
	if moduleID == 0 {
		return &SecretError{Op: op, Cause: ErrSecretInvalid, Err: errors.New("module id 0 is not a stored module")}
	}
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultSecretTimeout
	}
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		return &SecretError{Op: op, ModuleID: moduleID, Cause: classifySecretError(err), Err: redact(err, password)}
	case <-timer.C:
		return &SecretError{Op: op, ModuleID: moduleID, Cause: ErrSecretTimeout, Err: fmt.Errorf("no answer within %v", timeout)}
	}
}

// classifySecretError maps go-keyring and godbus failures (known only by their text) to a cause.
func classifySecretError(err error) error {
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrSecretNotFound
	}
	msg := err.Error()
	has := func(parts ...string) bool {
		for _, p := range parts {
			if strings.Contains(msg, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has(`"dbus-launch"`, "couldn't determine address of session bus", "dial unix", "X11 initialization failed",
		"DBUS_SESSION_BUS_ADDRESS", "dbus: authentication failed", "connection refused", "dial tcp",
		"dbus: unsupported transport"):
		return ErrNoSession
	case has("org.freedesktop.secrets was not provided", "ServiceUnknown", "NameHasNoOwner"):
		return ErrNoProvider
	case has("failed to unlock correct collection", "IsLocked", "org.freedesktop.Secret.Error.IsLocked"):
		return ErrLocked
	case has("No such secret item", "NoSuchObject"):
		return ErrSecretNotFound
	}
	return ErrSecretFailed
}

// redact keeps a password out of an error that might echo it back.
func redact(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "[password]"))
}

// MemorySecrets keeps passwords in process memory. It exists for --demo only and is never chosen as a
// fallback: callers ask for it by name and must show its Describe text.
type MemorySecrets struct {
	mu sync.Mutex
	pw map[uint64]string
}

// NewMemorySecrets returns an empty in-memory store (demo only).
func NewMemorySecrets() Secrets { return &MemorySecrets{pw: map[uint64]string{}} }

func (m *MemorySecrets) Describe() string { return "memory only (demo): passwords are lost on exit" }

func (m *MemorySecrets) Get(moduleID uint64) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pw, ok := m.pw[moduleID]
	if !ok {
		return "", &SecretError{Op: "read", ModuleID: moduleID, Cause: ErrSecretNotFound, Err: ErrSecretNotFound}
	}
	return pw, nil
}

func (m *MemorySecrets) Set(moduleID uint64, password string) error {
	if moduleID == 0 || password == "" {
		return &SecretError{Op: "store", ModuleID: moduleID, Cause: ErrSecretInvalid, Err: errors.New("a module id and a non-empty password are required")}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pw[moduleID] = password
	return nil
}

func (m *MemorySecrets) Delete(moduleID uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pw[moduleID]; !ok {
		return &SecretError{Op: "remove", ModuleID: moduleID, Cause: ErrSecretNotFound, Err: ErrSecretNotFound}
	}
	delete(m.pw, moduleID)
	return nil
}

// probeID is the entry CheckSecrets asks for: job 0, which no job has.
var probeID = JobSecretID(0)

// CheckSecrets asks s for an entry that never exists: "not found" means the store answers, so passwords
// can be saved and read; any other error says why they cannot (no D-Bus session, locked, …).
func CheckSecrets(s Secrets) error {
	if _, err := s.Get(probeID); err != nil && !errors.Is(err, ErrSecretNotFound) {
		return err
	}
	return nil
}
