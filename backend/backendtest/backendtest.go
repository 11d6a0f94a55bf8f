// Package backendtest is the conformance suite of backend.Backend: one set of behaviour tests that
// every implementation runs, as River's riverdrivertest runs one suite against every driver. Local
// runs it in backend/local_test.go, server.Client over a real Unix socket in
// server/conformance_test.go; a new implementation (a store other than bbolt, another transport)
// runs it the same way:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Driver{
//			Open: func(t *testing.T, env *backendtest.Env) backend.Backend { … over env.DB, env.Secrets, env.Engine … },
//			Addr: storetest.Path,
//			Caps: backendtest.Caps{…where it legitimately differs…},
//		})
//	}
//
// Each test gets a fresh Env (a database of its own from Driver.Addr, a bbolt file or a PostgreSQL
// schema; passwords in memory; the VMmanager emulator on loopback) and asks the driver for the Backend under test over it. The tests act only
// through backend.Backend; the few things no Backend call makes (a client's service) or shows (where
// a password is kept) go through Env's methods, the one seam a different store changes.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/store/kv"
	"vmmpm/vmm/sim"
)

// Driver is one implementation under test.
type Driver struct {
	// Open returns the Backend under test over env: its database (env.DB), its passwords (env.Secrets)
	// and, when the test runs one, its engine (env.Engine; nil means none runs, and the Backend makes
	// a stopped one of its own as Local does). The suite closes what Open returns, and may call Open
	// again over the same env once it has (a restart).
	Open func(t *testing.T, env *Env) backend.Backend
	// Addr is the address of a new, empty database for one test: storetest.Path, so the suite runs on
	// the store driver VMMPM_TEST_STORE picks (backend's import rules keep internal/ out of here).
	Addr func(t testing.TB) string
	// Caps says where the implementation legitimately differs from the others.
	Caps Caps
}

// Caps are the behaviours only some implementations have. The suite tests what is declared, and
// for what is not, that the implementation does not pretend to have it.
type Caps struct {
	// Attached: it answers as a server does: Info.Mode is backend.ModeAttached whoever runs the
	// engine, Info.Socket says where it listens and Status.Server is true. Otherwise Mode is
	// backend.ModeEngine when env.Engine runs, else backend.ModeDirect.
	Attached bool
	// Keep is how many recent events it keeps for a stream that resumes (the server's HubKeep): a
	// stream opened after event N gets what followed N while at most Keep did, else one Reset. With
	// 0 it keeps nothing: a stream sees only what happens while it is open, and says Reset when it
	// starts past a gap.
	Keep int
	// DurableSeq: event numbers go on across a reopen over the same database, past anything the
	// previous Backend sent (the server's SeqStore). Without it they may start again.
	DurableSeq bool
	// Light: a light stream carries job and lane events as notices (Covers, no Job); without it a
	// light stream carries them whole.
	Light bool
}

// Env is one test's fixture.
type Env struct {
	T *testing.T
	// DB is the database the Backend under test serves.
	DB *store.DB
	// Secrets holds the modules' passwords (in memory: the suite is not about the keyring).
	Secrets store.Secrets
	// Engine is the engine running on DB when the test started one (RunEngine), else nil.
	Engine *queue.Engine
	// Version is the version the Backend answers with.
	Version string
	// Sim is the VMmanager the modules point at, at SimURL; AdminEmail and Password log in to it.
	Sim        *sim.Sim
	SimURL     string
	AdminEmail string
	Password   string

	driver *Driver
	mu     sync.Mutex
	open   backend.Backend
}

// Version is what every Backend under the suite is opened with.
const Version = "conformance"

// Fixture values: the emulator's administrator, and a password that appears nowhere else, so a
// search of the database for it means something.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "Conformance-Secret-7f3a"
)

// Run runs every behaviour test against the implementation d opens.
func Run(t *testing.T, d Driver) {
	if d.Open == nil || d.Addr == nil {
		t.Fatal("backendtest.Run: Driver.Open and Driver.Addr must both be set (Addr: storetest.Path)")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEnv(t, &d)) })
	}
}

type test struct {
	name string
	run  func(t *testing.T, env *Env)
}

// tests is the suite, in the order it runs.
var tests = []test{
	{"Info", testInfo},
	{"Status", testStatus},
	{"Records", testRecords},
	{"DataCenters", testDataCenters},
	{"Departments", testDepartments},
	{"Tariffs", testTariffs},
	{"DeleteModule", testDeleteModule},
	{"CloseTasks", testCloseTasks},
	{"Catalog", testCatalog},
	{"CheckIntegration", testCheckIntegration},
	{"CheckPlacement", testCheckPlacement},
	{"AddPlacement", testAddPlacement},
	{"SaveModule", testSaveModule},
	{"ModuleImages", testModuleImages},
	{"CheckModule", testCheckModule},
	{"SetPassword", testSetPassword},
	{"SetModule", testSetModule},
	{"CreateServices", testCreateServices},
	{"Listings", testListings},
	{"JobsView", testJobsView},
	{"Enqueue", testEnqueue},
	{"Cancel", testCancel},
	{"Retry", testRetry},
	{"PauseModule", testPauseModule},
	{"CancelRunning", testCancelRunning},
	{"Stats", testStats},
	{"Events", testEvents},
	{"EventsLight", testEventsLight},
	{"EventsResume", testEventsResume},
	{"EventsReopen", testEventsReopen},
	{"Engine", testEngine},
	{"Reconcile", testReconcile},
	{"Backup", testBackup},
	{"SetWebhookSecret", testSetWebhookSecret},
}

