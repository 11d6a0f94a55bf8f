package store

import (
	"errors"
	"strings"
	"testing"
)

func TestEveryVersionHasAMigrationStep(t *testing.T) {
	if len(migrations) != SchemaVersion {
		t.Fatalf("%d migration steps for schema version %d: append a step when bumping the version", len(migrations), SchemaVersion)
	}
}

func TestSecretErrorNeverCarriesThePassword(t *testing.T) {
	const pw = "hunter2-Zx9"
	raw := errors.New(`org.freedesktop.DBus.Error.Failed: bad secret "` + pw + `"`)
	err := &SecretError{Op: "store", ModuleID: 3, Cause: classifySecretError(raw), Err: redact(raw, pw)}
	if !errors.Is(err, ErrSecretFailed) {
		t.Fatalf("unknown D-Bus failure classified as %v", err.Cause)
	}
	if strings.Contains(err.Error(), pw) || strings.Contains(err.Err.Error(), pw) {
		t.Fatalf("password leaked: %q / %q", err.Error(), err.Err)
	}
	if !strings.Contains(err.Error(), "[password]") {
		t.Fatalf("redacted message lost its shape: %q", err.Error())
	}
}

func TestClassifySecretErrors(t *testing.T) {
	for msg, want := range map[string]error{
		`exec: "dbus-launch": executable file not found in $PATH`:                               ErrNoSession,
		"dial unix /run/user/0/bus: connect: no such file or directory":                         ErrNoSession,
		"dbus: couldn't determine address of session bus":                                       ErrNoSession,
		"The name org.freedesktop.secrets was not provided by any .service files":               ErrNoProvider,
		"failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'":        ErrLocked,
		"org.freedesktop.DBus.Error.UnknownMethod: something unexpected happened in the daemon": ErrSecretFailed,
	} {
		if got := classifySecretError(errors.New(msg)); got != want {
			t.Errorf("%q classified as %v, want %v", msg, got, want)
		}
	}
}
