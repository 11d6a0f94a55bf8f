package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/internal/storetest"
	"vmmpm/store"
	"vmmpm/store/kv"
)

var t0 = time.Date(2025, 11, 25, 20, 0, 1, 123456789, time.UTC)

// tempPath is a new bbolt file, for tests about the file itself.
func tempPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "vmmpm.db")
}

// dbAddr is a new database of the run's driver (storetest.Path), for tests about the records.
func dbAddr(t *testing.T) string {
	t.Helper()
	return storetest.Path(t)
}

func mustOpen(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return db
}

// Records with every field set, so a field that does not survive the file shows up.
func fullDataCenter() *store.DataCenter {
	return &store.DataCenter{Name: "DC One", ExternalID: "17"}
}

func fullDepartment() *store.Department { return &store.Department{Name: "Support"} }

func fullModule() *store.Module {
	return &store.Module{
		Name: "vmm-1", ProductType: store.ProductVPS, Kind: store.KindVMmanager6,
		URL: "https://vmm.example.com", Username: "admin@example.com", InsecureTLS: true,
		DataCenterID: 1, DepartmentID: 2, Sort: 10,
		Cluster:    store.Cluster{ID: 3, Name: "kvm-1", Virtualization: store.VirtKVM},
		UseRecipes: true, RecipeWait: store.RecipeWaitRecipe, AdditionalInterface: true, Enabled: true,
		ActivationLimit: 5, ReconcileEvery: "2h", AttemptTimeout: "open=45m",
		Params:       store.Params{SessionTTL: 60, Queue: true, QueueKey: "vmm6-__PMID__-__TYPE__", QueueCount: 3},
		LastCheck:    &store.Check{At: t0, OK: true, Message: "logged in"},
		LastDeep:     &store.DeepCheck{At: t0, OK: true, Probes: 14, Differs: []string{"clusters"}, Inconclusive: []string{"task names"}, Write: true}, // every field set for the round trip
		CapacityWarn: new(25),
		TLSPin:       "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
		TLSCAFile:    "/etc/vmmpm/vmm-ca.pem",
	}
}

func fullTariff() *store.Tariff {
	return &store.Tariff{Name: "VPS S", DataCenterID: 1, ModuleIDs: []uint64{4, 2}, CPU: 2, RAMMiB: 2048,
		DiskMiB: 20480, OSID: 7, RecipeID: 9, IPv4Count: 1, DomainTemplate: "@USERNAME@-@ID@.example.com"}
}

func fullService() *store.Service {
	return &store.Service{ExternalID: "whmcs-1", TariffID: 1, ModuleID: 2, ClientEmail: "client@example.com", Domain: "c1.example.com",
		Status:    store.ServiceActive,
		VM:        store.VM{HostID: 11, AccountID: 12, IPv4: []string{"192.0.2.10"}, IPv6: []string{"2001:db8::10"}, DiskMiB: 10240, CPU: 2, RAMMiB: 2048},
		CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
}

func fullJob() *store.Job {
	return &store.Job{ServiceID: 1, ModuleID: 2, Type: store.OpOpen, Args: map[string]string{"os": "7"},
		State: store.JobRetrying, QueueKey: "vmm6-2-1", Lane: 1, Attempt: 2, MaxAttempts: store.DefaultMaxTries,
		NextRunAt: t0.Add(16 * time.Second), VMTask: &store.VMTask{ConsulID: "42", Name: "host_create"},
		Error: "503 from VMmanager", Log: []store.LogLine{{At: t0, Text: "started"}}, By: "uid 1000 (alice)", Refused: true,
		EnqueuedAt: t0, StartedAt: t0.Add(time.Second), FinishedAt: t0.Add(2 * time.Second)}
}

func fullTask() *store.Task {
	return &store.Task{DepartmentID: 2, ModuleID: 3, ServiceID: 4, JobID: 5, Title: "manual setup",
		Reason: "no module fits", CreatedAt: t0, ClosedAt: t0.Add(time.Hour)}
}

// requireAllSet fails on any zero exported field, following structs and pointers.
func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			t.Fatalf("%s is nil in the fixture", path)
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type() == reflect.TypeFor[time.Time]() {
		if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
			t.Fatalf("%s is zero in the fixture: the round trip would not test it", path)
		}
		return
	}
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).IsExported() {
			requireAllSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	}
}

