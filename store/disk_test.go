package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vmmpm/internal/disktest"
	"vmmpm/store"
)

// TestCreateOnFullDiskLeavesNothing: a database that cannot be created on a full disk is removed with
// its pid file, and the error says what to check.
func TestCreateOnFullDiskLeavesNothing(t *testing.T) {
	dir := disktest.Tmpfs(t, "1m")
	disktest.Fill(t, filepath.Join(dir, "filler"))
	path := filepath.Join(dir, "vmmpm.db")
	db, err := store.Open(path, store.Options{})
	if err == nil {
		db.Close()
		t.Fatal("a database was created on a full disk")
	}
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "free space") {
		t.Errorf("error %q does not name the file and the free space", err)
	}
	for _, p := range []string{path, path + ".pid"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was left behind (%v)", p, err)
		}
	}
}

// TestUnwritableOpensReadOnly: a database on a read-only file system is refused for writing but can be
// read with ReadOnlyIfUnwritable, which says so.
func TestUnwritableOpensReadOnly(t *testing.T) {
	dir := disktest.Tmpfs(t, "4m")
	path := filepath.Join(dir, "vmmpm.db")
	db := mustOpen(t, path)
	dc := &store.DataCenter{Name: "DC One"}
	if err := db.Save(dc); err != nil {
		t.Fatal(err)
	}
	db.Close()
	disktest.ReadOnly(t, dir)
	if db, err := store.Open(path, store.Options{}); err == nil {
		db.Close()
		t.Fatal("opened for writing on a read-only file system")
	}
	db, err := store.Open(path, store.Options{ReadOnlyIfUnwritable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.ReadOnly() || !strings.Contains(db.ReadOnlyReason(), "read-only") || !strings.Contains(db.ReadOnlyReason(), path) {
		t.Errorf("read-only %v, reason %q", db.ReadOnly(), db.ReadOnlyReason())
	}
	got, err := store.Load[store.DataCenter](db, dc.ID)
	if err != nil || got.Name != "DC One" {
		t.Fatalf("reading read-only: %v %v", got, err)
	}
	if err := db.Save(&store.DataCenter{Name: "DC Two"}); err == nil {
		t.Error("a write succeeded on a read-only open")
	}
}
