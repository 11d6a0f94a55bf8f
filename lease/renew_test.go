package lease

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
)

// TestWakingEngineNeverHoldsTakenLane: an engine waking from a freeze still remembers a lane another
// engine took meanwhile, and its lease is past by its own clock. Its Renew, while a job asks Holds
// at the same time (the create call's check), must never let Holds pass: extending the deadline and
// forgetting the lane happen in one hold of the lock. Each round puts the waking state back, so the
// window would be hit in a few of many rounds if the two were apart.
func TestWakingEngineNeverHoldsTakenLane(t *testing.T) {
	url := pgtest.URL(t)
	o := Options{TTL: time.Second, RenewEvery: 200 * time.Millisecond}
	a := join(t, url, "a", o)
	addLanes(t, a.pool, 1, 1)
	h := claim(t, a)[0]
	waitFor(t, "a's lease lapses", func() bool {
		var lapsed bool
		_ = a.pool.QueryRow(context.Background(), `SELECT lease_until <= clock_timestamp() FROM lanes`).Scan(&lapsed)
		return lapsed
	})
	b := join(t, url, "b", o)
	if bh := claim(t, b); len(bh) != 1 {
		t.Fatalf("b claimed %v", bh)
	}
	var passed atomic.Int64
	for range 300 {
		a.mu.Lock()
		a.held[h.Lane], a.validUntil = h.Epoch, time.Now().Add(-time.Second) // as it froze
		a.mu.Unlock()
		done := make(chan struct{})
		asked := make(chan struct{})
		go func() {
			defer close(asked)
			for {
				select {
				case <-done:
					return
				default:
				}
				if a.Holds(h) {
					passed.Add(1)
				}
			}
		}()
		err := a.Renew(context.Background())
		close(done)
		<-asked
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := passed.Load(); n != 0 {
		t.Errorf("Holds passed %d times for a lane another engine took, while the waking engine renewed", n)
	}
}

// TestClaimPastDeadlineIsToldOnRenewal: a claim round that ends after the engine's local deadline
// passed (its loop was held up, say behind a frozen host's lock, for longer than the TTL) takes the
// lane in the database but cannot show it yet; the next renewal extends the deadline and must tell
// OnChange, or the engine would hold the lane in the database and never run it.
func TestClaimPastDeadlineIsToldOnRenewal(t *testing.T) {
	a := join(t, pgtest.URL(t), "a", Options{TTL: time.Second, RenewEvery: 200 * time.Millisecond})
	addLanes(t, a.pool, 1, 1)
	a.mu.Lock()
	a.validUntil = time.Now().Add(-time.Second) // held up past its deadline
	a.mu.Unlock()
	if held := claim(t, a); len(held) != 0 {
		t.Fatalf("past its deadline the engine shows %v", held)
	}
	if err := a.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seen := a.seen(); len(seen) != 1 {
		t.Errorf("after the renewal OnChange was last told %v, want the lane claimed", seen)
	}
}
