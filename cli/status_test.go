package cli

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
)

// TestStatusSaysTheKeyringIsLocked: with the Secret Service's login collection locked, status still
// answers (exit 0) and says the keyring cannot give passwords and what that stops.
func TestStatusSaysTheKeyringIsLocked(t *testing.T) {
	env := newEngineEnv(t, 0)
	if out := env.cli("status"); strings.Contains(out, "UNAVAILABLE") {
		t.Fatalf("status with an unlocked keyring:\n%s", out)
	}
	if err := loginCollection("Lock"); err != nil {
		t.Fatalf("locking the login collection: %v", err)
	}
	t.Cleanup(func() {
		if err := loginCollection("Unlock"); err != nil {
			t.Errorf("unlocking the login collection: %v", err)
		}
	})
	out := env.cli("status")
	for _, want := range []string{"UNAVAILABLE", "locked", "no new password or module can be saved", "the engine goes on only with the logins it holds"} {
		if !strings.Contains(out, want) {
			t.Errorf("status with a locked keyring does not say %q:\n%s", want, out)
		}
	}
}

// loginCollection locks gnome-keyring's login collection, or unlocks it with its password (ci-pass,
// as /work/notes/kt.sh and CI start it), over the session bus.
func loginCollection(op string) error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	const coll = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
	svc := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets")
	if op == "Lock" {
		return svc.Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{coll}).Err
	}
	var out dbus.Variant
	var session dbus.ObjectPath
	if err := svc.Call("org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&out, &session); err != nil {
		return err
	}
	secret := struct {
		Session     dbus.ObjectPath
		Params      []byte
		Value       []byte
		ContentType string
	}{session, []byte{}, []byte("ci-pass"), "text/plain"}
	return svc.Call("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", 0, coll, secret).Err
}
