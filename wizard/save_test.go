package wizard

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/sys/unix"

	"vmmpm/store"
)

const testPassword = "pw-Zq8!wizard-7731"

// keyringService isolates this test run's entries in the real keyring (run under dbus-run-session).
func keyringService(t *testing.T) store.Secrets {
	t.Helper()
	t.Setenv("VMMPM_KEYRING_SERVICE", fmt.Sprintf("vmmpm-test-wizard-%d-%d", os.Getpid(), time.Now().UnixNano()))
	return store.NewKeyring()
}

// seededDB is a real database file with data centers, departments and one module, matching testCatalog.
func seededDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, r := range []store.Record{
		&store.DataCenter{Name: "Moscow"}, &store.DataCenter{Name: "Partner DC", ExternalID: "ext-42"},
		&store.Department{Name: "Support"}, &store.Department{Name: "Sales"},
	} {
		if err := db.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func moduleCount(t *testing.T, db *store.DB) int {
	t.Helper()
	ms, err := store.All[store.Module](db)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestSaveWritesModuleAndKeyring(t *testing.T) {
	secrets := keyringService(t)
	db := seededDB(t)
	m, err := Save(db, secrets, validDraft(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = secrets.Delete(m.ID) })
	got, err := store.Load[store.Module](db, m.ID)
	if err != nil || got.Name != "KVM two" || got.Cluster.Name != "kvm-main" {
		t.Fatalf("module in bbolt: %+v %v", got, err)
	}
	if pw, err := secrets.Get(m.ID); err != nil || pw != testPassword {
		t.Fatalf("keyring holds %q, %v", pw, err)
	}
	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(testPassword)) {
		t.Fatal("the password's bytes are in the database file")
	}
	// The same name again is refused inside the save's own transaction.
	if _, err := Save(db, secrets, validDraft(), testPassword); err == nil {
		t.Fatal("a second module with the same name was saved")
	}
	if moduleCount(t, db) != 1 {
		t.Fatal("the refused save left a module")
	}
}

// TestSaveKeyringFailureKeepsNoModule runs in a child process because go-keyring's mock cannot be undone.
func TestSaveKeyringFailureKeepsNoModule(t *testing.T) {
	if os.Getenv("WIZARD_KEYRING_CHILD") != "" {
		saveWithBrokenKeyring(os.Getenv("WIZARD_KEYRING_CHILD"))
		return
	}
	db := seededDB(t)
	path := db.Path()
	db.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSaveKeyringFailureKeepsNoModule$")
	cmd.Env = append(os.Environ(), "WIZARD_KEYRING_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("nothing was saved because the keyring failed")) {
		t.Fatalf("the error must say the keyring failed:\n%s", out)
	}
	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := moduleCount(t, db); n != 0 {
		t.Fatalf("a keyring failure left %d modules in bbolt", n)
	}
}

func saveWithBrokenKeyring(path string) {
	keyring.MockInitWithError(errors.New("org.freedesktop.Secret.Error.IsLocked"))
	db, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	defer db.Close()
	_, err = Save(db, store.NewKeyring(), validDraft(), testPassword)
	var se *SaveError
	if !errors.As(err, &se) || se.Part != PartKeyring {
		fmt.Println("want a keyring SaveError, got", err)
		os.Exit(1)
	}
	fmt.Println(err)
}

// breakWrites swaps the database's file descriptor for a read-only one on the same file, so the next
// commit fails for real in pwrite, after the transaction's closure has run.
func breakWrites(t *testing.T, path string) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != path {
			continue
		}
		fd, _ := strconv.Atoi(e.Name())
		ro, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if err := unix.Dup2(int(ro.Fd()), fd); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no open descriptor for %s", path)
}

// recordingSecrets passes calls to the real store and notes which id a Set succeeded for.
type recordingSecrets struct {
	store.Secrets
	stored uint64
}

func (r *recordingSecrets) Set(id uint64, pw string) error {
	err := r.Secrets.Set(id, pw)
	if err == nil {
		r.stored = id
	}
	return err
}

func TestSaveDatabaseFailureRemovesPassword(t *testing.T) {
	secrets := keyringService(t)
	db := seededDB(t)
	path := db.Path()
	cat, err := LoadCatalog(db)
	if err != nil {
		t.Fatal(err)
	}
	breakWrites(t, path)
	rec := &recordingSecrets{Secrets: secrets}
	_, err = Save(db, rec, validDraft(), testPassword)
	if rec.stored != cat.NextModuleID {
		t.Fatalf("the keyring must have taken the password of module %d before the commit failed (got %d)", cat.NextModuleID, rec.stored)
	}
	var se *SaveError
	if !errors.As(err, &se) || se.Part != PartDatabase || se.Cleanup != nil {
		t.Fatalf("want a database SaveError with the password cleaned up, got %v", err)
	}
	if _, err := secrets.Get(cat.NextModuleID); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("the keyring still holds the password of the unsaved module %d: %v", cat.NextModuleID, err)
	}
	db.Close()
	db2, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if n := moduleCount(t, db2); n != 0 {
		t.Fatalf("the failed commit left %d modules", n)
	}
}

func TestSaveRefusesInvalidDraftWithoutTouchingKeyring(t *testing.T) {
	db := seededDB(t)
	secrets := store.NewMemorySecrets()
	d := validDraft()
	d.DataCenterID = 2 // has an external id
	_, err := Save(db, secrets, d, testPassword)
	wantRule(t, err, "datacenter", "External")
	if _, err := secrets.Get(1); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatal("a refused save stored a password")
	}
	_, err = Save(db, secrets, validDraft(), "")
	wantRule(t, err, "password", "empty")
	if moduleCount(t, db) != 0 {
		t.Fatal("a refused save left a module")
	}
}
