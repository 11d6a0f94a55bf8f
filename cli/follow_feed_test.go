package cli

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"vmmpm/backend"
	"vmmpm/internal/pgtest"
	"vmmpm/store"
)

// countingReader counts the job reads a follower's catch-ups make.
type countingReader struct {
	backend.Backend
	reads atomic.Int32
}

func (c *countingReader) Jobs(ctx context.Context, q backend.JobQuery) (*backend.JobList, error) {
	c.reads.Add(1)
	return c.Backend.Jobs(ctx, q)
}

// TestSharedFeedReadsOnlyChanges: a follower on a standby host re-reads the shared database's jobs
// only when its write generation moved: polls of a quiet database read nothing more, a write makes
// the next poll read.
func TestSharedFeedReadsOnlyChanges(t *testing.T) {
	db, err := store.Open(pgtest.URL(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := &countingReader{Backend: backend.NewLocal(db, store.NewMemorySecrets(), nil, version)}
	feed := &sharedFeed{b: r, db: db}
	a := &app{stdout: io.Discard, stderr: io.Discard}
	fw := newFollower(a, jobsFlags{}, nil)
	ctx := context.Background()
	for range 3 {
		feed.catchUp(ctx, fw)
	}
	if n := r.reads.Load(); n != 1 {
		t.Fatalf("3 polls of a quiet database read the jobs %d times, want once", n)
	}
	if err := db.Save(&store.DataCenter{Name: "written by another host"}); err != nil {
		t.Fatal(err)
	}
	feed.catchUp(ctx, fw)
	feed.catchUp(ctx, fw)
	if n := r.reads.Load(); n != 2 {
		t.Errorf("after a write, 2 polls read the jobs %d times in all, want 2", n)
	}
}
