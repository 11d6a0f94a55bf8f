package backend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/store"
)

// TestFrozenEngineCreatesNothing: an engine whose lease stops being renewed (as in a SIGSTOP or a
// long GC pause) is replaced by the standby within the lease; when it wakes, the check before a VM
// is created refuses, its writes are fenced and commit nothing, and it stops with ErrLeaseLost.
func TestFrozenEngineCreatesNothing(t *testing.T) {
	url := pgtest.URL(t)
	open := func() *store.DB {
		db, err := store.Open(url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	const ttl = 1500 * time.Millisecond
	dbA := open()
	a, err := NewEngine(dbA, store.NewMemorySecrets(), EngineOptions{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.Start(ctx)
	if err := a.lease.mayCreate(); err != nil {
		t.Fatalf("the holder may not create: %v", err)
	}
	if _, err := NewEngine(open(), store.NewMemorySecrets(), EngineOptions{LeaseTTL: ttl}); err == nil ||
		!strings.Contains(err.Error(), "runs the engine of") {
		t.Fatalf("a second engine that must not wait: %v", err)
	}

	dbB := open()
	got := make(chan *Engine, 1)
	go func() {
		b, err := NewEngine(dbB, store.NewMemorySecrets(), EngineOptions{LeaseTTL: ttl, Standby: ctx})
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	a.lease.le.Stop() // frozen: no more renewals
	frozen := time.Now()
	b := <-got
	if b == nil {
		t.FailNow()
	}
	defer b.Close()
	t.Logf("standby took over %v after the renewals stopped", time.Since(frozen).Round(time.Millisecond))

	if err := a.lease.mayCreate(); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the frozen engine may still create a VM: %v", err)
	}
	if err := dbA.Save(&store.DataCenter{Name: "written by the frozen engine"}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a write of the frozen engine: %v", err)
	}
	dcs, err := store.All[store.DataCenter](dbB)
	if err != nil || len(dcs) != 0 {
		t.Errorf("the fenced write left %d data centers (%v)", len(dcs), err)
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("the frozen engine did not stop")
	}
	if err := a.Close(); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("the frozen engine stopped with %v, want ErrLeaseLost", err)
	}
	if err := dbB.Save(&store.DataCenter{Name: "by the new holder"}); err != nil {
		t.Errorf("the new holder cannot write: %v", err)
	}
}
