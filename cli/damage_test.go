package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/damagetest"
	"vmmpm/store"
)

// runProc runs vmmpm as its own process (a panic would show as it does for an admin) and returns what
// it printed on stdout and stderr, and its exit code.
func runProc(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := vmmpmCmd(args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("vmmpm %s did not end within 60 s", strings.Join(args, " "))
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func noPanicText(t *testing.T, what, text string) {
	t.Helper()
	for _, bad := range []string{"goroutine", "panic", "runtime error", "SIGSEGV"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s printed %q:\n%s", what, bad, text)
		}
	}
}

// damagedEnv is an engine environment with 12 services ordered (12 queued jobs, enough for the jobs
// bucket to have pages of its own), its database then damaged by how.
func damagedEnv(t *testing.T, how string) *engineEnv {
	t.Helper()
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--tariff", "1", "--count", "12", "--client", "dora@example.org")
	switch how {
	case "record":
		damagetest.Record(t, env.db, "jobs", 3)
	case "bucket":
		damagetest.DeleteBucket(t, env.db, "services")
	case "page":
		damagetest.Page(t, env.db, "jobs")
	}
	return env
}

// TestDamagedDatabaseCommands: a bucket deleted or a data page overwritten on the closed file: every
// command (reading ones, check, a write, serve) says one sentence naming the file and the bucket and
// exits 1; none prints Go's panic text; the write leaves the file as it was.
func TestDamagedDatabaseCommands(t *testing.T) {
	for how, bucket := range map[string]string{"bucket": `bucket "services"`, "page": `bucket "jobs"`} {
		t.Run(how, func(t *testing.T) {
			env := damagedEnv(t, how)
			for _, args := range [][]string{{"status"}, {"jobs"}, {"service", "list"}, {"datacenter", "add", "Two"},
				{"engine", "--until-idle"}, {"serve", "--socket", env.socket()}} {
				what := strings.Join(args, " ")
				out, errOut, code := runProc(t, append([]string{"--db", env.db}, args...)...)
				noPanicText(t, what, out+errOut)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1; stderr %q", what, code, errOut)
				}
				requireSentence(t, errOut, env.db)
				if !strings.Contains(errOut, bucket) || !strings.Contains(errOut, "vmmpm backup") {
					t.Errorf("%s: %q does not name %s and the way out", what, errOut, bucket)
				}
			}
			out, errOut, code := runProc(t, "--db", env.db, "check")
			noPanicText(t, "check", out+errOut)
			if code != 1 || !strings.Contains(out, "DAMAGED (structure) in "+bucket) || !strings.Contains(out, "vmmpm backup") {
				t.Errorf("check: exit %d\n%s%s", code, out, errOut)
			}
			requireSentence(t, errOut, "restore it from a backup (vmmpm backup)")
		})
	}
}

// TestDamagedJobRecord: one job record overwritten with garbage. Reading it says one sentence naming
// the file, the bucket and the key (exit 1), check names it, and a real vmmpm serve starts, runs the
// other jobs and puts the bad record in quarantine; then jobs lists again, status and check tell of
// the quarantine and the service to reconcile.
func TestDamagedJobRecord(t *testing.T) {
	env := damagedEnv(t, "record")
	_, errOut, code := runProc(t, "--db", env.db, "jobs")
	if code != 1 {
		t.Errorf("jobs: exit %d, want 1", code)
	}
	noPanicText(t, "jobs", errOut)
	requireSentence(t, errOut, `is damaged in bucket "jobs", key 3: its record cannot be decoded`)
	out, errOut, code := runProc(t, "--db", env.db, "check")
	if code != 1 || !strings.Contains(out, `DAMAGED (record) in bucket "jobs", key 3`) {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}

	srv := env.startServe()
	jobs := waitJobs(t, env.client(), 11)
	if len(jobs) != 11 {
		t.Errorf("%d jobs after serve, want the 11 readable ones", len(jobs))
	}
	for _, j := range jobs {
		if j.State != store.JobDone {
			t.Errorf("job %d is %s, want done", j.ID, j.State)
		}
	}
	status := env.cli("--socket", env.socket(), "status")
	if !strings.Contains(status, "1 unreadable record(s) put in quarantine") {
		t.Errorf("status does not tell of the quarantine:\n%s", status)
	}
	srv.stop()
	noPanicText(t, "serve", srv.out.String())
	if !strings.Contains(srv.out.String(), "job record quarantined") {
		t.Errorf("serve's log does not say what it quarantined:\n%s", srv.out)
	}
	out, _, code = runProc(t, "--db", env.db, "check")
	if code != 1 || !strings.Contains(out, `QUARANTINED`) || !strings.Contains(out, `key 3`) ||
		!strings.Contains(out, "service 3 lost this record") || !strings.Contains(out, "vmmpm reconcile --module 1") ||
		strings.Contains(out, "DAMAGED") {
		t.Errorf("check after serve: exit %d\n%s", code, out)
	}
	if out := env.cli("jobs"); strings.Count(out, " done ") != 11 {
		t.Errorf("jobs after the quarantine:\n%s", out)
	}
}

