package pgkv_test

import (
	"context"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
	"vmmpm/store/kv/pgkv"
)

// woken waits for a wake-up from w; the deadline only ends a failing test.
func woken(t *testing.T, w <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-w:
	case <-time.After(20 * time.Second):
		t.Fatalf("no wake-up %s", what)
	}
}

func putKey(t *testing.T, db *pgkv.DB, key string) {
	t.Helper()
	if err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWatchHearsAnotherHandlesCommit: a reader watching one handle is woken by a write committed
// through another (two hosts), with no poll of its own; and a commit made inside the gap between two
// NOTIFYs is still told, by Close at the latest, so a command that writes and exits is heard.
func TestWatchHearsAnotherHandlesCommit(t *testing.T) {
	defer pgkv.SetNotifyGap(time.Hour)() // the second commit below always falls inside the gap
	url := pgtest.URL(t)
	writer, reader := open(t, url), open(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := reader.Watch(ctx)
	woken(t, w, "once listening")

	putKey(t, writer, "a")
	woken(t, w, "after the first commit")
	putKey(t, writer, "b") // inside the gap: told when it ends, or at Close
	select {
	case <-w:
		t.Fatal("woken inside the gap: the NOTIFYs are not spaced")
	default:
	}
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}
	woken(t, w, "for the commit made inside the gap, by Close")
}

// TestWatchOthersSkipsItsOwnCommits: an engine watching for other hosts' commits is not woken by
// its own handle's (which come hundreds a second), and is by another handle's.
func TestWatchOthersSkipsItsOwnCommits(t *testing.T) {
	t.Cleanup(pgkv.SetNotifyGap(time.Millisecond)) // put back after the handles' Close (cleanups run last first)
	url := pgtest.URL(t)
	self, other := open(t, url), open(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, all := self.WatchOthers(ctx), other.Watch(ctx)
	woken(t, w, "once listening")
	woken(t, all, "once listening (every handle's)")
	putKey(t, self, "a")
	woken(t, all, "by the first handle's commit") // its NOTIFY reached every listener
	select {
	case <-w:
		t.Error("WatchOthers was woken by its own handle's commit")
	case <-time.After(300 * time.Millisecond): // delivered to both listeners at once: a generous margin
	}
	putKey(t, other, "b")
	woken(t, w, "by another handle's commit")
}
