// Package keyringtest locks and unlocks gnome-keyring's login collection over the session bus, for
// tests that run under a throwaway keyring (/work/notes/kt.sh, CI's .ci/test) whose password is ci-pass.
package keyringtest

import "github.com/godbus/dbus/v5"

// LoginCollection locks gnome-keyring's login collection (op "Lock"), or unlocks it with its password
// (any other op), as the daemon's --unlock does at login.
func LoginCollection(op string) error {
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