// TestCheckClean: a sound file is reported clean with exit 0, and check beside a running server says
// to stop it first, in one sentence.
func TestCheckClean(t *testing.T) {
	env := damagedEnv(t, "")
	out, errOut, code := runCLI(t, "", "--db", env.db, "check")
	if code != 0 || !strings.Contains(out, "clean") || errOut != "" {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}
	env.startServe()
	_, errOut, code = runCLI(t, "", "--db", env.db, "--socket", env.socket(), "check")
	if code != 1 {
		t.Errorf("check beside serve: exit %d", code)
	}
	requireSentence(t, errOut, "stop that process, run vmmpm check, then start it again")
}

// panicWriter stands for a bug anywhere below Run: the first write panics.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) {
	var out []byte
	return int(out[len(out)+1]), nil
}

// TestRunRecoversAPanic: a panic inside a command ends as one sentence naming a crash report (0600,
// with the stack) and exit 1, never a stack on the terminal.
func TestRunRecoversAPanic(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var errb strings.Builder
	code := Run([]string{"--version"}, strings.NewReader(""), panicWriter{}, &errb)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	noPanicText(t, "a panicking command", errb.String())
	requireSentence(t, errb.String(), "internal error")
	files, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_STATE_HOME"), "vmmpm", "crash-*.txt"))
	if len(files) != 1 || !strings.Contains(errb.String(), files[0]) {
		t.Fatalf("crash reports %v, stderr %q", files, errb.String())
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("crash report mode: %v %v", fi.Mode(), err)
	}
}

// TestCheckQuarantine: a finished job's record overwritten with garbage (the engine never reads it
// again) is named by check; check --quarantine moves it, with its module, after which jobs lists again.
func TestCheckQuarantine(t *testing.T) {
	env := damagedEnv(t, "")
	env.cli("engine", "--until-idle")
	damagetest.Record(t, env.db, "jobs", 5)
	if _, _, code := runCLI(t, "", "--db", env.db, "jobs"); code != 1 {
		t.Fatalf("jobs on an unreadable record: exit %d", code)
	}
	out, errOut, code := runCLI(t, "", "--db", env.db, "check", "--quarantine")
	if code != 1 || !strings.Contains(out, "moved 1 unreadable job record(s) to the quarantine") ||
		!strings.Contains(out, `QUARANTINED`) || !strings.Contains(out, `key 5`) || strings.Contains(out, "DAMAGED") {
		t.Errorf("check --quarantine: exit %d\n%s%s", code, out, errOut)
	}
	if out := env.cli("jobs"); strings.Count(out, " done ") != 11 {
		t.Errorf("jobs after the quarantine:\n%s", out)
	}
	if st := env.cli("status"); !strings.Contains(st, "done 11") {
		t.Errorf("status after the quarantine:\n%s", st)
	}
}