func newEnv(t *testing.T, d *Driver) *Env {
	t.Helper()
	db, err := store.Open(d.Addr(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s := sim.New(sim.Config{AdminEmail: AdminEmail, AdminPassword: AdminPassword, Seed: 1})
	vm := httptest.NewServer(s)
	t.Cleanup(vm.Close)
	return &Env{T: t, DB: db, Secrets: store.NewMemorySecrets(), Version: Version, Sim: s, SimURL: vm.URL,
		AdminEmail: AdminEmail, Password: AdminPassword, driver: d}
}

// Caps are the driver's capabilities.
func (env *Env) Caps() Caps { return env.driver.Caps }

// Backend is the Backend under test, opened on first use.
func (env *Env) Backend() backend.Backend {
	env.T.Helper()
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.open == nil {
		b := env.driver.Open(env.T, env)
		if b == nil {
			env.T.Fatal("Driver.Open returned nil")
		}
		env.open = b
		env.T.Cleanup(func() {
			if err := env.close(); err != nil {
				env.T.Errorf("closing the backend: %v", err)
			}
		})
	}
	return env.open
}

// Reopen closes the Backend under test and opens a new one over the same fixture: a restart.
func (env *Env) Reopen() backend.Backend {
	env.T.Helper()
	if err := env.close(); err != nil {
		env.T.Fatalf("closing the backend: %v", err)
	}
	return env.Backend()
}

func (env *Env) close() error {
	env.mu.Lock()
	b := env.open
	env.open = nil
	env.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

// RunEngine starts an engine on env.DB with the VMmanager executor (polling the emulator's tasks
// every 20 ms), running until the test ends; the Backend opened after it is given it (env.Engine).
func (env *Env) RunEngine() *queue.Engine {
	env.T.Helper()
	env.mu.Lock()
	opened := env.open != nil
	env.mu.Unlock()
	if opened {
		env.T.Fatal("RunEngine must come before the backend is opened")
	}
	e, err := queue.New(env.DB, env.Secrets, queue.Options{PollEvery: 20 * time.Millisecond, BackoffBase: 10 * time.Millisecond})
	if err != nil {
		env.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	env.T.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			env.T.Errorf("engine: %v", err)
		}
		_ = e.Close()
	})
	env.Engine = e
	return e
}

// AddService stores a client's service as the engine's CreateServices would have left it: no
// Backend call makes one but that (which the suite leaves to its own tests).
func (env *Env) AddService(tariff, module uint64, status string, hostID uint64) *store.Service {
	env.T.Helper()
	now := time.Now().UTC()
	s := &store.Service{TariffID: tariff, ModuleID: module, ClientEmail: "client@example.com", Status: status,
		VM: store.VM{HostID: hostID}, CreatedAt: now, UpdatedAt: now}
	if err := env.DB.Save(s); err != nil {
		env.T.Fatal(err)
	}
	return s
}

// SaveService writes s back, as the engine would after a change of its status.
func (env *Env) SaveService(s *store.Service) {
	env.T.Helper()
	if err := env.DB.Save(s); err != nil {
		env.T.Fatal(err)
	}
}

// Stored reports whether text appears anywhere in the database (a password must not). A bbolt file
// is read raw, so freed pages count too; a database on a server is searched key by key.
func (env *Env) Stored(text string) bool {
	env.T.Helper()
	if env.DB.BoltFile() == nil {
		return env.storedKV([]byte(text))
	}
	raw, err := os.ReadFile(env.DB.Path())
	if err != nil {
		env.T.Fatal(err)
	}
	return bytes.Contains(raw, []byte(text))
}

// storedKV searches every bucket's names, keys and values.
func (env *Env) storedKV(text []byte) bool {
	env.T.Helper()
	found := false
	err := env.DB.KV().View(func(tx kv.Tx) error {
		return tx.ForEach(func(name []byte, b kv.Bucket) error {
			found = found || bytes.Contains(name, text)
			c := b.Cursor()
			for k, v := c.First(); k != nil && !found; k, v = c.Next() {
				found = bytes.Contains(k, text) || bytes.Contains(v, text)
			}
			return nil
		})
	})
	if err != nil {
		env.T.Fatal(err)
	}
	return found
}

// unreachableURL is a loopback address nothing listens on.
func unreachableURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// ---- assertions ----

// ctx is a context for one call, bounded so a hung implementation fails the test instead of the run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantIs fails unless err matches target with errors.Is.
func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v (%T) does not match %v with errors.Is", what, err, err, target)
	}
}

// wantRule fails unless err is a *store.ValidationError for field whose rule contains says.
func wantRule(t *testing.T, what string, err error, field, says string) *store.ValidationError {
	t.Helper()
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("%s: error %v (%T) is not a *store.ValidationError", what, err, err)
		return nil
	}
	if ve.Field != field || !strings.Contains(ve.Rule, says) {
		t.Errorf("%s: refusal %q of field %q, want field %q saying %q", what, ve.Rule, ve.Field, field, says)
	}
	return ve
}

// wantSentence fails unless err is an error whose text contains says.
func wantSentence(t *testing.T, what string, err error, says string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), says) {
		t.Errorf("%s: error %v, want one saying %q", what, err, says)
	}
}

// eventually polls cond until it holds or d passes; cond says what it saw, for the failure.
func eventually(t *testing.T, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, saw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
