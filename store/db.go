package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"vmmpm/store/kv"
)

// ErrNotFound is returned when a record id does not exist.
var ErrNotFound = errors.New("not found")

// DB is the vmmpm database: one bucket per record kind, in a bbolt file (Open) or another kv.DB
// (OpenKV).
type DB struct {
	kv kv.DB
	// bolt is the file under kv, nil when the database is no bbolt file (OpenKV): then what only a
	// file has (the pid file, size checks, bbolt's check, Backup) is skipped or refused.
	bolt     *bolt.DB
	path     string // the file, or the name OpenKV was given
	readOnly bool
	feed     bool // the database keeps a job feed (feed.go): it is not a bbolt file
	// feedWriter is this handle's number in the feed's rows (FeedWriter)
	feedWriter uint64
	// feedPruned is when this handle last dropped the feed's old rows (unix ns)
	feedPruned atomic.Int64
	// roReason: why a database asked for writing was opened read-only (Options.ReadOnlyIfUnwritable).
	roReason string
	// damage: the first damage found that stops writes (damage.go); the check of the whole file runs
	// once (verifyOnce), and verified is closed when it has ended (check.go).
	damage     atomic.Pointer[Damage]
	verifyOnce sync.Once
	verified   chan struct{}
}

// Options tune Open; the zero value is what the product uses.
type Options struct {
	// LockTimeout bounds the wait for another process's lock (default 1 s).
	LockTimeout time.Duration
	// ReadOnly opens without taking the write lock's exclusivity.
	ReadOnly bool
	// MustExist refuses a missing file instead of creating it: commands that only read or change
	// existing records should not turn a mistyped --db into a new, empty database.
	MustExist bool
	// ReadOnlyIfUnwritable opens the file read-only when it cannot be opened for writing (its
	// permissions, a read-only file system); DB.ReadOnlyReason then says so. For commands that only read.
	ReadOnlyIfUnwritable bool
}

// ErrNoDatabase is returned by Open with MustExist when the file is not there.
var ErrNoDatabase = errors.New("database does not exist")

// DefaultPath is $XDG_DATA_HOME/vmmpm/vmmpm.db, or ~/.local/share/vmmpm/vmmpm.db.
func DefaultPath() string {
	return filepath.Join(xdgDir("XDG_DATA_HOME", ".local/share"), "vmmpm", "vmmpm.db")
}

// DefaultLogPath is $XDG_STATE_HOME/vmmpm/vmmpm.log, or ~/.local/state/vmmpm/vmmpm.log.
func DefaultLogPath() string {
	return filepath.Join(xdgDir("XDG_STATE_HOME", ".local/state"), "vmmpm", "vmmpm.log")
}

func xdgDir(env, fallback string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, fallback)
}

// Open opens or creates the database at path, migrating an older schema. A file that is damaged,
// foreign or newer is refused and left byte-for-byte as it was. A file this call created and could not
// finish (a full disk, say) is removed again, so no stub is left for later commands to trip over.
// A postgres:// address (IsServer) opens the database kept on that PostgreSQL instead.
func Open(path string, opt Options) (*DB, error) {
	if IsServer(path) {
		return openServer(path, opt)
	}
	if opt.LockTimeout == 0 {
		opt.LockTimeout = time.Second
	}
	fi, statErr := os.Stat(path)
	exists := statErr == nil
	if opt.MustExist && errors.Is(statErr, os.ErrNotExist) {
		return nil, fmt.Errorf("database %s does not exist, and nothing was created; check --db or VMMPM_DB (an add command such as vmmpm datacenter add creates it): %w", path, ErrNoDatabase)
	}
	if exists && fi.Mode().IsRegular() && fi.Size() < minFileSize {
		// bbolt would turn an empty file into a new database; a short one is an unfinished creation.
		return nil, damaged(path, fmt.Errorf("the file is %d bytes, shorter than any database can be: an empty file, or a creation cut short, for instance on a full disk, which can be deleted if it holds nothing you need", fi.Size()))
	}
	roReason := ""
	if !opt.ReadOnly && exists && opt.ReadOnlyIfUnwritable {
		if why := unwritable(path); why != "" {
			opt.ReadOnly = true
			roReason = fmt.Sprintf("database %s is opened read-only because it cannot be written (%s); commands that change records will fail until that is fixed", path, why)
		}
	}
	if !opt.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the folder for database %s (%v); check its permissions or use --db", path, err)
		}
	}
	b, err := openBolt(path, opt)
	if err != nil {
		if !exists {
			removeStub(path)
			return nil, createError(path, err)
		}
		return nil, err
	}
	db := &DB{kv: kv.Bolt(b), bolt: b, path: path, readOnly: opt.ReadOnly, roReason: roReason, verified: make(chan struct{})}
	if !opt.ReadOnly {
		writePID(path)
	}
	err = db.guard(func() error { return db.migrate(opt.ReadOnly) })
	if err == nil {
		err = db.contain("", db.missingBuckets)
	}
	if err != nil {
		_ = db.Close()
		if !exists {
			removeStub(path)
			err = createError(path, err)
		}
		return nil, err
	}
	return db, nil
}

