package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"vmmpm/store"
)

// checkFile runs bbolt's own consistency check over the file at path.
func checkFile(t *testing.T, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("bbolt cannot open %s: %v", path, err)
	}
	defer b.Close()
	_ = b.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check of %s: %v", path, err)
		}
		return nil
	})
}

func requireNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("a temporary file was left behind: %s", e.Name())
		}
	}
}

func TestBackupIsAVerifiedCopy(t *testing.T) {
	db := mustOpen(t, populated(t, 50))
	defer db.Close()
	if err := db.Save(fullModule()); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	in, err := db.Backup(dst, false)
	if err != nil {
		t.Fatal(err)
	}
	if in.Path != dst || in.Schema != store.SchemaVersion || in.Records["datacenters"] != 50 || in.Records["modules"] != 1 || in.Records["jobs"] != 0 {
		t.Fatalf("backup says %+v", in)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != in.Size {
		t.Fatalf("backup file: %v, mode %v, size %d (said %d)", err, fi.Mode(), fi.Size(), in.Size)
	}
	requireNoTemp(t, filepath.Dir(dst))
	checkFile(t, dst)
	cp := mustOpen(t, dst)
	defer cp.Close()
	dcs, err := store.All[store.DataCenter](cp)
	if err != nil || len(dcs) != 50 || !strings.HasPrefix(dcs[49].Name, "dc-49-") {
		t.Fatalf("data centers in the copy: %d, %v", len(dcs), err)
	}
}

func TestBackupRefusesToOverwrite(t *testing.T) {
	db := mustOpen(t, populated(t, 2))
	defer db.Close()
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dst, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := db.Backup(dst, false)
	if !errors.Is(err, store.ErrBackupExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "keep me" {
		t.Fatalf("the existing file was changed to %d bytes", len(b))
	}
	requireNoTemp(t, filepath.Dir(dst))
	if _, err := db.Backup(dst, true); err != nil {
		t.Fatalf("backup with force: %v", err)
	}
	checkFile(t, dst)
}

func TestBackupRefusals(t *testing.T) {
	path := populated(t, 1)
	db := mustOpen(t, path)
	defer db.Close()
	for name, c := range map[string]struct {
		path  string
		words string
	}{
		"relative":       {"copy.db", "not absolute"},
		"the database":   {path, "the database itself"},
		"missing folder": {filepath.Join(t.TempDir(), "nope", "copy.db"), "check that the folder exists"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := db.Backup(c.path, true)
			if err == nil || !strings.Contains(err.Error(), c.words) {
				t.Fatalf("backup to %s: %v, want it to say %q", c.path, err, c.words)
			}
		})
	}
	if _, err := os.Stat("copy.db"); !os.IsNotExist(err) {
		t.Fatal("a relative backup was written")
	}
}

// TestBackupWhileWriting: writers go on during the copy, and the copy holds at least every record
// committed before it began, and is whole.
func TestBackupWhileWriting(t *testing.T) {
	db := mustOpen(t, tempPath(t))
	defer db.Close()
	var committed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := db.Save(&store.DataCenter{Name: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
				committed.Add(1)
			}
		}()
	}
	for committed.Load() < 200 {
		if t.Failed() {
			break
		}
		runtime.Gosched()
	}
	before := int(committed.Load())
	in, err := db.Backup(filepath.Join(t.TempDir(), "copy.db"), false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if in.Records["datacenters"] < before {
		t.Fatalf("the copy holds %d data centers; %d were committed before it began", in.Records["datacenters"], before)
	}
	checkFile(t, in.Path)
}

func TestInspectBackupRefusesDamage(t *testing.T) {
	db := mustOpen(t, populated(t, 200))
	in, err := db.Backup(filepath.Join(t.TempDir(), "copy.db"), false)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Zero a data page past the metas: the tree then points at garbage.
	page := os.Getpagesize()
	rewrite(t, in.Path, func(b []byte) []byte {
		for i := 3 * page; i < 4*page && i < len(b); i++ {
			b[i] = 0
		}
		return b
	})
	if _, err := store.InspectBackup(in.Path); err == nil {
		t.Fatal("a damaged backup passed inspection")
	}
	if _, err := store.InspectBackup(filepath.Join(t.TempDir(), "none.db")); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("a missing backup: %v", err)
	}
}