func roundTrip[T any, P interface {
	*T
	store.Record
}](t *testing.T, path string, rec P) {
	t.Helper()
	db := mustOpen(t, path)
	if err := db.Save(rec); err != nil {
		t.Fatalf("save %T: %v", rec, err)
	}
	if rec.GetID() == 0 {
		t.Fatalf("save %T assigned no id", rec)
	}
	requireAllSet(t, reflect.ValueOf(rec), fmt.Sprintf("%T", rec))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, path)
	defer db.Close()
	got, err := store.Load[T, P](db, rec.GetID())
	if err != nil {
		t.Fatalf("load %T %d after reopen: %v", rec, rec.GetID(), err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("%T changed across the file:\n got  %+v\n want %+v", rec, got, rec)
	}
	all, err := store.All[T, P](db)
	if err != nil || len(all) != 1 || !reflect.DeepEqual(all[0], rec) {
		t.Fatalf("All[%T] = %v, %v; want just the saved record", rec, all, err)
	}
}

func TestRoundTripEveryKindReopened(t *testing.T) {
	path := dbAddr(t)
	roundTrip(t, path, fullDataCenter())
	roundTrip(t, path, fullDepartment())
	roundTrip(t, path, fullModule())
	roundTrip(t, path, fullTariff())
	roundTrip(t, path, fullService())
	roundTrip(t, path, fullJob())
	roundTrip(t, path, fullTask())
}

