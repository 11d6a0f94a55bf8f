package backend

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

// engineDB is a database with one module, one tariff and its password, for an engine to run on.
func engineDB(t *testing.T) (*store.DB, store.Secrets) {
	t.Helper()
	return engineDBAt(t, filepath.Join(t.TempDir(), "vmmpm.db"))
}

// engineDBAt is engineDB at addr (a PostgreSQL schema, for several hosts).
func engineDBAt(t testing.TB, addr string) (*store.DB, store.Secrets) {
	t.Helper()
	db, err := store.Open(addr, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	secrets := store.NewMemorySecrets()
	err = db.Update(func(tx *store.Tx) error {
		dc, dept := &store.DataCenter{Name: "DC"}, &store.Department{Name: "Support"}
		if err := tx.Put(dc); err != nil {
			return err
		}
		if err := tx.Put(dept); err != nil {
			return err
		}
		m := &store.Module{Name: "kvm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6,
			URL: "https://vmm.example.net", Username: "admin@example.com", DataCenterID: dc.ID,
			DepartmentID: dept.ID, Enabled: true, RecipeWait: store.RecipeWaitOS, Params: store.DefaultParams(),
			Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}}
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.Put(&store.Tariff{Name: "small", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1,
			RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := secrets.Set(1, "password"); err != nil {
		t.Fatal(err)
	}
	return db, secrets
}

// succeed opens every service at once.
var succeed = queue.ExecutorFunc(func(_ context.Context, op *queue.Op) (queue.Result, error) {
	return queue.Result{Service: func(s *store.Service) {
		s.Status = store.ServiceActive
		s.VM = store.VM{HostID: 100 + s.ID}
	}}, nil
})

// TestEngineStartUp: a subscriber between NewEngine and Start sees the engine's first event; with
// UntilIdle the engine stops by itself once the work is done; Close writes the figures, so a backend
// opened afterwards on the same file counts the jobs.
func TestEngineStartUp(t *testing.T) {
	db, secrets := engineDB(t)
	e, err := NewEngine(db, secrets, EngineOptions{Version: "test", UntilIdle: true,
		Queue: queue.Options{Executor: succeed, PollEvery: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := e.Info(context.Background()); info.Mode != ModeEngine {
		t.Fatalf("mode %q, want %q", info.Mode, ModeEngine)
	}
	events, err := e.Events(context.Background(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateServices(context.Background(), "small", 3, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	select {
	case <-e.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the engine did not stop by itself once idle")
	}
	if err := e.Err(); err != nil {
		t.Fatalf("an idle stop is no error: %v", err)
	}
	var seqs []uint64
	done := 0
	for ev := range drain(events) {
		seqs = append(seqs, ev.Seq)
		if ev.Kind == queue.JobChanged && ev.Job.State == store.JobDone {
			done++
		}
	}
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("events %v: want every one from 1 with no gap", seqs)
		}
	}
	if done != 3 {
		t.Fatalf("the subscriber saw %d jobs done, want 3", done)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	l := NewLocal(db, secrets, nil, "test")
	defer l.Close()
	s, err := l.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Modules) != 1 || s.Modules[0].Hour.Done != 3 {
		t.Fatalf("after Close the figures count %+v, want 3 opens done", s.Modules)
	}
}

// drain yields what events holds now, and stops at the first pause.
func drain(events <-chan Event) <-chan Event {
	out := make(chan Event)
	go func() {
		defer close(out)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					return
				}
				out <- ev
			case <-time.After(200 * time.Millisecond):
				return
			}
		}
	}()
	return out
}

// locked is a keyring that never gives a password.
type locked struct{ store.Secrets }

func (locked) Get(id uint64) (string, error) {
	return "", &store.SecretError{Op: "read", ModuleID: id, Cause: store.ErrLocked, Err: errors.New("the collection is locked")}
}

// TestEngineStopsOnItsOwnSaysWhy: an engine that gives up by itself (jobs waited MaxPause for a locked
// keyring) ends Done, and Err and Close say why; one stopped by its context reports no error.
func TestEngineStopsOnItsOwnSaysWhy(t *testing.T) {
	db, secrets := engineDB(t)
	e, err := NewEngine(db, locked{secrets}, EngineOptions{UntilIdle: true, MaxPause: 50 * time.Millisecond,
		Queue: queue.Options{PollEvery: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateServices(context.Background(), "1", 1, "client@example.com"); err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	select {
	case <-e.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the engine never gave up on the locked keyring")
	}
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "keyring") {
		t.Fatalf("Err after giving up: %v; want the keyring's sentence", err)
	}
	if err := e.Close(); err == nil || err.Error() != e.Err().Error() {
		t.Fatalf("Close: %v; want Err's sentence", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped, err := StartEngine(ctx, db, secrets, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-stopped.Done()
	if err := stopped.Close(); err != nil {
		t.Fatalf("an engine whose context ended reports %v; a stop asked for is no error", err)
	}
}
