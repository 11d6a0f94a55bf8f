package cli

import (
	"strings"
	"testing"

	"vmmpm/internal/keyringtest"
)

// TestStatusSaysTheKeyringIsLocked: with the Secret Service's login collection locked, status still
// answers (exit 0) and says the keyring cannot give passwords and what that stops.
func TestStatusSaysTheKeyringIsLocked(t *testing.T) {
	env := newEngineEnv(t, 0)
	if out := env.cli("status"); strings.Contains(out, "UNAVAILABLE") {
		t.Fatalf("status with an unlocked keyring:\n%s", out)
	}
	if err := keyringtest.LoginCollection("Lock"); err != nil {
		t.Fatalf("locking the login collection: %v", err)
	}
	t.Cleanup(func() {
		if err := keyringtest.LoginCollection("Unlock"); err != nil {
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