func TestPutGetDeleteEach(t *testing.T) {
	db := mustOpen(t, dbAddr(t))
	defer db.Close()
	for _, n := range []string{"a", "b", "c"} {
		if err := db.Save(&store.Department{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	bad := &store.Department{Name: " "}
	var ve *store.ValidationError
	if err := db.Save(bad); !errors.As(err, &ve) || ve.Field != "name" || bad.ID != 0 {
		t.Fatalf("saving an empty name: err %v, id %d; want a name ValidationError and no id", err, bad.ID)
	}
	if err := db.Update(func(tx *store.Tx) error { return tx.Delete(&store.Department{ID: 2}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load[store.Department](db, 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("load deleted: %v, want ErrNotFound", err)
	}
	var seen []string
	err := db.View(func(tx *store.Tx) error {
		return store.Each(tx, func(d *store.Department) bool { seen = append(seen, d.Name); return len(seen) < 1 })
	})
	if err != nil || !reflect.DeepEqual(seen, []string{"a"}) {
		t.Fatalf("Each stopping after one: %v, %v", seen, err)
	}
	d := &store.Department{Name: "d"}
	if err := db.Save(d); err != nil || d.ID != 4 {
		t.Fatalf("next id after 3 saves and a refused one: %d, %v; want 4", d.ID, err)
	}
	if !bytes.Equal(store.Key(258), []byte{0, 0, 0, 0, 0, 0, 1, 2}) || store.KeyID(store.Key(1<<40)) != 1<<40 {
		t.Fatal("Key is not big-endian or KeyID does not invert it")
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	db := mustOpen(t, dbAddr(t))
	defer db.Close()
	boom := errors.New("boom")
	err := db.Update(func(tx *store.Tx) error {
		if err := tx.Put(&store.Department{Name: "x"}); err != nil {
			return err
		}
		return boom
	})
	all, _ := store.All[store.Department](db)
	if !errors.Is(err, boom) || len(all) != 0 {
		t.Fatalf("failed Update kept %d records (err %v)", len(all), err)
	}
}

func TestFileAndFolderModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "vmmpm")
	path := filepath.Join(dir, "vmmpm.db")
	db := mustOpen(t, path)
	defer db.Close()
	for p, want := range map[string]os.FileMode{
		filepath.Dir(dir): 0o700 | os.ModeDir, dir: 0o700 | os.ModeDir, path: 0o600, path + ".pid": 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
	}
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
}

func TestDefaultPathsFollowXDG(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_DATA_HOME", "/xd")
	t.Setenv("XDG_STATE_HOME", "/xs")
	if got := store.DefaultPath(); got != "/xd/vmmpm/vmmpm.db" {
		t.Errorf("DefaultPath with XDG_DATA_HOME: %s", got)
	}
	if got := store.DefaultLogPath(); got != "/xs/vmmpm/vmmpm.log" {
		t.Errorf("DefaultLogPath with XDG_STATE_HOME: %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "relative/ignored")
	t.Setenv("XDG_STATE_HOME", "")
	if got := store.DefaultPath(); got != "/home/u/.local/share/vmmpm/vmmpm.db" {
		t.Errorf("DefaultPath with a relative XDG_DATA_HOME: %s", got)
	}
	if got := store.DefaultLogPath(); got != "/home/u/.local/state/vmmpm/vmmpm.log" {
		t.Errorf("DefaultLogPath without XDG_STATE_HOME: %s", got)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := tempPath(t)
	pid, release := startHolder(t, path)
	start := time.Now()
	db, err := store.Open(path, store.Options{})
	took := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("opened a database another process holds")
	}
	want := fmt.Sprintf("database %s is in use by another vmmpm (pid %d)", path, pid)
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || !errors.Is(err, store.ErrInUse) {
		t.Fatalf("error %q, want one line containing %q", err, want)
	}
	if took > 2*time.Second {
		t.Fatalf("refusal took %v, want under 2 s", took)
	}
	release()
	if _, err := os.Stat(path + ".pid"); !os.IsNotExist(err) {
		t.Fatalf("holder's pid file left after it closed: %v", err)
	}
	db = mustOpen(t, path)
	if b, _ := os.ReadFile(path + ".pid"); string(b) != fmt.Sprint(os.Getpid()) {
		t.Errorf("pid file holds %q, want this process %d", b, os.Getpid())
	}
	db.Close()
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// requireRefused opens path, expects an error matching class, and checks the file did not change.
func requireRefused(t *testing.T, path string, class error, words ...string) {
	t.Helper()
	before := fileSum(t, path)
	db, err := store.Open(path, store.Options{})
	if err == nil {
		db.Close()
		t.Fatalf("%s opened; want it refused", path)
	}
	if !errors.Is(err, class) {
		t.Errorf("error %q is not %v", err, class)
	}
	msg := err.Error()
	t.Logf("refused: %s", msg)
	if strings.Contains(msg, "\n") || strings.Count(msg, ". ") > 0 || !strings.Contains(msg, path) {
		t.Errorf("error is not one sentence naming the file: %q", msg)
	}
	for _, w := range []string{"runtime error", "goroutine", "nil pointer", "index out of range"} {
		if strings.Contains(msg, w) {
			t.Errorf("error shows Go runtime text %q: %q", w, msg)
		}
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	if fileSum(t, path) != before {
		t.Errorf("%s changed on a refused open", path)
	}
	if _, err := os.Stat(path + ".pid"); !os.IsNotExist(err) {
		t.Errorf("refused open left a pid file: %v", err)
	}
}

// populated writes a real database with n data centers and returns its path.
func populated(t *testing.T, n int) string {
	t.Helper()
	path := tempPath(t)
	db := mustOpen(t, path)
	for i := 0; i < n; i++ {
		if err := db.Save(&store.DataCenter{Name: fmt.Sprintf("dc-%d-%s", i, strings.Repeat("x", 40))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func rewrite(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptFilesRefusedUntouched(t *testing.T) {
	page := os.Getpagesize()
	cases := map[string]func(t *testing.T) string{
		"random bytes": func(t *testing.T) string {
			path := tempPath(t)
			b := make([]byte, 64<<10)
			rand.New(rand.NewSource(1)).Read(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		},
		"empty file": func(t *testing.T) string {
			path := tempPath(t)
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		},
		"text file": func(t *testing.T) string {
			path := tempPath(t)
			if err := os.WriteFile(path, []byte("name,external_id\nDC One,17\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		},
		"both meta checksums broken": func(t *testing.T) string {
			path := populated(t, 3)
			rewrite(t, path, func(b []byte) []byte {
				b[72] ^= 0xff // meta page 0: checksum field (16-byte page header + 56 bytes of meta)
				b[page+72] ^= 0xff
				return b
			})
			return path
		},
		"truncated": func(t *testing.T) string {
			path := populated(t, 300)
			rewrite(t, path, func(b []byte) []byte { return b[:2*page] })
			return path
		},
		"truncated to half": func(t *testing.T) string {
			path := populated(t, 300)
			rewrite(t, path, func(b []byte) []byte { return b[:len(b)/2/page*page] })
			return path
		},
		"data pages overwritten": func(t *testing.T) string {
			path := populated(t, 300)
			rewrite(t, path, func(b []byte) []byte {
				rand.New(rand.NewSource(2)).Read(b[2*page:])
				return b
			})
			return path
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			requireRefused(t, build(t), store.ErrDamaged, "damaged", "left untouched")
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := populated(t, 1)
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), store.Key(store.SchemaVersion+1))
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	requireRefused(t, path, store.ErrNewerSchema, "newer", "upgrade vmmpm")
}

// writeV0 builds a file as vmmpm wrote it before schema versions: record buckets, no meta.
func writeV0(t *testing.T, path string, extraBucket string) {
	t.Helper()
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	err = raw.Update(func(tx *bolt.Tx) error {
		dcs, err := tx.CreateBucket([]byte("datacenters"))
		if err != nil {
			return err
		}
		for id := uint64(1); id <= 3; id++ {
			v := fmt.Sprintf(`{"id":%d,"name":"old-%d","external_id":""}`, id, id)
			if err := dcs.Put(store.Key(id), []byte(v)); err != nil {
				return err
			}
		}
		if err := dcs.SetSequence(3); err != nil {
			return err
		}
		deps, err := tx.CreateBucket([]byte("departments"))
		if err != nil {
			return err
		}
		if err := deps.Put(store.Key(1), []byte(`{"id":1,"name":"Support"}`)); err != nil {
			return err
		}
		if extraBucket != "" {
			_, err = tx.CreateBucket([]byte(extraBucket))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOldSchemaMigrated(t *testing.T) {
	path := tempPath(t)
	writeV0(t, path, "")
	db := mustOpen(t, path)
	defer db.Close()
	var version []byte
	var buckets []string
	_ = db.KV().View(func(tx kv.Tx) error {
		version = append(version, tx.Bucket([]byte("meta")).Get([]byte("schema_version"))...)
		return tx.ForEach(func(name []byte, _ kv.Bucket) error { buckets = append(buckets, string(name)); return nil })
	})
	if !bytes.Equal(version, store.Key(store.SchemaVersion)) {
		t.Fatalf("schema version after migration: %x, want %d", version, store.SchemaVersion)
	}
	want := []string{"datacenters", "departments", "jobs", "meta", "modules", "services", "tariffs", "tasks"}
	if !reflect.DeepEqual(buckets, want) {
		t.Fatalf("buckets after migration: %v, want %v", buckets, want)
	}
	dcs, err := store.All[store.DataCenter](db)
	if err != nil || len(dcs) != 3 || dcs[2].Name != "old-3" {
		t.Fatalf("old data centers after migration: %+v, %v", dcs, err)
	}
	dc := &store.DataCenter{Name: "new"}
	if err := db.Save(dc); err != nil || dc.ID != 4 {
		t.Fatalf("new data center got id %d (%v), want 4: the old sequence must carry over", dc.ID, err)
	}
	if err := db.Save(&store.Module{}); err == nil {
		t.Fatal("an invalid module saved into a migrated file")
	}
}

func TestOldSchemaReadOnlyNeedsMigration(t *testing.T) {
	path := tempPath(t)
	writeV0(t, path, "")
	before := fileSum(t, path)
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err == nil {
		db.Close()
		t.Fatal("read-only open of an unmigrated file succeeded")
	}
	if !strings.Contains(err.Error(), "needs migrating") || fileSum(t, path) != before {
		t.Fatalf("read-only open: %v (file changed: %v)", err, fileSum(t, path) != before)
	}
}

func TestForeignBboltFileRefused(t *testing.T) {
	path := tempPath(t)
	writeV0(t, path, "etcd_members")
	requireRefused(t, path, store.ErrDamaged, `"etcd_members"`)
}

func TestReadOnlyOpenSharesWithReaders(t *testing.T) {
	path := populated(t, 2)
	a, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dcs, err := store.All[store.DataCenter](a)
	if err != nil || len(dcs) != 2 {
		t.Fatalf("read-only list: %d, %v", len(dcs), err)
	}
	if err := a.Save(&store.Department{Name: "x"}); err == nil {
		t.Fatal("saved through a read-only handle")
	}
}
