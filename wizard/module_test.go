package wizard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// savedModule stores module 1 on data center 1, department 1, cluster 1 (kvm-main) of the VMmanager at url.
func savedModule(t *testing.T, db *store.DB, url string) *store.Module {
	t.Helper()
	m := &store.Module{Name: "KVM one", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: url,
		Username: simAdmin, DataCenterID: 1, DepartmentID: 1, Enabled: true, Params: store.DefaultParams(),
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}}
	if err := db.Save(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func lastCheck(t *testing.T, db *store.DB, id uint64) *store.Check {
	t.Helper()
	m, err := store.Load[store.Module](db, id)
	if err != nil || m.LastCheck == nil {
		t.Fatalf("module %d has no recorded check (%v)", id, err)
	}
	return m.LastCheck
}

func TestCheckStoredRecordsEachOutcome(t *testing.T) {
	srv := simServer(t, sim.Config{})
	db := seededDB(t)
	secrets := keyringService(t)
	m := savedModule(t, db, srv.URL)
	if err := secrets.Set(m.ID, simPassword); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = secrets.Delete(m.ID) })
	ctx := context.Background()

	chk, err := CheckStored(ctx, db, secrets, m.ID)
	if err != nil || !chk.OK || !strings.Contains(chk.Message, `cluster "kvm-main" (KVM) is there`) {
		t.Fatalf("check: %+v, %v", chk, err)
	}
	if got := lastCheck(t, db, m.ID); !got.OK || time.Since(got.At) > time.Minute {
		t.Fatalf("recorded %+v", got)
	}

	m.Cluster.ID = 99 // the cluster VMmanager no longer lists
	if err := db.Save(m); err != nil {
		t.Fatal(err)
	}
	_, err = CheckStored(ctx, db, secrets, m.ID)
	if err == nil || !strings.Contains(err.Error(), `no longer lists cluster "kvm-main" (id 99)`) {
		t.Fatalf("a vanished cluster: %v", err)
	}
	if got := lastCheck(t, db, m.ID); got.OK || got.Message != err.Error() {
		t.Fatalf("recorded %+v, want the failure", got)
	}

	if err := secrets.Set(m.ID, "not-the-password"); err != nil {
		t.Fatal(err)
	}
	_, err = CheckStored(ctx, db, secrets, m.ID)
	wantCause(t, err, CauseBadCredentials)
	if got := lastCheck(t, db, m.ID); got.OK || !strings.Contains(got.Message, "refused") {
		t.Fatalf("recorded %+v, want the refused login", got)
	}

	if _, err := CheckStored(ctx, db, secrets, 42); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing module: %v", err)
	}
	if err := secrets.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckStored(ctx, db, secrets, m.ID); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("a module without a password: %v", err)
	}
}

func TestRemoveModule(t *testing.T) {
	db := seededDB(t)
	secrets := keyringService(t)
	m := savedModule(t, db, "https://vmm.example.com")
	if err := secrets.Set(m.ID, testPassword); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = secrets.Delete(m.ID) })
	tf := &store.Tariff{Name: "VPS S", DataCenterID: 1, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	if err := db.Save(tf); err != nil {
		t.Fatal(err)
	}
	svc := &store.Service{TariffID: tf.ID, ModuleID: m.ID, ClientEmail: "c@example.com", Status: store.ServiceActive,
		VM: store.VM{HostID: 7, AccountID: 2}}
	if err := db.Save(svc); err != nil {
		t.Fatal(err)
	}
	eng, err := queue.New(db, secrets, queue.Options{}) // not run: its jobs stay queued
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.Enqueue(svc.ID, store.OpReboot, nil); err != nil {
		t.Fatal(err)
	}
	j, err := eng.Enqueue(svc.ID, store.OpSuspend, nil)
	if err != nil {
		t.Fatal(err)
	}

	_, err = RemoveModule(db, secrets, m.ID)
	wantRule(t, err, "id", "module 1 still has 2 unfinished operation(s), the first is job 1; wait for them or cancel them first")
	if _, err := store.Load[store.Module](db, m.ID); err != nil {
		t.Fatal("the refusal removed the module")
	}
	if pw, err := secrets.Get(m.ID); err != nil || pw != testPassword {
		t.Fatalf("the refusal touched the password: %v", err)
	}

	for _, id := range []uint64{1, j.ID} {
		if err := eng.Cancel(id); err != nil {
			t.Fatal(err)
		}
	}
	_, err = RemoveModule(db, secrets, m.ID)
	wantRule(t, err, "id", "module 1 still has 1 live service(s) (1) whose VMs only it can suspend or close; close those services first, or change the module with module set (or e on Modules) instead of removing and re-adding it")
	if _, err := store.Load[store.Module](db, m.ID); err != nil {
		t.Fatal("the refusal for a live service removed the module")
	}
	svc.Status = store.ServiceDeleted
	if err := db.Save(svc); err != nil {
		t.Fatal(err)
	}
	warnings, err := RemoveModule(db, secrets, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0] != `tariff "VPS S" (id 1) still lists module 1; it is skipped when choosing a module` {
		t.Errorf("warnings %q", warnings)
	}
	if _, err := store.Load[store.Module](db, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("module still there: %v", err)
	}
	if _, err := secrets.Get(m.ID); !errors.Is(err, store.ErrSecretNotFound) {
		t.Fatalf("password still there: %v", err)
	}
	if _, err := RemoveModule(db, secrets, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing it again: %v", err)
	}
	// A module whose password is already gone is removed all the same.
	m2 := savedModule(t, db, "https://vmm.example.com")
	if _, err := RemoveModule(db, secrets, m2.ID); err != nil {
		t.Fatalf("a module without a password: %v", err)
	}
}

