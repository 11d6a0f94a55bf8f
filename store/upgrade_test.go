package store_test

import (
	"os"
	"path/filepath"
	"testing"

	"vmmpm/queue"
	"vmmpm/store"
)

// The files in testdata were written by released vmmpm builds (testdata/make-old-db.sh says how):
// schema1-round1.db by 0daff96, which had no queue_counts or queue_unfinished buckets, and
// schema1-round2.db by e401297. Both hold 1 data center, 1 department, 1 module, 1 tariff, 6 active
// services and 11 jobs: 8 done, 1 cancelled, 2 queued. No released build wrote a file before schema
// versions (TestOldSchemaMigrated builds such a version-0 file by hand).
var oldFiles = []string{"schema1-round1.db", "schema1-round2.db"}

// openOld copies a testdata file to a temporary folder (the original stays as it was) and opens it
// with today's store, which migrates it.
func openOld(t *testing.T, name string) *store.DB {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := tempPath(t)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return mustOpen(t, path)
}

func TestOlderFilesOpenAndMigrate(t *testing.T) {
	for _, name := range oldFiles {
		t.Run(name, func(t *testing.T) {
			db := openOld(t, name)
			defer db.Close()
			requireOldRecords(t, db)
			requireOldJobs(t, db)
			// New records go on from the old sequences.
			dc := &store.DataCenter{Name: "DC Two"}
			if err := db.Save(dc); err != nil || dc.ID != 2 {
				t.Fatalf("a new data center got id %d (%v), want 2", dc.ID, err)
			}
			// A backup of the upgraded file holds the same.
			in, err := db.Backup(filepath.Join(t.TempDir(), "after-upgrade.db"), false)
			if err != nil {
				t.Fatal(err)
			}
			if in.Schema != store.SchemaVersion || in.Records["jobs"] != 11 || in.Records["services"] != 6 {
				t.Fatalf("backup of the upgraded file: %+v", in)
			}
		})
	}
}

func requireOldRecords(t *testing.T, db *store.DB) {
	t.Helper()
	dcs, err := store.All[store.DataCenter](db)
	if err != nil || len(dcs) != 1 || dcs[0].Name != "DC One" {
		t.Fatalf("data centers: %+v, %v", dcs, err)
	}
	deps, err := store.All[store.Department](db)
	if err != nil || len(deps) != 1 || deps[0].Name != "Support" {
		t.Fatalf("departments: %+v, %v", deps, err)
	}
	mods, err := store.All[store.Module](db)
	if err != nil || len(mods) != 1 || mods[0].Name != "KVM old" || mods[0].DataCenterID != 1 || mods[0].Username != "admin@example.com" {
		t.Fatalf("modules: %+v, %v", mods, err)
	}
	tariffs, err := store.All[store.Tariff](db)
	if err != nil || len(tariffs) != 1 || tariffs[0].Name != "VPS-old" || tariffs[0].RAMMiB != 1024 {
		t.Fatalf("tariffs: %+v, %v", tariffs, err)
	}
	svcs, err := store.All[store.Service](db)
	if err != nil || len(svcs) != 6 {
		t.Fatalf("services: %d, %v", len(svcs), err)
	}
	for _, s := range svcs {
		if s.Status != store.ServiceActive || s.VM.HostID == 0 || s.ModuleID != 1 || s.ClientEmail != "old@example.com" {
			t.Errorf("service %d: %+v", s.ID, s)
		}
	}
}

// requireOldJobs finds every job in its state, both in the records and in today's engine, which
// builds the index buckets an older file lacks.
func requireOldJobs(t *testing.T, db *store.DB) {
	t.Helper()
	jobs, err := store.All[store.Job](db)
	if err != nil || len(jobs) != 11 {
		t.Fatalf("jobs: %d, %v", len(jobs), err)
	}
	want := map[uint64]string{9: store.JobCancelled, 10: store.JobQueued, 11: store.JobQueued}
	for _, j := range jobs {
		state, ok := want[j.ID]
		if !ok {
			state = store.JobDone
		}
		if j.State != state || j.ServiceID == 0 || j.ModuleID != 1 {
			t.Errorf("job %d: %s on service %d, want %s", j.ID, j.State, j.ServiceID, state)
		}
	}
	eng, err := queue.New(db, store.NewMemorySecrets(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	c := eng.Counts()[1]
	if c.Done != 8 || c.Cancelled != 1 || c.Queued != 2 || c.Running != 0 || c.Failed != 0 {
		t.Fatalf("the engine counts %+v on module 1", c)
	}
	page, total, err := eng.Page(store.JobQueued, 0, 10)
	if err != nil || total != 2 || len(page) != 2 || page[0].ID+page[1].ID != 21 {
		t.Fatalf("queued page: %d jobs of %d, %v", len(page), total, err)
	}
}
