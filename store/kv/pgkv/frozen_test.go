package pgkv_test

import (
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
)

// TestFrozenWriterLetsOthersWrite: a host that froze inside an Update (SIGSTOP, a paused VM) holds
// the writer lock and sends nothing more. The server ends its session once it has sat idle in the
// transaction for a few seconds, so another host's Update goes through without waiting for it to
// wake; the frozen one, woken, commits nothing.
func TestFrozenWriterLetsOthersWrite(t *testing.T) {
	url := pgtest.URL(t)
	fill(t, open(t, url))
	frozen, other := open(t, url), open(t, url)
	inTx := make(chan struct{})
	wake := make(chan struct{})
	frozenErr := make(chan error, 1)
	go func() {
		frozenErr <- frozen.Update(func(tx kv.Tx) error {
			close(inTx)
			<-wake // frozen: the writer lock is held, nothing is sent
			return tx.Bucket([]byte("b")).Put([]byte("frozen"), []byte("x"))
		})
	}()
	<-inTx
	start := time.Now()
	err := other.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("other"), []byte("y")) })
	waited := time.Since(start)
	close(wake)
	if err != nil {
		t.Fatalf("another host's Update beside a frozen writer: %v (after %v)", err, waited)
	}
	t.Logf("another host wrote %v after the writer froze", waited.Round(time.Millisecond))
	if err := <-frozenErr; err == nil {
		t.Error("the frozen writer's Update committed after its session was ended")
	}
	err = open(t, url).View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if b.Get([]byte("frozen")) != nil || string(b.Get([]byte("other"))) != "y" {
			t.Errorf("after the freeze: frozen=%q other=%q, want only other's write", b.Get([]byte("frozen")), b.Get([]byte("other")))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
