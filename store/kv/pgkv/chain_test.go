package pgkv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
	"vmmpm/store/kv/pgkv"
)

// deadline bounds every wait here: CI is a loaded 2-core machine.
const deadline = 30 * time.Second

// put is an Update writing k=v in bucket b (made if missing), saying another follows when follows.
func put(db kv.DB, follows bool, k, v string) error {
	return db.Update(func(tx kv.Tx) error {
		if follows {
			tx.(kv.Follows).UpdateFollows()
		}
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(k), []byte(v))
	})
}

func value(t *testing.T, db kv.DB, k string) string {
	t.Helper()
	var v []byte
	if err := db.View(func(tx kv.Tx) error {
		if b := tx.Bucket([]byte("b")); b != nil {
			v = b.Get([]byte(k))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// within fails t unless fn returns within deadline.
func within(t *testing.T, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(deadline):
		t.Fatalf("%s: still waiting after %v", what, deadline)
	}
}

// TestFollowsUnclaimed: an Update that said another follows, and none did, is visible at once to
// another host, which can write within the wait (the begun transaction is rolled back, its writer
// lock freed); the first host goes on writing.
func TestFollowsUnclaimed(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	if err := put(a, true, "k", "1"); err != nil {
		t.Fatal(err)
	}
	if v := value(t, b, "k"); v != "1" {
		t.Fatalf("the other host reads k = %q right after the commit, want 1", v)
	}
	within(t, "the other host's Update", func() error { return put(b, false, "k", "2") })
	if err := put(a, true, "k", "3"); err != nil {
		t.Fatal(err)
	}
	if v := value(t, b, "k"); v != "3" {
		t.Fatalf("k = %q after the first host's next Update, want 3", v)
	}
}

// TestFollowsCommitNotHeldBack: the commit of an Update that said another follows is acknowledged
// even while another host's writer takes the lock before the begun transaction gets it: the other
// writer here finishes only once that acknowledgement came, so a commit waiting on its chained
// begin would never return.
func TestFollowsCommitNotHeldBack(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	if err := put(a, false, "k", "0"); err != nil {
		t.Fatal(err)
	}
	acked, inB := make(chan struct{}), make(chan struct{})
	var bErr error
	bDone := make(chan struct{})
	errA := a.Update(func(tx kv.Tx) error {
		tx.(kv.Follows).UpdateFollows()
		go func() { // b waits for the writer lock a holds
			defer close(bDone)
			bErr = b.Update(func(tx kv.Tx) error {
				close(inB)
				select {
				case <-acked:
				case <-time.After(deadline):
					return errors.New("a's commit was not acknowledged while b held the writer lock")
				}
				return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("b"))
			})
		}()
		waitLocked(t, url)
		return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("a"))
	})
	close(acked)
	if errA != nil {
		t.Fatal(errA)
	}
	<-inB
	<-bDone
	if bErr != nil {
		t.Fatal(bErr)
	}
	within(t, "a's next Update, after b's", func() error { return put(a, false, "k2", "a") })
	if v := value(t, a, "k"); v != "b" {
		t.Fatalf("k = %q, want b (written after a's commit)", v)
	}
}

// waitLocked waits until a session waits for an advisory lock (another host's writer for the
// writer lock).
func waitLocked(t *testing.T, url string) {
	t.Helper()
	pool := open(t, url).Pool()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		n := 0
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n)
		if err != nil {
			t.Error(err)
			return
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("no writer waited for the lock within %v", deadline)
}

// TestFollowsCheckJudgedWhenTaken: the write check sent with a chained begin is judged by the
// verdict in force when the next Update takes it, so a refusal that came between is not missed.
func TestFollowsCheckJudgedWhenTaken(t *testing.T) {
	db := open(t, pgtest.URL(t))
	refuse := errors.New("fenced")
	var verdict error
	db.SetWriteCheck(func() (string, func([][][]byte) error) {
		return "SELECT 1", func([][][]byte) error { return verdict }
	})
	if err := put(db, true, "k", "1"); err != nil {
		t.Fatal(err)
	}
	verdict = refuse
	ran := false
	err := db.Update(func(kv.Tx) error { ran = true; return nil })
	if !errors.Is(err, refuse) || ran {
		t.Fatalf("Update after the verdict changed: %v (ran: %v), want the refusal, before the function", err, ran)
	}
	verdict = nil
	db.SetWriteCheck(func() (string, func([][][]byte) error) {
		return "SELECT 2", func([][][]byte) error { return nil }
	})
	if err := put(db, true, "k", "2"); err != nil {
		t.Fatal(err)
	}
	db.SetWriteCheck(nil) // the chained begin carries a check no longer set: begun again
	if err := put(db, false, "k", "3"); err != nil {
		t.Fatal(err)
	}
	if v := value(t, db, "k"); v != "3" {
		t.Fatalf("k = %q, want 3", v)
	}
}

// TestFollowsAfterFailedCommit: a commit that fails while chaining commits nothing and leaves no
// transaction behind: the next Update begins afresh and works.
func TestFollowsAfterFailedCommit(t *testing.T) {
	db := open(t, pgtest.URL(t))
	if err := put(db, false, "k", "1"); err != nil {
		t.Fatal(err)
	}
	err := db.Update(func(tx kv.Tx) error {
		tx.(kv.Follows).UpdateFollows()
		if err := tx.Bucket([]byte("b")).Put([]byte("k"), []byte("2")); err != nil {
			return err
		}
		pg, _ := pgkv.SQL(tx)
		_, _ = pg.Exec(context.Background(), "SELECT 1/0") // aborts the transaction under the Tx
		return nil
	})
	if err == nil {
		t.Fatal("the Update of an aborted transaction committed")
	}
	for i := range 3 {
		if err := put(db, true, "k", fmt.Sprint(i+3)); err != nil {
			t.Fatalf("Update %d after the failed commit: %v", i, err)
		}
	}
	if v := value(t, db, "k"); v != "5" {
		t.Fatalf("k = %q, want 5", v)
	}
}

// TestFollowsClose: Close right after an Update that said another follows returns, and the
// database is free for another host.
func TestFollowsClose(t *testing.T) {
	url := pgtest.URL(t)
	a, err := pgkv.Open(context.Background(), url, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := put(a, true, "k", "1"); err != nil {
		t.Fatal(err)
	}
	within(t, "Close", a.Close)
	b := open(t, url)
	within(t, "another host's Update", func() error { return put(b, false, "k", "2") })
}
