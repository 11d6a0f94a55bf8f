package backendtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
)

// testBackup: Backup writes a copy (0600) holding the records, and says what it holds; the module's
// password is not in it; a file already there is kept unless Force; a relative path is refused.
// A database on a server has no file to copy: Backup refuses it (testBackupServer).
func testBackup(t *testing.T, env *Env) {
	if env.DB.BoltFile() == nil {
		testBackupServer(t, env)
		return
	}
	w := newWorld(t, env, true)
	b := w.b
	svc := env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0)
	_, err := b.Enqueue(ctx(t), svc.ID, store.OpOpen, nil)
	must(t, err)
	dst := filepath.Join(t.TempDir(), "copy.db")
	in, err := b.Backup(ctx(t), backend.BackupRequest{Path: dst})
	must(t, err)
	want := map[string]int{"datacenters": 1, "departments": 1, "modules": 1, "tariffs": 1, "services": 1, "jobs": 1, "tasks": 0}
	for kind, n := range want {
		if in.Records[kind] != n {
			t.Errorf("Backup says %d %s, want %d (all: %v)", in.Records[kind], kind, n, in.Records)
		}
	}
	fi, err := os.Stat(dst)
	must(t, err)
	if in.Path != dst || in.Schema != store.SchemaVersion || in.Size != fi.Size() || fi.Mode().Perm() != 0o600 {
		t.Errorf("Backup says %s, schema %d, %d bytes; the file is %d bytes, mode %v", in.Path, in.Schema, in.Size, fi.Size(), fi.Mode())
	}
	raw, err := os.ReadFile(dst)
	must(t, err)
	if bytes.Contains(raw, []byte(env.Password)) {
		t.Error("the module's password is in the backup")
	}
	cp, err := store.Open(dst, store.Options{ReadOnly: true})
	must(t, err)
	m, err := store.Load[store.Module](cp, w.module.ID)
	_ = cp.Close()
	if err != nil || m.Name != "KVM one" {
		t.Errorf("the copy's module: %+v, %v", m, err)
	}

	_, err = b.Backup(ctx(t), backend.BackupRequest{Path: dst})
	wantIs(t, "Backup over its own file", err, store.ErrBackupExists)
	wantSentence(t, "Backup over its own file", err, "--force")
	if again, _ := os.ReadFile(dst); !bytes.Equal(again, raw) {
		t.Error("a refused Backup changed the file there")
	}
	_, err = b.Backup(ctx(t), backend.BackupRequest{Path: dst, Force: true})
	must(t, err)

	_, err = b.Backup(ctx(t), backend.BackupRequest{Path: "relative.db"})
	wantRule(t, "Backup to a relative path", err, store.FieldRecord, "not absolute")
}

// testBackupServer: on a database kept on a server Backup says to use pg_dump and writes nothing.
func testBackupServer(t *testing.T, env *Env) {
	w := newWorld(t, env, true)
	dst := filepath.Join(t.TempDir(), "copy.db")
	_, err := w.b.Backup(ctx(t), backend.BackupRequest{Path: dst})
	wantSentence(t, "Backup of a database on a server", err, "pg_dump")
	if _, statErr := os.Stat(dst); !os.IsNotExist(statErr) {
		t.Errorf("a refused Backup left %s (%v)", dst, statErr)
	}
}