// OpenKV opens the vmmpm database kept in k (PostgreSQL, say), migrating an older schema as Open
// does; name stands for it in every sentence. What only a bbolt file has is skipped (the pid file,
// the size checks, bbolt's check of the whole file) or refused with a sentence (Backup). The DB owns
// k: Close closes it, and so does an OpenKV that fails.
func OpenKV(k kv.DB, name string, opt Options) (*DB, error) {
	db := &DB{kv: k, path: name, readOnly: opt.ReadOnly, feed: true, feedWriter: rand.Uint64() | 1}
	err := db.guard(func() error { return db.migrate(opt.ReadOnly) })
	if err == nil {
		err = db.contain("", db.missingBuckets)
	}
	if err != nil {
		_ = k.Close()
		return nil, err
	}
	return db, nil
}

// notFile is the refusal of what only a bbolt file can do (what), on a database opened with OpenKV.
func (db *DB) notFile(what, instead string) error {
	return fmt.Errorf("database %s is not a bbolt file but kept on a database server (PostgreSQL), so %s; %s", db.path, what, instead)
}

// minFileSize: bbolt's smallest file is two meta pages, a freelist page and an empty leaf.
var minFileSize = int64(4 * os.Getpagesize())

// unwritable says why path cannot be opened for writing, or "".
func unwritable(path string) string {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		_ = f.Close()
		return ""
	}
	switch {
	case errors.Is(err, syscall.EROFS):
		return "the file system is read-only"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return ""
}

func removeStub(path string) {
	_ = os.Remove(path)
	if readPID(path) == os.Getpid() || readPID(path) == 0 {
		_ = os.Remove(pidPath(path))
	}
}

func createError(path string, err error) error {
	return fmt.Errorf("database %s could not be created (%v), and nothing was left behind; check the free space and permissions there, or use --db for another place", path, rootCause(err))
}

// rootCause is the innermost error's text, for a sentence that wraps it once.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// ReadOnlyReason is the sentence saying why the database was opened read-only although writing was
// asked for (Options.ReadOnlyIfUnwritable), or "".
func (db *DB) ReadOnlyReason() string { return db.roReason }

// ReadOnly reports whether the database is open read-only.
func (db *DB) ReadOnly() bool { return db.readOnly }

// openBolt turns bbolt's errors and faults on a bad file into one sentence. After a fault inside
// bolt.Open its file handle (and lock) stay open until the process exits: bbolt returns no handle to close.
func openBolt(path string, opt Options) (b *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, damaged(path, panicCause(p))
		}
	}()
	b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout, ReadOnly: opt.ReadOnly})
	if err != nil {
		return nil, openError(path, err)
	}
	return b, nil
}

// guard runs fn at open, reporting a bbolt panic or memory fault (a damaged page) as a damaged file.
func (db *DB) guard(fn func() error) error {
	err := db.contain("", fn)
	if d, ok := err.(*Damage); ok && !d.Record {
		return damaged(db.path, errors.New(d.Cause))
	}
	return err
}

// panicCause turns a recovered fault into words for the admin: bbolt's own panics say what is wrong
// with the file; Go runtime errors (a bad pointer, an index out of range) only say a page is unreadable.
func panicCause(p any) error {
	if _, ok := p.(runtime.Error); ok {
		return errors.New("a page of it cannot be read")
	}
	if s := fmt.Sprint(p); !strings.Contains(s, "runtime error") && !strings.Contains(s, "goroutine") {
		return errors.New(s)
	}
	return errors.New("a page of it cannot be read")
}

func openError(path string, err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) {
		holder := ""
		if pid := readPID(path); pid > 0 {
			holder = fmt.Sprintf(" (pid %d)", pid)
		}
		return &classedError{class: ErrInUse, msg: fmt.Sprintf("database %s is in use by another vmmpm%s; stop it or use --db for another file", path, holder)}
	}
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) ||
		errors.Is(err, bolterrors.ErrVersionMismatch) {
		return damaged(path, err)
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("cannot open database %s because its disk is full (%w); free space there or use --db for another file", path, err)
	}
	return fmt.Errorf("cannot open database %s (%w); check the path and its permissions or use --db for another file", path, err)
}

