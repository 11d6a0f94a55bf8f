package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"vmmpm/store/kv"
)

// BackupInfo is what a backup file holds, as reading it back found it.
type BackupInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Schema uint64 `json:"schema_version"`
	// Records counts each record kind by its bucket name (modules, tariffs, services, jobs, …).
	Records map[string]int `json:"records"`
	// Taken is when the copy's transaction began (zero for a file only inspected).
	Taken time.Time `json:"taken,omitzero"`
	// keys counts the keys of every top-level bucket: what the copy is compared on.
	keys map[string]int
}

// ErrBackupExists: the backup's file is there already and replacing it was not asked for.
var ErrBackupExists = errors.New("backup file exists")

// Backup writes a consistent copy of the database to path (absolute: the caller resolves it, as the
// process writing it may run elsewhere) inside one read transaction, so writers go on meanwhile. The
// copy goes to a temporary file beside path (mode 0600), is synced, opened again and checked (bbolt's
// Check, the schema version, every bucket's key count against what the transaction saw) and only then
// renamed to path; an existing path is replaced only with force. On any failure nothing is left behind.
func (db *DB) Backup(path string, force bool) (*BackupInfo, error) {
	if db.bolt == nil {
		return nil, db.notFile("vmmpm backup cannot copy it", "back it up with pg_dump")
	}
	if err := db.checkBackupPath(path, force); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write the backup in %s (%v), and nothing was written; check that the folder exists and can be written", filepath.Dir(path), rootCause(err))
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after the rename there is nothing left to remove
	want, err := db.copyTo(tmp)
	if err != nil {
		return nil, fmt.Errorf("the backup to %s failed (%v), and nothing was left behind; check the free space there", path, rootCause(err))
	}
	got, err := InspectBackup(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("the backup to %s did not read back whole (%v) and was removed; the database is untouched; check the disk there", path, err)
	}
	if diff := want.differs(got); diff != "" {
		return nil, fmt.Errorf("the backup to %s does not match the database (%s) and was removed; the database is untouched; check the disk there", path, diff)
	}
	if err := publish(tmp.Name(), path, force); err != nil {
		return nil, err
	}
	got.Path, got.Taken = path, want.Taken
	return got, nil
}

// checkBackupPath refuses a path that is relative, the database itself, or there already (unless force).
func (db *DB) checkBackupPath(path string, force bool) error {
	if !filepath.IsAbs(path) {
		return &ValidationError{Field: FieldRecord, Rule: fmt.Sprintf("the backup path %q is not absolute; give the full path of the file to write", path)}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if dfi, derr := os.Stat(db.path); derr == nil && os.SameFile(fi, dfi) {
		return &ValidationError{Field: FieldRecord, Rule: fmt.Sprintf("%s is the database itself; give another file for the backup", path)}
	}
	if !force {
		return &classedError{class: ErrBackupExists, msg: fmt.Sprintf("%s already exists, and nothing was written; give another file, or --force to replace it", path)}
	}
	if !fi.Mode().IsRegular() {
		return &ValidationError{Field: FieldRecord, Rule: fmt.Sprintf("%s is not a regular file; give a file to write the backup to", path)}
	}
	return nil
}

// copyTo writes the database to f in one read transaction and syncs it; what the transaction saw is
// the answer. f is closed.
func (db *DB) copyTo(f *os.File) (*BackupInfo, error) {
	var want *BackupInfo
	err := db.guard(func() error {
		return db.bolt.View(func(tx *bolt.Tx) error {
			want = contents(tx)
			want.Taken = time.Now()
			_, err := tx.WriteTo(f)
			return err
		})
	})
	if err == nil {
		err = f.Sync()
	}
	return want, errors.Join(err, f.Close())
}

// publish moves the checked copy to path: without force by a link, which fails when a file appeared
// there meanwhile, so nothing is ever replaced unasked (on a file system without links, by a rename
// after one more look); then the folder is synced.
func publish(tmp, path string, force bool) error {
	var err error
	if !force {
		err = os.Link(tmp, path)
		if _, serr := os.Lstat(path); errors.Is(err, os.ErrExist) || err != nil && serr == nil {
			return &classedError{class: ErrBackupExists, msg: fmt.Sprintf("%s appeared while the backup was written, and was left as it was; give another file, or --force to replace it", path)}
		}
	}
	if force || err != nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("the checked backup could not be put at %s (%v), and nothing was left behind; check that folder", path, rootCause(err))
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// contents is what a transaction sees: the schema version, every top-level bucket's key count, and
// the record kinds' counts among them.
func contents(tx *bolt.Tx) *BackupInfo {
	in := &BackupInfo{Records: map[string]int{}, keys: map[string]int{}, Size: tx.Size()}
	_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		n := 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		in.keys[string(name)] = n
		return nil
	})
	for _, name := range recordBuckets[1:] { // meta is no record kind
		in.Records[string(name)] = in.keys[string(name)]
	}
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(keySchema); len(v) == 8 {
			in.Schema = binary.BigEndian.Uint64(v)
		}
	}
	return in
}