func TestRestore(t *testing.T) {
	src := mustOpen(t, populated(t, 3))
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.Backup(backup, false); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dbPath := populated(t, 7) // the database now holds other records
	in, err := store.Restore(dbPath, backup)
	if err != nil {
		t.Fatal(err)
	}
	if in.Records["datacenters"] != 3 {
		t.Fatalf("restore says %+v", in)
	}
	db := mustOpen(t, dbPath)
	dcs, _ := store.All[store.DataCenter](db)
	db.Close()
	if len(dcs) != 3 {
		t.Fatalf("after restore the database holds %d data centers, want the backup's 3", len(dcs))
	}
	old := mustOpen(t, store.BeforeRestore(dbPath))
	dcs, _ = store.All[store.DataCenter](old)
	old.Close()
	if len(dcs) != 7 {
		t.Fatalf("the file kept aside holds %d data centers, want the replaced 7", len(dcs))
	}
	if fi, err := os.Stat(dbPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored file: %v %v", err, fi.Mode())
	}
	// A second restore would overwrite what the first kept aside: refused.
	if _, err := store.Restore(dbPath, backup); err == nil || !strings.Contains(err.Error(), "earlier restore") {
		t.Fatalf("restore over an earlier .before-restore: %v", err)
	}
	requireNoTemp(t, filepath.Dir(dbPath))
}

// TestRestoreToANewPlace: a database that is not there (a new machine) is made from the backup, its
// folder too, with nothing kept aside.
func TestRestoreToANewPlace(t *testing.T) {
	src := mustOpen(t, populated(t, 4))
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.Backup(backup, false); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dbPath := filepath.Join(t.TempDir(), "new", "vmmpm.db")
	if _, err := store.Restore(dbPath, backup); err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, dbPath)
	dcs, _ := store.All[store.DataCenter](db)
	db.Close()
	if len(dcs) != 4 {
		t.Fatalf("the restored database holds %d data centers, want 4", len(dcs))
	}
	if _, err := os.Stat(store.BeforeRestore(dbPath)); !os.IsNotExist(err) {
		t.Fatal("a file was kept aside where there was none to replace")
	}
}

func TestRestoreRefusedWhileHeld(t *testing.T) {
	src := mustOpen(t, populated(t, 1))
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := src.Backup(backup, false); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dbPath := populated(t, 5)
	before := fileSum(t, dbPath)
	pid, release := startHolder(t, dbPath)
	_, err := store.Restore(dbPath, backup)
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
		t.Fatalf("restore while another process holds the database: %v", err)
	}
	release()
	if fileSum(t, dbPath) != before {
		t.Fatal("a refused restore changed the database")
	}
	if _, err := os.Stat(store.BeforeRestore(dbPath)); !os.IsNotExist(err) {
		t.Fatal("a refused restore moved the database aside")
	}
}

func TestRestoreRefusesABadBackup(t *testing.T) {
	dbPath := populated(t, 2)
	before := fileSum(t, dbPath)
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Restore(dbPath, bad); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("restore of a file of zeros: %v", err)
	}
	if fileSum(t, dbPath) != before {
		t.Fatal("a refused restore changed the database")
	}
}

// BenchmarkBackup: a verified backup of a database of 20,000 jobs (about 21 MB): the MB/s it copies,
// syncs and checks.
func BenchmarkBackup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "vmmpm.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < 20; i++ {
		err := db.Update(func(tx *store.Tx) error {
			for j := 0; j < 1000; j++ {
				job := &store.Job{ServiceID: uint64(j + 1), ModuleID: 1, Type: store.OpOpen, State: store.JobDone,
					MaxAttempts: 8, Log: []store.LogLine{{At: t0, Text: strings.Repeat("a line of the job's log ", 12)}}}
				if err := tx.Put(job); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	var size int64
	for i := 0; b.Loop(); i++ {
		in, err := db.Backup(filepath.Join(dir, fmt.Sprintf("b%d.db", i)), false)
		if err != nil {
			b.Fatal(err)
		}
		size = in.Size
		b.StopTimer()
		_ = os.Remove(in.Path)
		b.StartTimer()
	}
	b.SetBytes(size)
}
