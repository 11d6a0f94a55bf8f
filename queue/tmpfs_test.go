package queue

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/disktest"
	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// TestFullTmpfsPausesAndResumes runs opens with the database on a 3 MiB tmpfs filled to the brim: the
// engine pauses saying the disk is full, starts nothing while paused, and finishes every job by itself
// once a filler file is deleted, with each VM created once and no more VMmanager tasks than lanes.
func TestFullTmpfsPausesAndResumes(t *testing.T) {
	dir := disktest.Tmpfs(t, "3m")

	const jobs, lanes = 250, 4
	s, url := startSim(t, sim.Config{TaskTime: 2 * time.Millisecond, Seed: 9})
	f := &fixture{t: t, path: filepath.Join(dir, "vmmpm.db"), sim: s, url: url, secrets: store.NewMemorySecrets()}
	f.open()
	f.dc, f.dept = &store.DataCenter{Name: "dc1"}, &store.Department{Name: "Support"}
	f.must(f.db.Save(f.dc), f.db.Save(f.dept))
	f.module = f.addModule("vmm-a", queueParams("t-__PMID__", lanes))
	f.tariff = &store.Tariff{Name: "small", DataCenterID: f.dc.ID, ModuleIDs: []uint64{f.module.ID},
		CPU: 1, RAMMiB: 1024, DiskMiB: 10240, OSID: 1, IPv4Count: 1}
	f.must(f.db.Save(f.tariff))

	var logBuf termtest.SyncBuffer
	opt := fastOptions()
	opt.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	e := f.engine(opt)
	_, err := e.CreateServices(f.tariff.ID, jobs, "tmpfs@example.org")
	f.must(err)
	filler := filepath.Join(dir, "filler")
	disktest.Fill(t, filler)
	if _, err := e.CreateServices(f.tariff.ID, 200, "more@example.org"); err == nil ||
		!strings.Contains(err.Error(), "disk full on "+dir) || !strings.Contains(err.Error(), "nothing was enqueued") {
		t.Errorf("enqueue on a full disk: %v", err)
	}
	events, stop := e.Subscribe(1 << 16)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.RunUntilIdle(ctx) }()
	var reason string
	for reason == "" {
		select {
		case ev := <-events:
			if ev.Kind == EngineStatus && ev.Status.Paused {
				reason = ev.Status.String()
			}
		case err := <-done:
			t.Fatalf("the run ended without pausing on a full disk: %v", err)
		}
	}
	if !strings.HasPrefix(reason, "paused: disk full on "+dir) || !strings.Contains(reason, "bytes free)") {
		t.Errorf("pause reason %q, want paused: disk full on %s (N bytes free)", reason, dir)
	}
	// While paused nothing new starts: the running jobs on file stay at most one per lane and do not
	// change into others.
	time.Sleep(300 * time.Millisecond)
	before := f.sim.Stats()
	time.Sleep(300 * time.Millisecond)
	if after := f.sim.Stats(); len(after.HostsCreated) != len(before.HostsCreated) {
		t.Errorf("VMs created while paused: %d, then %d", len(before.HostsCreated), len(after.HostsCreated))
	}
	if p, why := e.Paused(); !p || !strings.Contains(why, "disk full") {
		t.Errorf("Paused() = %v, %q while the disk is full", p, why)
	}
	f.must(os.Remove(filler))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p, _ := e.Paused(); p {
		t.Error("still paused after the run")
	}
	n := 0
	for _, j := range allJobs(t, f.db) {
		if j.State != store.JobDone {
			t.Errorf("job %d ended %s: %s", j.ID, j.State, j.Error)
		}
		n++
	}
	st := f.sim.Stats()
	if n != jobs || len(st.HostsCreated) != jobs {
		t.Errorf("%d jobs, %d VMs, want %d each", n, len(st.HostsCreated), jobs)
	}
	for name, c := range st.HostsCreated {
		if c != 1 {
			t.Errorf("VM %s created %d times", name, c)
		}
	}
	if st.MaxConcurrentTasks > lanes {
		t.Errorf("%d VMmanager tasks ran at once over %d lanes", st.MaxConcurrentTasks, lanes)
	}
	logs := logBuf.String()
	if strings.Count(logs, "engine paused") != 1 || strings.Count(logs, "engine resumed") != 1 {
		t.Errorf("want one log line at pause and one at resume, got:\n%s", grepLines(logs, "engine "))
	}
	f.must(e.Close(), f.db.Close())
	checkBolt(t, f.path)
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
