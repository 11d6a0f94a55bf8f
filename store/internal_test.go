package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/store/kv"
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

// TestContainTellsBugsFromDamage: a nil bucket used inside bbolt, or a bucket that must be there
// missing (a deleted bucket), is damage that stops writes; a panic of our own code inside a transaction is a bug and goes on up with its stack.
func TestContainTellsBugsFromDamage(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "vmmpm.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bug := func() (p any) {
		defer func() { p = recover() }()
		_ = db.View(func(*Tx) error {
			var counts []int
			counts[len(counts)+1]++
			return nil
		})
		return nil
	}()
	if s, _ := bug.(string); !strings.Contains(s, "index out of range") || !strings.Contains(s, "goroutine") {
		t.Errorf("our own panic came back as %v", bug)
	}
	if db.Damaged() != nil {
		t.Error("a bug of ours was taken for damage of the file")
	}
	err = db.View(func(tx *Tx) error {
		bt, _ := kv.RawBolt(tx.KV())
		return bt.Bucket([]byte("no such bucket")).Put(nil, nil)
	})
	var d *Damage
	if !errors.As(err, &d) || db.Damaged() == nil {
		t.Fatalf("a missing bucket inside bbolt: %v", err)
	}
	err = db.View(func(tx *Tx) error { return tx.bucket([]byte("no such bucket")).Put(nil, nil) })
	if !errors.As(err, &d) || d.Bucket != "no such bucket" || d.Cause != "the bucket is missing" {
		t.Fatalf("a missing bucket that must be there: %v", err)
	}
	if err := db.Save(&DataCenter{Name: "x"}); !errors.Is(err, ErrDamaged) {
		t.Errorf("a write after the damage: %v", err)
	}
}
