package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// WriteAlong's writes land beside a running engine's commits, are durable once it returns, and the
// engine's own work is untouched by them.
func TestWriteAlong(t *testing.T) {
	f := newFixture(t, sim.Config{}, queueParams("k-__IID__", 4))
	e := f.engine(fastOptions())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	if _, err := e.CreateServices(f.tariff.ID, 8, "a@example.org"); err != nil {
		t.Fatal(err)
	}
	bucket := []byte("along-test")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := e.WriteAlong(func(tx *store.Tx) {
				b, err := tx.KV().CreateBucketIfNotExists(bucket)
				if err == nil {
					err = b.Put([]byte(fmt.Sprint(i)), []byte("x"))
				}
				if err != nil {
					t.Error(err)
				}
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for !e.Idle() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	f.must(e.Close(), f.db.Close())
	f.open()
	n := 0
	f.must(f.db.View(func(tx *store.Tx) error {
		if b := tx.KV().Bucket(bucket); b != nil {
			n = b.KeyN()
		}
		return nil
	}))
	if n != 20 {
		t.Fatalf("%d of 20 writes are in the file after a reopen", n)
	}
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone {
			t.Fatalf("job %d ended %s (%s) beside the writes", j.ID, j.State, j.Error)
		}
	}
}