// Reasons Open refuses a file, for errors.Is; the error itself is the sentence to show. ErrInUse: another
// process holds the lock. ErrDamaged: not a sound vmmpm database. ErrNewerSchema: written by a newer vmmpm.
var (
	ErrInUse       = errors.New("database in use by another process")
	ErrDamaged     = errors.New("database damaged")
	ErrNewerSchema = errors.New("database schema is newer than this vmmpm")
)

// classedError is a user-facing sentence that errors.Is matches against a sentinel.
type classedError struct {
	msg   string
	class error
}

func (e *classedError) Error() string        { return e.msg }
func (e *classedError) Is(target error) bool { return target == e.class }

// Classed is the sentence msg, matched by errors.Is against class: for other packages' refusals that
// are one sentence to show and a sentinel to test.
func Classed(class error, msg string) error { return &classedError{class: class, msg: msg} }

func damaged(path string, cause error) error {
	return &classedError{class: ErrDamaged, msg: fmt.Sprintf("database %s is damaged or not a vmmpm database (%v) and was left untouched; restore it from a backup or use --db for another file", path, cause)}
}

// The holder's pid sits beside the database so a refused opener can name it without the lock.
func pidPath(path string) string { return path + ".pid" }

// writePID records the holder; on a full disk it leaves no empty file behind (the pid is only advice).
func writePID(path string) {
	if err := os.WriteFile(pidPath(path), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.Remove(pidPath(path))
	}
}

// HolderPID is the pid the process holding database path wrote beside it, 0 when none is known.
func HolderPID(path string) int { return readPID(path) }