// TestRemoveModuleBesideARunningEngine: with an engine in this process, a running job and a queued one
// (both only ever committed by the engine) keep the module, then its live services do; once they are
// closed it can go.
func TestRemoveModuleBesideARunningEngine(t *testing.T) {
	db := seededDB(t)
	secrets := store.NewMemorySecrets()
	m := savedModule(t, db, "https://vmm.example.com")
	m.Params.Queue, m.Params.QueueKey = true, "one-__PMID__" // one lane: the second job waits behind the first
	if err := db.Save(m); err != nil {
		t.Fatal(err)
	}
	tf := &store.Tariff{Name: "VPS S", DataCenterID: 1, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1}
	if err := db.Save(tf); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan uint64, 2), make(chan struct{})
	e, err := queue.New(db, secrets, queue.Options{Executor: queue.ExecutorFunc(func(ctx context.Context, op *queue.Op) (queue.Result, error) {
		started <- op.Job.ID
		<-release
		return queue.Result{Service: func(s *store.Service) { s.Status = store.ServiceActive }}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.CreateServices(tf.ID, 2, "ann@example.org"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.RunUntilIdle(ctx) }()
	defer cancel()
	<-started

	_, err = RemoveModule(db, secrets, m.ID)
	wantRule(t, err, "id", "module 1 still has 2 unfinished operation(s), the first is job 1")
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		cancel()
		<-done
		t.Fatal("the engine did not finish the two jobs")
	}
	_, err = RemoveModule(db, secrets, m.ID)
	wantRule(t, err, "id", "module 1 still has 2 live service(s) (1, 2)")
	for _, id := range []uint64{1, 2} {
		svc, err := store.Load[store.Service](db, id)
		if err != nil {
			t.Fatal(err)
		}
		svc.Status = store.ServiceDeleted
		if err := db.Save(svc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := RemoveModule(db, secrets, m.ID); err != nil {
		t.Fatalf("after the services were closed: %v", err)
	}
}

// TestRemoveModuleKeyringFailureKeepsIt: when the keyring refuses to forget the password, the module
// stays too.
func TestRemoveModuleKeyringFailureKeepsIt(t *testing.T) {
	const env = "WIZARD_REMOVE_CHILD"
	if path := os.Getenv(env); path != "" {
		withBrokenKeyring(path, func(db *store.DB) error { _, err := RemoveModule(db, store.NewKeyring(), 1); return err })
		return
	}
	db := seededDB(t)
	savedModule(t, db, "https://vmm.example.com")
	db.Close()
	if out := rerunChild(t, env, db.Path()); !strings.Contains(out, "module 1 was not removed") {
		t.Fatalf("the error must say the module was not removed:\n%s", out)
	}
	db, err := store.Open(db.Path(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := moduleCount(t, db); n != 1 {
		t.Fatalf("a keyring failure removed the module (%d left)", n)
	}
}

// rerunChild runs the current test again in a child process with env set to value (go-keyring's mock
// cannot be undone, so a broken keyring lives in a child) and returns what it printed.
func rerunChild(t *testing.T, env, value string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), env+"="+value)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

// withBrokenKeyring is the child's side: every keyring call fails; fn must fail, and its error is printed.
func withBrokenKeyring(path string, fn func(*store.DB) error) {
	keyring.MockInitWithError(errors.New("org.freedesktop.Secret.Error.IsLocked"))
	db, err := store.Open(path, store.Options{})
	if err == nil {
		err = fn(db)
		db.Close()
		if err == nil {
			fmt.Println("a broken keyring did not stop it")
			os.Exit(1)
		}
	}
	fmt.Println(err)
}
