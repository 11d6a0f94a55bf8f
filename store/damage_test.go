package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"vmmpm/internal/damagetest"
	"vmmpm/store"
)

// damagedDB is a database with a data center and enough jobs that the jobs bucket has pages of its own.
func damagedDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vmmpm.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *store.Tx) error {
		if err := tx.Put(&store.DataCenter{Name: "dc"}); err != nil {
			return err
		}
		for range 40 {
			j := &store.Job{ServiceID: 1, ModuleID: 1, Type: store.OpOpen, State: store.JobQueued, MaxAttempts: 8}
			j.Logf(j.EnqueuedAt, "%s", strings.Repeat("x", 200))
			if err := tx.Put(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func requireDamage(t *testing.T, err error, path string, want ...string) {
	t.Helper()
	if !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("got %v, want a damaged-database error", err)
	}
	msg := err.Error()
	for _, w := range append(want, path, "vmmpm check", "vmmpm backup") {
		if !strings.Contains(msg, w) {
			t.Errorf("%q does not say %q", msg, w)
		}
	}
	if strings.Contains(msg, "runtime error") || strings.Contains(msg, "goroutine") || strings.Contains(msg, "\n") {
		t.Errorf("not one plain sentence: %q", msg)
	}
}

// TestDamageNamed: each way of damaging a closed file is named in one sentence with the file, the
// bucket and (for a record) the key: a missing bucket at open, a damaged page by the check Open starts
// (Verified), after which writes are refused; a record when it is read. CheckFile lists each.
func TestDamageNamed(t *testing.T) {
	t.Run("record", func(t *testing.T) {
		path := damagedDB(t)
		damagetest.Record(t, path, "jobs", 7)
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err) // a record that does not decode leaves the file sound: it opens
		}
		defer db.Close()
		_, err = store.All[store.Job](db)
		requireDamage(t, err, path, `bucket "jobs", key 7`, "cannot be decoded")
		if db.Damaged() != nil {
			t.Error("one unreadable record stopped the handle writing; only structural damage should")
		}
		if err := db.Save(&store.DataCenter{Name: "dc2"}); err != nil {
			t.Errorf("a write beside an unreadable record: %v", err)
		}
	})
	t.Run("bucket", func(t *testing.T) {
		path := damagedDB(t)
		damagetest.DeleteBucket(t, path, "services")
		_, err := store.Open(path, store.Options{})
		requireDamage(t, err, path, `bucket "services"`, "missing")
	})
	t.Run("page", func(t *testing.T) {
		path := damagedDB(t)
		damagetest.Page(t, path, "jobs")
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err) // the whole file is checked beside the first reads, not before them
		}
		defer db.Close()
		requireDamage(t, db.Verified(), path, `bucket "jobs"`)
		before, _ := os.ReadFile(path)
		requireDamage(t, db.Save(&store.DataCenter{Name: "dc2"}), path, "nothing more is written")
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Error("the refused write changed the file")
		}
	})
	for _, how := range []string{"record", "bucket", "page"} {
		t.Run("check "+how, func(t *testing.T) {
			path := damagedDB(t)
			want := map[string]func(){
				"record": func() { damagetest.Record(t, path, "jobs", 7) },
				"bucket": func() { damagetest.DeleteBucket(t, path, "services") },
				"page":   func() { damagetest.Page(t, path, "jobs") },
			}
			want[how]()
			rep, err := store.CheckFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Damage) == 0 || rep.Clean() {
				t.Fatalf("CheckFile found nothing after a damaged %s", how)
			}
			requireDamage(t, rep.Damage[0], path)
		})
	}
}

// TestWriteRefusedAfterDamage: once a read has walked into an unreadable page, the handle refuses every
// write with that damage and the file is not changed.
func TestWriteRefusedAfterDamage(t *testing.T) {
	path := damagedDB(t)
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The page is damaged under the open handle, as a failing disk would, so only the read finds it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	_ = db.BoltFile().View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket([]byte("jobs")).Root()); return nil })
	garbage := make([]byte, os.Getpagesize()-16)
	for i := range garbage {
		garbage[i] = byte(0x5A ^ i)
	}
	if _, err := f.WriteAt(garbage, int64(root)*int64(db.BoltFile().Info().PageSize)+16); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = store.All[store.Job](db)
	requireDamage(t, err, path, `jobs`)
	before, _ := os.ReadFile(path)
	err = db.Save(&store.DataCenter{Name: "after"})
	requireDamage(t, err, path, "nothing more is written")
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the refused write changed the file")
	}
}

// TestCrashReport: a recovered panic becomes one sentence naming a 0600 file that holds the stack.
func TestCrashReport(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var err error
	func() {
		defer func() { err = store.Recovered(recover()) }()
		var jobs []int
		_ = jobs[len(os.Args)+2] // a real runtime panic
	}()
	if err == nil || strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("sentence: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_STATE_HOME"), "vmmpm", "crash-*.txt"))
	if len(matches) != 1 || !strings.Contains(err.Error(), matches[0]) {
		t.Fatalf("crash files %v, sentence %v", matches, err)
	}
	fi, _ := os.Stat(matches[0])
	body, _ := os.ReadFile(matches[0])
	if fi.Mode().Perm() != 0o600 || !strings.Contains(string(body), "goroutine") || !strings.Contains(string(body), "index out of range") {
		t.Errorf("crash file mode %v:\n%s", fi.Mode().Perm(), body)
	}
}

// BenchmarkOpenChecks: what the check of the whole file (the walk and bbolt's check, which a command
// waits for once, Verified) costs on a file of 100,000 jobs, with Open and Close; goal: well under
// 100 ms, so a command's start stays quick.
func BenchmarkOpenChecks(b *testing.B) {
	path := filepath.Join(b.TempDir(), "vmmpm.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for batch := range 100 {
		err := db.Update(func(tx *store.Tx) error {
			for range 1000 {
				j := &store.Job{ServiceID: uint64(batch + 1), ModuleID: 1, Type: store.OpOpen, State: store.JobDone, MaxAttempts: 8}
				j.Logf(j.EnqueuedAt, "enqueued on q-1-1 by uid 1000 (alice)")
				j.Logf(j.EnqueuedAt, "attempt 1 of 8 started")
				j.Logf(j.EnqueuedAt, "done: VM 1234 active")
				if err := tx.Put(j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		db, err := store.Open(path, store.Options{})
		if err == nil {
			err = db.Verified()
		}
		if err != nil {
			b.Fatal(err)
		}
		_ = db.Close()
	}
	fi, _ := os.Stat(path)
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
}