func readPID(path string) int {
	b, err := os.ReadFile(pidPath(path))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Path is the database file's path, or the name OpenKV was given.
func (db *DB) Path() string { return db.path }

// KV is the key/value database under db, for packages that keep buckets of their own (queue).
func (db *DB) KV() kv.DB { return db.kv }

// BoltFile is the bbolt file under db, or nil when it is no bbolt file (OpenKV): for what only bbolt
// has, such as a benchmark's bare committer.
func (db *DB) BoltFile() *bolt.DB { return db.bolt }

// Close releases the file lock (after the check of the whole file, if one is running).
func (db *DB) Close() error {
	if db.verified != nil {
		db.verifyOnce.Do(func() { close(db.verified) }) // never asked for: not needed any more
		<-db.verified
	}
	if db.bolt != nil && !db.readOnly && readPID(db.path) == os.Getpid() {
		_ = os.Remove(pidPath(db.path))
	}
	return db.kv.Close()
}

// Tx is a transaction over the record buckets.
type Tx struct {
	tx boundTx
	// the jobs this transaction wrote, for the feed (NoteJob); noted indexes changes by job id
	changes []JobChange
	noted   map[uint64]int
}

// boundTx is a kv transaction with the database it runs on, for naming the file in damage.
type boundTx struct {
	kv.Tx
	db *DB
}

func (db *DB) tx(t kv.Tx) *Tx { return &Tx{tx: boundTx{t, db}} }

// within runs fn, reading bucket: a fault there is damage named with that bucket.
func (tx *Tx) within(bucket []byte, fn func() error) error {
	return tx.tx.db.contain(string(bucket), fn)
}

// KV is the key/value transaction, for buckets owned by other packages.
func (tx *Tx) KV() kv.Tx { return tx.tx.Tx }

// UpdateFollows says another Update follows this one at once (kv.Follows); nothing on bbolt.
func (tx *Tx) UpdateFollows() {
	if f, ok := tx.tx.Tx.(kv.Follows); ok {
		f.UpdateFollows()
	}
}

// MustBucket is a bucket that is always there (a record kind's: Open checks), so a missing one is
// damage, which the transaction reports as such (kv.Tx.Bucket would give nil).
func (tx *Tx) MustBucket(name []byte) kv.Bucket { return tx.bucket(name) }

// Path is the database's file, or the name OpenKV was given, for naming it in damage.
func (tx *Tx) Path() string { return tx.tx.db.path }

// bucket is the named bucket, which must exist: a missing one (a damaged tree) panics as a nil
// bbolt bucket did, for contain to turn into Damage.
func (tx *Tx) bucket(name []byte) kv.Bucket {
	if b := tx.tx.Bucket(name); b != nil {
		return b
	}
	panic(missingBucket(name))
}

// missingBucket is the panic of a bucket that must exist and does not.
type missingBucket string

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error {
	return db.contain("", func() error { return db.kv.View(func(t kv.Tx) error { return fn(db.tx(t)) }) })
}

// Update runs fn in a read-write transaction, committed only if fn returns nil. Once damage that stops
// writes has been found (Damaged), it refuses with that damage and writes nothing.
func (db *DB) Update(fn func(*Tx) error) error {
	if db.verified != nil {
		db.verify()
	}
	if err := db.refusal(); err != nil {
		return err
	}
	return db.contain("", func() error {
		return db.kv.Update(func(t kv.Tx) error {
			tx := db.tx(t)
			if err := fn(tx); err != nil {
				return err
			}
			return tx.writeFeed()
		})
	})
}

// Record is implemented by every stored kind.
type Record interface {
	Bucket() []byte
	GetID() uint64
	SetID(uint64)
	Validate() error
}

type recordPtr[T any] interface {
	*T
	Record
}

// Bucket names, one per kind.
var (
	bucketMeta        = []byte("meta")
	bucketDataCenters = []byte("datacenters")
	bucketDepartments = []byte("departments")
	bucketModules     = []byte("modules")
	bucketTariffs     = []byte("tariffs")
	bucketServices    = []byte("services")
	bucketJobs        = []byte("jobs")
	bucketTasks       = []byte("tasks")
)

func (*DataCenter) Bucket() []byte { return bucketDataCenters }
func (*Department) Bucket() []byte { return bucketDepartments }
func (*Module) Bucket() []byte     { return bucketModules }
func (*Tariff) Bucket() []byte     { return bucketTariffs }
func (*Service) Bucket() []byte    { return bucketServices }
func (*Job) Bucket() []byte        { return bucketJobs }
func (*Task) Bucket() []byte       { return bucketTasks }

func (r *DataCenter) GetID() uint64 { return r.ID }
func (r *Department) GetID() uint64 { return r.ID }
func (r *Module) GetID() uint64     { return r.ID }
func (r *Tariff) GetID() uint64     { return r.ID }
func (r *Service) GetID() uint64    { return r.ID }
func (r *Job) GetID() uint64        { return r.ID }
func (r *Task) GetID() uint64       { return r.ID }

func (r *DataCenter) SetID(id uint64) { r.ID = id }
func (r *Department) SetID(id uint64) { r.ID = id }
func (r *Module) SetID(id uint64)     { r.ID = id }
func (r *Tariff) SetID(id uint64)     { r.ID = id }
func (r *Service) SetID(id uint64)    { r.ID = id }
func (r *Job) SetID(id uint64)        { r.ID = id }
func (r *Task) SetID(id uint64)       { r.ID = id }

// Key encodes an id as the big-endian bucket key.
func Key(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// KeyID decodes a bucket key.
func KeyID(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// Put validates r, assigns an id from the bucket sequence when it has none, and stores it.
func (tx *Tx) Put(r Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b := tx.bucket(r.Bucket())
	if r.GetID() == 0 {
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		r.SetID(id)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(Key(r.GetID()), v)
}

// Delete removes the record of r's kind with r's id.
func (tx *Tx) Delete(r Record) error {
	return tx.bucket(r.Bucket()).Delete(Key(r.GetID()))
}

// Get loads the record of kind T with id, or ErrNotFound.
func Get[T any, P recordPtr[T]](tx *Tx, id uint64) (P, error) {
	p := P(new(T))
	var v []byte
	if err := tx.within(p.Bucket(), func() error { v = tx.bucket(p.Bucket()).Get(Key(id)); return nil }); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%s %d: %w", strings.TrimSuffix(string(p.Bucket()), "s"), id, ErrNotFound)
	}
	if err := json.Unmarshal(v, p); err != nil {
		return nil, unreadable(tx.tx, p.Bucket(), Key(id), err)
	}
	return p, nil
}

// Each calls fn for every record of kind T in id order until fn returns false.
func Each[T any, P recordPtr[T]](tx *Tx, fn func(P) bool) error {
	return eachFrom[T, P](tx, nil, fn)
}

// eachFrom is Each from the first key at or after from (nil: the first).
func eachFrom[T any, P recordPtr[T]](tx *Tx, from []byte, fn func(P) bool) error {
	name := P(new(T)).Bucket()
	return tx.within(name, func() error {
		c := tx.bucket(name).Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		for ; k != nil; k, v = c.Next() {
			p := P(new(T))
			if err := json.Unmarshal(v, p); err != nil {
				return unreadable(tx.tx, name, k, err)
			}
			if !fn(p) {
				return nil
			}
		}
		return nil
	})
}

// All returns every record of kind T in id order.
func All[T any, P recordPtr[T]](db *DB) ([]P, error) {
	var out []P
	err := db.View(func(tx *Tx) error {
		return Each(tx, func(p P) bool { out = append(out, p); return true })
	})
	return out, err
}

// Load reads one record of kind T.
func Load[T any, P recordPtr[T]](db *DB, id uint64) (P, error) {
	var p P
	err := db.View(func(tx *Tx) (err error) { p, err = Get[T, P](tx, id); return err })
	return p, err
}

// Save stores r in its own transaction.
func (db *DB) Save(r Record) error {
	return db.Update(func(tx *Tx) error { return tx.Put(r) })
}
