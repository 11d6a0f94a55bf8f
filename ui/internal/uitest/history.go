package uitest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

var (
	historyMu    sync.Mutex
	historyFiles = map[int]string{}
	historyDir   string
)

// History returns the path of a database holding the fixture catalog and n jobs (and their services),
// built once per process: all done except every 1000th failed and the newest 10 queued. The records
// are written in large transactions and the engine then builds its index once, as it does for any
// file written before it kept one. cleanupHistory removes the files.
func History(tb testing.TB, n int) string { return history(tb, n, false) }

// Backlog is History with every job still queued: n unfinished jobs for the engine to schedule.
func Backlog(tb testing.TB, n int) string { return history(tb, -n, true) }

func history(tb testing.TB, key int, queued bool) string {
	tb.Helper()
	n := max(key, -key)
	historyMu.Lock()
	defer historyMu.Unlock()
	if p, ok := historyFiles[key]; ok {
		return p
	}
	if historyDir == "" {
		d, err := os.MkdirTemp("", "vmmpm-ui-history-")
		if err != nil {
			tb.Fatal(err)
		}
		historyDir = d
	}
	path := filepath.Join(historyDir, fmt.Sprintf("jobs-%d-%t.db", n, queued))
	if err := buildHistory(tb, path, n, queued); err != nil {
		tb.Fatal(err)
	}
	historyFiles[key] = path
	return path
}

// Main is a TestMain for packages that use fixtures: plain colours, and the shared history removed at
// the end.
func Main(m *testing.M) {
	Plain()
	code := m.Run()
	cleanupHistory()
	os.Exit(code)
}

// cleanupHistory removes what History built; Main calls it.
func cleanupHistory() {
	historyMu.Lock()
	defer historyMu.Unlock()
	if historyDir != "" {
		_ = os.RemoveAll(historyDir)
	}
}

func buildHistory(tb testing.TB, path string, n int, queued bool) error {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	f := &Fixture{DB: db}
	f.seed(tb)
	const batch = 5000
	for start := 1; start <= n; start += batch {
		end := min(start+batch-1, n)
		if err := db.Update(func(tx *store.Tx) error { return putHistory(tx, f, start, end, n, queued) }); err != nil {
			db.Close()
			return err
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	// Open once with the engine so the index exists before anything is measured.
	OpenAt(tb, path, Executor(), false).Close()
	return nil
}

func putHistory(tx *store.Tx, f *Fixture, from, to, n int, queued bool) error {
	for i := from; i <= to; i++ {
		at := Epoch.Add(time.Duration(i-n) * time.Second)
		svc := &store.Service{TariffID: f.Tariff.ID, ModuleID: f.KVM.ID, ClientEmail: "client@example.org",
			Status: store.ServiceActive, CreatedAt: at, UpdatedAt: at}
		if err := tx.Put(svc); err != nil {
			return err
		}
		j := &store.Job{ServiceID: svc.ID, ModuleID: f.KVM.ID, Type: store.OpOpen, State: store.JobDone,
			QueueKey: queue.QueueKey("vmm6-1", 1+i%2), Lane: 1 + i%2, Attempt: 1, MaxAttempts: 8,
			EnqueuedAt: at, StartedAt: at, FinishedAt: at.Add(40 * time.Second)}
		switch {
		case i > n-10 || queued:
			j.State, j.Attempt, j.StartedAt, j.FinishedAt = store.JobQueued, 0, time.Time{}, time.Time{}
			svc.Status = store.ServiceProcessing
		case i%1000 == 0:
			j.State, j.Error = store.JobFailed, "VMmanager answered HTTP 400: not enough free IPv4 addresses"
			svc.Status = store.ServiceFailed
		}
		j.Logf(at, "enqueued on %s", j.QueueKey)
		j.Logf(at, "VMmanager task %d (host_create) recorded", 1000+i)
		j.Logf(at.Add(40*time.Second), "%s", j.State)
		if err := tx.Put(j); err != nil {
			return err
		}
		if err := tx.Put(svc); err != nil {
			return err
		}
	}
	return nil
}
