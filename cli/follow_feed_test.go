package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/pgtest"
	"vmmpm/queue"
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

// TestSharedFeedReadsOnlyChanges: a follower on a standby host reads the shared database only when
// its write generation moved, and then, past its first catch-up, only the jobs the job feed names:
// polls of a quiet database read nothing more, a write that moved no job reads no job, another
// host's engine running three opens shows each one's end without reading every job again, and the
// catch-up reads everything again once FollowWhole has passed.
func TestSharedFeedReadsOnlyChanges(t *testing.T) {
	env := newEngineEnvAt(t, 0, pgtest.URL(t))
	env.cli("tariff", "add", "--spec", env.spec)
	db, err := store.Open(env.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := &countingReader{Backend: backend.NewLocal(db, store.NewMemorySecrets(), nil, version)}
	feed := &sharedFeed{b: r, db: db}
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: io.Discard}
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

	other, err := store.Open(env.db, store.Options{}) // another host's engine
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	e, err := backend.NewEngine(other, store.NewKeyring(), backend.EngineOptions{Version: version, UntilIdle: true,
		Queue: queue.Options{PollEvery: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := e.CreateServices(ctx, "small", 3, "client@example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.Start(ctx)
	<-e.Done()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	feed.catchUp(ctx, fw)
	if n := r.reads.Load(); n != 1 {
		t.Errorf("catch-ups after writes read every job %d times in all, want once: the feed names what moved", n)
	}
	lines := strings.Split(out.String(), "\n")
	for _, s := range o.Services {
		id := strconv.FormatUint(s.ID, 10)
		found := false
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 6 && f[2] == id && f[3] == store.OpOpen && f[6] == store.JobDone {
				found = true
			}
		}
		if !found {
			t.Errorf("the follower did not show service %s's open as done:\n%s", id, out.String())
		}
	}

	defer func(d time.Duration) { queue.FollowWhole = d }(queue.FollowWhole)
	queue.FollowWhole = 0
	if err := db.Save(&store.DataCenter{Name: "written later"}); err != nil {
		t.Fatal(err)
	}
	feed.catchUp(ctx, fw)
	if n := r.reads.Load(); n != 2 {
		t.Errorf("a catch-up past FollowWhole read every job %d times in all, want twice", n)
	}
}

// BenchmarkSharedFeedCatchUp: a follower's catch-up on a standby host after another host's write,
// beside 1,000 waiting jobs it has shown: by the job feed, and reading every job (FollowWhole 0, what
// each catch-up did before the feed). Each op includes the write, a data center saved.
func BenchmarkSharedFeedCatchUp(b *testing.B) {
	for _, mode := range []string{"feed", "whole"} {
		b.Run(mode, func(b *testing.B) {
			url := pgtest.URL(b)
			queuedJobs(b, url, 1000)
			db, err := store.Open(url, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			feed := &sharedFeed{b: backend.NewLocal(db, store.NewMemorySecrets(), nil, version), db: db}
			fw := newFollower(&app{stdout: io.Discard, stderr: io.Discard}, jobsFlags{}, nil)
			ctx := context.Background()
			feed.catchUp(ctx, fw)
			if mode == "whole" {
				defer func(d time.Duration) { queue.FollowWhole = d }(queue.FollowWhole)
				queue.FollowWhole = 0
			}
			dc := &store.DataCenter{Name: "written by another host"}
			for b.Loop() {
				if err := db.Save(dc); err != nil {
					b.Fatal(err)
				}
				feed.catchUp(ctx, fw)
			}
		})
	}
}

// queuedJobs writes at url one module and tariff "small", and n opens queued on it by an engine now
// closed, on a handle of its own (the engine's lease guards its handle's writes).
func queuedJobs(b *testing.B, url string, n int) {
	db, err := store.Open(url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *store.Tx) error {
		dc, dept := &store.DataCenter{Name: "DC"}, &store.Department{Name: "Support"}
		if err := errors.Join(tx.Put(dc), tx.Put(dept)); err != nil {
			return err
		}
		m := &store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6,
			URL: "http://127.0.0.1:1", Username: "admin@example.com", DataCenterID: dc.ID, DepartmentID: dept.ID,
			Enabled: true, Params: store.DefaultParams(), Cluster: store.Cluster{ID: 1, Name: "kvm", Virtualization: store.VirtKVM}}
		if err := tx.Put(m); err != nil {
			return err
		}
		return tx.Put(&store.Tariff{Name: "small", DataCenterID: dc.ID, ModuleIDs: []uint64{m.ID}, CPU: 1, RAMMiB: 1024,
			DiskMiB: 10240, OSID: 1, IPv4Count: 1, DomainTemplate: "@USERNAME@-@ID@.example.net"})
	})
	if err != nil {
		b.Fatal(err)
	}
	secrets := store.NewMemorySecrets()
	if err := secrets.Set(1, "demo-password"); err != nil {
		b.Fatal(err)
	}
	e, err := backend.NewEngine(db, secrets, backend.EngineOptions{Version: version})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.CreateServices(context.Background(), "small", n, "client@example.com"); err != nil {
		b.Fatal(err)
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
}
