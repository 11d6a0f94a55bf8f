package server

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRecordBesideTheDatabase: the record names this process and an absolute socket, is found under
// another name of the database (a link), is ignored once its process is gone, and its remover leaves
// another server's record alone.
func TestRecordBesideTheDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "vmmpm.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	remove, err := WriteRecord(db, "s.sock")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := FindRecord(link); !ok || r.PID != os.Getpid() || r.Socket != filepath.Join(dir, "s.sock") {
		t.Fatalf("found through a link: %+v %v", r, ok)
	}
	if fi, err := os.Stat(RecordPath(db)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the record file: %v %v", fi, err)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("pid %d\nsocket /run/x.sock\n", dead.Process.Pid)
	if err := os.WriteFile(RecordPath(db), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, ok := FindRecord(db); ok {
		t.Errorf("a record whose process is gone was found: %+v", r)
	}
	remove() // not ours any more: left as it is
	if b, err := os.ReadFile(RecordPath(db)); err != nil || string(b) != stale {
		t.Errorf("the remover touched another server's record: %q %v", b, err)
	}
}
