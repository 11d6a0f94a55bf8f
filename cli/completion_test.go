package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
)

// completions runs `vmmpm __complete args…` as a shell does and returns the candidates it printed.
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	out, errOut, code := runCLI(t, "", append([]string{"__complete"}, args...)...)
	if code != 0 || !strings.Contains(errOut, "ShellCompDirectiveNoFileComp") {
		t.Fatalf("__complete %v: exit %d, stderr %q", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; last != ":4" {
		t.Fatalf("__complete %v ended with %q, want the directive :4", args, last)
	}
	return lines[:len(lines)-1]
}

func wantCompletions(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("completions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCompletionOffersIDsWithNames (issue 23 point 9): ids come with what they name, from the
// database when no server runs and from the server while it holds the database (its lock would keep
// a read-only open out); ids already given are not offered again.
func TestCompletionOffersIDsWithNames(t *testing.T) {
	env := activeWorld(t) // services 1, 2 on module "vmm", tariff "small"; jobs 1, 2 their opens
	db := []string{"--db", env.db}
	check := func() {
		t.Helper()
		wantCompletions(t, completions(t, append(db, "service", "close", "")...),
			"1\tvmm small ann@example.org active", "2\tvmm small ann@example.org active")
		wantCompletions(t, completions(t, append(db, "service", "reinstall", "1", "")...), "2\tvmm small ann@example.org active")
		wantCompletions(t, completions(t, append(db, "tariff", "rm", "")...), "1\tsmall 1 CPU, 1024 MiB RAM, 10240 MiB disk")
		wantCompletions(t, completions(t, append(db, "tariff", "rm", "1", "")...))
		wantCompletions(t, completions(t, append(db, "module", "show", "")...), "1\tvmm "+env.url)
		wantCompletions(t, completions(t, append(db, "jobs", "cancel", "")...), "2\topen of service 2, done", "1\topen of service 1, done")
		wantCompletions(t, completions(t, append(db, "jobs", "retry", "")...)) // none failed
		wantCompletions(t, completions(t, append(db, "jobs", "--module", "")...), "1\tvmm "+env.url)
		wantCompletions(t, completions(t, append(db, "service", "create", "--client", "")...), "ann@example.org")
		wantCompletions(t, completions(t, append(db, "datacenter", "edit", "")...), "1\tDC One")
	}
	check()
	srv := env.startServe()
	check()
	srv.stop()

	holder, err := store.Open(env.db, store.Options{}) // a holder that answers no socket: nothing offered
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	wantCompletions(t, completions(t, append(db, "service", "close", "")...))
}

// TestCompletionReadsOnlyTheNewestJobs: with a long history the newest completeJobs jobs are offered,
// newest first, found without reading the others (lastJobID's halving).
func TestCompletionReadsOnlyTheNewestJobs(t *testing.T) {
	path := tempDB(t)
	writeJobs(t, path, 1500)
	got := completions(t, "--db", path, "jobs", "cancel", "")
	if len(got) != completeJobs || got[0] != "1500\topen of service 1500, failed" || !strings.HasPrefix(got[len(got)-1], "1301\t") {
		t.Fatalf("%d completions, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
	if got := completions(t, "--db", path, "jobs", "retry", ""); len(got) != completeJobs/10 || got[0] != "1500\topen of service 1500, failed" {
		t.Fatalf("retry offers %d jobs, first %v", len(got), got[:min(1, len(got))])
	}
}

// writeJobs writes n finished open jobs (every tenth failed) in one transaction.
func writeJobs(t testing.TB, path string, n int) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *store.Tx) error {
		for i := 1; i <= n; i++ {
			state := store.JobDone
			if i%10 == 0 {
				state = store.JobFailed
			}
			j := &store.Job{ServiceID: uint64(i), Type: store.OpOpen, State: state, MaxAttempts: 1, EnqueuedAt: time.Now(),
				Log: []store.LogLine{{At: time.Now(), Text: fmt.Sprint("job ", i)}}}
			if err := tx.Put(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCompleteJobs is one `vmmpm __complete jobs cancel ""` on a history of 100,000 jobs, the
// database opened read-only here; BenchmarkJobsLimitFull is `jobs --limit 200` on it, which reads
// every job, for comparison.
func BenchmarkCompleteJobs(b *testing.B) { benchJobs(b, "__complete", "jobs", "cancel", "") }

func BenchmarkJobsLimitFull(b *testing.B) { benchJobs(b, "jobs", "--limit", "200") }

func benchJobs(b *testing.B, args ...string) {
	path := filepath.Join(b.TempDir(), "vmmpm.db")
	writeJobs(b, path, 100_000)
	args = append([]string{"--db", path}, args...)
	for b.Loop() {
		if code := Run(args, strings.NewReader(""), io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
