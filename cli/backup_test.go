package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/store"
)

// runIn runs the vmmpm program in its own process from folder dir and returns its output and exit code.
func runIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := vmmpmCmd(args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if code < 0 {
		t.Fatalf("vmmpm %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// bboltCheck runs bbolt's own consistency check over the file at path.
func bboltCheck(t *testing.T, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: time.Second})
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

// repoint moves the test module to the VMmanager at url (a `vmmpm sim` of the test's own).
func repoint(t *testing.T, path, url string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := store.Load[store.Module](db, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.URL = url
	if err := db.Save(m); err != nil {
		t.Fatal(err)
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestBackupDuringARunThenRestore: `vmmpm backup` from another folder while a real `vmmpm serve` runs
// 200 operations against `vmmpm sim`: the copy (0600, at the path relative to the caller) passes
// bbolt's check, opens, and holds every record committed before the backup began; a second backup to
// the same file is refused and changes nothing. Then the README's restore steps: stop serve, vmmpm
// restore, start serve: every job of the backup is there and the run ends with each VM created once.
func TestBackupDuringARunThenRestore(t *testing.T) {
	env := newEngineEnv(t, 30*time.Millisecond)
	simURL, _, _, stopSim := startSim(t, "", "--task-time", "30ms", "--seed", "1")
	defer func() { _ = stopSim() }()
	repoint(t, env.db, simURL)
	env.cli("tariff", "add", "--spec", env.spec)
	srv := env.startServe()
	c := env.client()
	ctx := context.Background()
	ord, err := c.CreateServices(ctx, "small", 50, "client@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ord.Services {
		for range 3 {
			if _, err := c.Enqueue(ctx, s.ID, store.OpReboot, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Some way into the run, note what is committed, then back up from another folder.
	var before []*store.Job
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		jl, err := c.Jobs(ctx, backend.JobQuery{State: store.JobDone})
		if err == nil && len(jl.Jobs) >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("40 jobs did not finish within 60 s: %v", err)
		}
	}
	jl, err := c.Jobs(ctx, backend.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	before = jl.Jobs
	caller := t.TempDir()
	out, errOut, code := runIn(t, caller, "--db", env.db, "--socket", env.socket(), "backup", "copy.db", "--json")
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	in := decodeJSON[store.BackupInfo](t, out)
	copyPath := filepath.Join(caller, "copy.db")
	if in.Path != copyPath || in.Records["jobs"] != 200 || in.Records["services"] != 50 || in.Records["modules"] != 1 || in.Records["tariffs"] != 1 {
		t.Fatalf("backup says %+v", in)
	}
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the copy: %v, mode %v", err, fi.Mode())
	}
	bboltCheck(t, copyPath)
	unfinished := requireHolds(t, copyPath, before)
	if unfinished == 0 {
		t.Fatal("every job had finished in the copy: it was not taken during the run")
	}
	sum := fileHash(t, copyPath)
	_, errOut, code = runIn(t, caller, "--db", env.db, "--socket", env.socket(), "backup", "copy.db")
	if code != exitUsage || fileHash(t, copyPath) != sum {
		t.Fatalf("backup over its own file: exit %d, file changed %v", code, fileHash(t, copyPath) != sum)
	}
	requireSentence(t, errOut, "--force")
	waitJobs(t, c, 200)
	t.Logf("the copy was taken with %d of 200 jobs unfinished", unfinished)

	// The README's restore: stop serve (restore refuses while it runs), vmmpm restore, start serve.
	_, errOut, code = runIn(t, caller, "--db", env.db, "--socket", env.socket(), "restore", "copy.db")
	if code == 0 {
		t.Fatal("restore ran while serve held the database")
	}
	requireSentence(t, errOut, "stop it first")
	srv.stop()
	out, errOut, code = runIn(t, caller, "--db", env.db, "--socket", env.socket(), "restore", "copy.db")
	if code != 0 || !strings.Contains(out, "restored:") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(store.BeforeRestore(env.db)); err != nil {
		t.Fatalf("the replaced database was not kept: %v", err)
	}
	env.startServe()
	if text := env.cli("--socket", env.socket(), "status"); !strings.Contains(text, "server:    running") {
		t.Fatalf("status after the restore:\n%s", text)
	}
	env.cli("--socket", env.socket(), "jobs", "--state", "queued")
	after := waitJobs(t, c, 200)
	if len(after) != 200 {
		t.Fatalf("%d jobs after the restore, want the backup's 200", len(after))
	}
	for _, j := range after {
		if j.State != store.JobDone {
			t.Errorf("job %d ended %s after the restore", j.ID, j.State)
		}
	}
	created, _ := simStats(t, http.DefaultClient, simURL)["hosts_created"].(map[string]any)
	if len(created) != 50 {
		t.Errorf("%d VMs created, want 50", len(created))
	}
	for name, n := range created {
		if n != 1.0 {
			t.Errorf("VM %s was created %d times", name, n)
		}
	}
}

// requireHolds checks the copy at path holds every job of before, a finished one as it finished, and
// every service; it answers how many of the copy's jobs were unfinished.
func requireHolds(t *testing.T, path string, before []*store.Job) (unfinished int) {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	jobs, err := store.All[store.Job](db)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]*store.Job{}
	for _, j := range jobs {
		got[j.ID] = j
		if !store.Finished(j.State) {
			unfinished++
		}
	}
	for _, j := range before {
		c, ok := got[j.ID]
		switch {
		case !ok:
			t.Errorf("job %d (%s) was committed before the backup but is not in it", j.ID, j.State)
		case store.Finished(j.State) && (c.State != j.State || !c.FinishedAt.Equal(j.FinishedAt)):
			t.Errorf("job %d was %s before the backup; the copy has it %s", j.ID, j.State, c.State)
		}
	}
	svcs, err := store.All[store.Service](db)
	if err != nil || len(svcs) != 50 {
		t.Fatalf("the copy has %d services (%v), want 50", len(svcs), err)
	}
	return unfinished
}

// TestServeBackupDir: serve --backup-dir with a short interval (the test's stand-in for a day) takes
// one at start (the newest there is days old), then one each interval, keeping the newest
// --backup-keep of its own files; status shows the last. A folder that cannot be made is logged and
// shown in status, and serving goes on.
func TestServeBackupDir(t *testing.T) {
	env := newEngineEnv(t, 30*time.Millisecond)
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := backend.BackupName(time.Now().Add(-72 * time.Hour))
	mustWrite(t, filepath.Join(dir, old), "an old backup")
	mustWrite(t, filepath.Join(dir, "README.txt"), "not a backup")
	srv := startServe(t, env.db, env.socket(), "--backup-dir", dir, "--backup-keep", "2", "--backup-every", "1s")
	seen := 0
	for range 4 {
		termtest.Expect(t, srv.out, &seen, `msg="backup written"`)
	}
	if !strings.Contains(srv.out.String(), "removed="+old) {
		t.Errorf("the 3-day-old backup was not rotated out:\n%s", srv.out)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var backups []string
	for _, e := range ents {
		if e.Name() == "README.txt" {
			continue
		}
		backups = append(backups, e.Name())
		if _, err := store.InspectBackup(filepath.Join(dir, e.Name())); err != nil {
			t.Errorf("kept backup %s: %v", e.Name(), err)
		}
	}
	// The schedule may have written one more since: between 2 and 3 (one not yet rotated).
	if len(backups) < 2 || len(backups) > 3 || len(ents) != len(backups)+1 {
		t.Fatalf("the folder holds %v, want the newest 2 backups and README.txt", ents)
	}
	out := env.cli("--socket", env.socket(), "status", "--json")
	st := decodeJSON[backend.Status](t, out)
	if st.Backups == nil || st.Backups.Dir != dir || st.Backups.Keep != 2 || st.Backups.Last == nil || st.Backups.Error != "" {
		t.Fatalf("status: %+v", st.Backups)
	}
	srv.stop()

	file := filepath.Join(t.TempDir(), "a-file")
	mustWrite(t, file, "")
	srv = startServe(t, env.db, env.socket(), "--backup-dir", filepath.Join(file, "sub"))
	seen = 0
	termtest.Expect(t, srv.out, &seen, "backup failed; serving goes on")
	if text := env.cli("--socket", env.socket(), "status"); !strings.Contains(text, "LAST BACKUP FAILED") || !strings.Contains(text, "cannot create the backup folder") {
		t.Fatalf("status after a failed backup:\n%s", text)
	}
	env.cli("--socket", env.socket(), "datacenter", "add", "Still serving")
	srv.stop()
}

func TestBackupBadInput(t *testing.T) {
	db := tempDB(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"backup"}, "expected the file to write"},
		{[]string{"--db", filepath.Join(t.TempDir(), "none.db"), "backup", filepath.Join(t.TempDir(), "x.db")}, "does not exist"},
		{[]string{"--db", db, "backup", filepath.Join(t.TempDir(), "no", "such", "x.db")}, "check that the folder exists"},
		{[]string{"--db", db, "serve", "--backup-keep", "3"}, "go with --backup-dir"},
		{[]string{"--db", db, "serve", "--backup-dir", t.TempDir(), "--backup-keep", "0"}, "at least 1"},
		{[]string{"--db", db, "restore", filepath.Join(t.TempDir(), "none.db")}, "nothing was changed"},
	} {
		_, errOut, code := runCLI(t, "", c.args...)
		if code == 0 {
			t.Errorf("vmmpm %v succeeded", c.args)
		}
		requireSentence(t, errOut, c.says)
	}
}

// TestBackupWithoutServer: with no server the command reads the database itself, read-only, and
// prints what the copy holds; FILE is taken from the caller's folder.
func TestBackupWithoutServer(t *testing.T) {
	db := tempDB(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	before := fileHash(t, db)
	caller := t.TempDir()
	out, errOut, code := runIn(t, caller, "--db", db, "--socket", filepath.Join(caller, "none.sock"), "backup", "b.db")
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"backup:    " + filepath.Join(caller, "b.db"), "schema version 1",
		"holds:     0 modules · 0 tariffs · 0 services · 0 jobs · 1 data center · 0 departments · 0 tasks",
		`not in it: module passwords and webhook secrets, kept in the OS keyring`} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	bboltCheck(t, filepath.Join(caller, "b.db"))
	if fileHash(t, db) != before {
		t.Error("a backup without a server changed the database")
	}
}
