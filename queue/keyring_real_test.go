package queue

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/keyringtest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

const envKeyringChild = "VMMPM_KEYRING_WAIT_CHILD"

// TestRealKeyringLockedThenUnlocked runs an engine against a real gnome-keyring on a private D-Bus
// session: the login collection is locked mid-setup, jobs wait without using attempts, and all finish
// within 5 s of unlocking it.
func TestRealKeyringLockedThenUnlocked(t *testing.T) {
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("this test needs %s (CI installs it): %v", tool, err)
		}
	}
	home := t.TempDir()
	script := `mkdir -p "$XDG_DATA_HOME/keyrings"; echo -n ci-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$0"`
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c", script, os.Args[0], "-test.run", "^$")
	cmd.Env = append(environWithout("HOME", "XDG_DATA_HOME", "DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"),
		"HOME="+home, "XDG_DATA_HOME="+home, envKeyringChild+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil || !strings.Contains(string(out), "KEYRING-CHILD-OK") {
		t.Fatalf("child failed: %v", err)
	}
}

func environWithout(names ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "VMMPM_") && !contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// keyringChild is the engine side of TestRealKeyringLockedThenUnlocked, run inside the private session.
func keyringChild(dir string) error {
	s := sim.New(sim.Config{TaskTime: 5 * time.Millisecond, Seed: 7})
	srv := httptest.NewServer(s)
	defer srv.Close()
	db, err := store.Open(filepath.Join(dir, "vmmpm.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	dc, dept := &store.DataCenter{Name: "dc"}, &store.Department{Name: "ops"}
	m := &store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: srv.URL,
		Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Enabled: true,
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}, Params: queueParams("r-__PMID__", 2)}
	tariff := &store.Tariff{Name: "t", DataCenterID: 1, ModuleIDs: []uint64{1}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	for _, r := range []store.Record{dc, dept, m, tariff} {
		if err := db.Save(r); err != nil {
			return err
		}
	}
	secrets := &store.Keyring{Service: fmt.Sprintf("vmmpm-keywait-%d", os.Getpid()), Timeout: 3 * time.Second}
	if err := secrets.Set(m.ID, "demo-password"); err != nil {
		return err
	}
	if err := keyringtest.LoginCollection("Lock"); err != nil {
		return err
	}
	if _, err := secrets.Get(m.ID); err == nil {
		return fmt.Errorf("the password is readable after locking the collection")
	}
	e, err := New(db, secrets, Options{BackoffBase: time.Millisecond, PollEvery: 5 * time.Millisecond})
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := e.CreateServices(tariff.ID, 3, "real@example.org"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.RunUntilIdle(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for e.Status().Waiting == "" {
		if time.Now().After(deadline) {
			return fmt.Errorf("the engine never said it waits for the keyring")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("status while locked:", e.Status())
	if st := e.Status(); st.Waiting != "keyring locked" {
		return fmt.Errorf("status %q, want waiting: keyring locked", st)
	}
	time.Sleep(time.Second)
	if err := keyringtest.LoginCollection("Unlock"); err != nil {
		return err
	}
	unlocked := time.Now()
	if err := <-done; err != nil {
		return err
	}
	took := time.Since(unlocked)
	fmt.Println("finished", took.Round(time.Millisecond), "after the unlock")
	if took > 5*time.Second {
		return fmt.Errorf("jobs took %s after the unlock", took)
	}
	jobs, err := store.All[store.Job](db)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State != store.JobDone || j.Attempt != 1 {
			return fmt.Errorf("job %d: %s after %d attempts (%s)", j.ID, j.State, j.Attempt, j.Error)
		}
	}
	if tasks, _ := store.All[store.Task](db); len(tasks) != 0 {
		return fmt.Errorf("%d tasks opened for a locked keyring", len(tasks))
	}
	_ = secrets.Delete(m.ID)
	fmt.Println("KEYRING-CHILD-OK")
	return nil
}