// differs says how got differs from want (the schema, a bucket's key count), or "".
func (want *BackupInfo) differs(got *BackupInfo) string {
	if got.Schema != want.Schema {
		return fmt.Sprintf("schema version %d, not %d", got.Schema, want.Schema)
	}
	for _, n := range slices.Sorted(maps.Keys(want.keys)) {
		if got.keys[n] != want.keys[n] {
			return fmt.Sprintf("bucket %s has %d keys, not %d", n, got.keys[n], want.keys[n])
		}
	}
	if len(got.keys) != len(want.keys) {
		return fmt.Sprintf("%d buckets, not %d", len(got.keys), len(want.keys))
	}
	return ""
}

// InspectBackup opens the file at path read-only and checks it as a backup: bbolt's Check finds
// nothing wrong, it is a vmmpm database, and its schema is one this vmmpm opens (older ones are
// migrated when opened). It answers what the file holds.
func InspectBackup(path string) (*BackupInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s (%v)", path, rootCause(err))
	}
	if !fi.Mode().IsRegular() || fi.Size() < minFileSize {
		return nil, fmt.Errorf("%s is not a vmmpm database (%d bytes)", path, fi.Size())
	}
	b, err := openBolt(path, Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return nil, err
	}
	f := &DB{bolt: b, path: path}
	defer f.bolt.Close()
	var in *BackupInfo
	err = f.guard(func() error {
		return b.View(func(tx *bolt.Tx) error {
			if err := checkTx(tx); err != nil {
				return err
			}
			if err := f.refuse(inspect(kv.BoltTx(tx))); err != nil {
				return err
			}
			in = contents(tx)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	in.Path, in.Size = path, fi.Size()
	return in, nil
}

// checkTx runs bbolt's consistency check, naming at most three of the faults it finds.
func checkTx(tx *bolt.Tx) error {
	var faults []string
	n := 0
	for err := range tx.Check() {
		if n++; n <= 3 {
			faults = append(faults, err.Error())
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("bbolt's check found %d faults: %s", n, strings.Join(faults, "; "))
}

// BeforeRestore is the name the database being replaced is kept under by Restore.
func BeforeRestore(dbPath string) string { return dbPath + ".before-restore" }

// Restore puts the backup at backupPath in place of the database at dbPath, after checking it
// (InspectBackup). No process may hold the database (its lock is taken for the length of the
// swap); the file it replaces is kept as BeforeRestore(dbPath), and an earlier one of those is never
// overwritten. An older schema is migrated at the next open, as any older file is.
func Restore(dbPath, backupPath string) (*BackupInfo, error) {
	in, err := InspectBackup(backupPath)
	if err != nil {
		return nil, fmt.Errorf("backup %s cannot be restored, and nothing was changed: %w", backupPath, err)
	}
	if a, b := absPath(dbPath), absPath(backupPath); a == b {
		return nil, &ValidationError{Field: FieldRecord, Rule: fmt.Sprintf("%s is the database itself; give the backup file to restore", backupPath)}
	}
	unlock, exists, err := lockForRestore(dbPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	aside := BeforeRestore(dbPath)
	if _, err := os.Lstat(aside); exists && err == nil {
		return nil, fmt.Errorf("%s is there from an earlier restore, and nothing was changed; move it away (it is the database as it was before that restore), then restore again", aside)
	}
	tmp, err := copyFile(backupPath, filepath.Dir(dbPath))
	if err != nil {
		return nil, fmt.Errorf("cannot copy %s beside the database (%v), and nothing was changed; check the free space and permissions of %s", backupPath, rootCause(err), filepath.Dir(dbPath))
	}
	defer func() { _ = os.Remove(tmp) }()
	if err := swapIn(tmp, dbPath, aside, exists); err != nil {
		return nil, err
	}
	in.Path = dbPath
	return in, nil
}

// lockForRestore takes the database's own lock (the flock bbolt takes), so no vmmpm opens it during
// the swap; a file that is not there needs none.
func lockForRestore(dbPath string) (unlock func(), exists bool, err error) {
	f, err := os.OpenFile(dbPath, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
			return nil, false, fmt.Errorf("cannot create the folder for database %s (%v), and nothing was changed", dbPath, err)
		}
		return func() {}, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("cannot open database %s to replace it (%v), and nothing was changed; check its permissions", dbPath, rootCause(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, true, openError(dbPath, bolterrors.ErrTimeout)
	}
	return func() { _ = f.Close() }, true, nil
}

// swapIn moves the database aside (when there is one) and the copy into its place; when the second
// step fails the first is undone.
func swapIn(tmp, dbPath, aside string, exists bool) error {
	if exists {
		if err := os.Rename(dbPath, aside); err != nil {
			return fmt.Errorf("cannot move database %s aside (%v), and nothing was changed", dbPath, rootCause(err))
		}
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		if exists {
			_ = os.Rename(aside, dbPath)
		}
		return fmt.Errorf("cannot put the backup in place of %s (%v); the database was left as it was", dbPath, rootCause(err))
	}
	return syncDir(filepath.Dir(dbPath))
}

// copyFile copies src into a new synced file (mode 0600) in dir and returns its path.
func copyFile(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, ".vmmpm-restore-*.tmp")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if err = errors.Join(err, out.Close()); err != nil {
		_ = os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

func absPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	a, _ := filepath.Abs(p)
	return a
}
