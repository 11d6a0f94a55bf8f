package reconcile

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/internal/damagetest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// warpClock is the emulator's clock: real time plus an offset the test moves, so VMmanager's tasks
// finish when the test wants (the offset jumps) and not before (it stands still).
type warpClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (w *warpClock) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Now().Add(w.offset)
}

// warp moves the clock two hours ahead every few milliseconds until the returned function is called.
func (w *warpClock) warp() (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(2 * time.Millisecond):
				w.mu.Lock()
				w.offset += 2 * time.Hour
				w.mu.Unlock()
			}
		}
	}()
	return func() { close(quit); <-done }
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func flagOf(rep *Report, service uint64) *Flag {
	for i := range rep.Flagged {
		if rep.Flagged[i].ServiceID == service {
			return &rep.Flagged[i]
		}
	}
	return nil
}

// TestCancelledRunningJobFlagsItsService: on the emulator, with VMmanager's tasks held running, a
// reboot of an active service and the open of a new one are cancelled while their tasks run. The scan
// lists both flagged, each with its job and task; it compares the active one and takes its flag down
// (the next scan lists it no more), while the failed open's service, whose VM is not compared, stays
// flagged.
func TestCancelledRunningJobFlagsItsService(t *testing.T) {
	clk := &warpClock{}
	f := newFixture(t, sim.Config{TaskTime: time.Hour, TokenTTL: 1 << 62, Now: clk.Now})
	unwarp := clk.warp()
	svcs := f.open(1, "flag@example.org")
	unwarp()

	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- f.engine.Run(ctx) }()
	reboot, err := f.engine.Enqueue(svcs[0].ID, store.OpReboot, nil)
	f.must(err)
	opened, err := f.engine.CreateServices(f.tariff.ID, 1, "flag@example.org")
	f.must(err)
	var openJob uint64
	waitUntil(t, "the reboot and the open to follow their VMmanager tasks", func() bool {
		n := 0
		jobs, err := store.All[store.Job](f.db)
		f.must(err)
		for _, j := range jobs {
			if (j.ID == reboot.ID || j.ServiceID == opened[0].ID) && j.State == store.JobRunning && j.VMTask != nil {
				n++
				if j.ServiceID == opened[0].ID {
					openJob = j.ID
				}
			}
		}
		return n == 2
	})
	task, _ := store.Load[store.Job](f.db, reboot.ID)
	f.must(f.engine.Cancel(reboot.ID), f.engine.Cancel(openJob))
	stop()
	f.must(<-ran)

	rep := f.scan()
	if len(rep.Flagged) != 2 {
		t.Fatalf("the scan lists %d flagged services, want 2: %+v", len(rep.Flagged), rep.Flagged)
	}
	fl := flagOf(rep, svcs[0].ID)
	want := "job " + itoa(reboot.ID) + " was cancelled while VMmanager task " + task.VMTask.ConsulID
	if fl == nil || fl.Kind != queue.LookCancelled || !strings.Contains(fl.Reason, want) || !fl.Looked || !strings.HasPrefix(fl.Note, "compared") {
		t.Errorf("the rebooted service's flag: %+v; want %q, compared and looked at", fl, want)
	}
	fo := flagOf(rep, opened[0].ID)
	if fo == nil || fo.Looked || !strings.Contains(fo.Note, "is failed") || !strings.Contains(fo.Note, "stays flagged") {
		t.Errorf("the cancelled open's flag: %+v; want not compared (the service is failed), still flagged", fo)
	}
	again := f.scan()
	if len(again.Flagged) != 1 || again.Flagged[0].ServiceID != opened[0].ID {
		t.Errorf("the next scan lists %+v; want only the failed open's service", again.Flagged)
	}
	looks, err := queue.Looks(f.db)
	f.must(err)
	if len(looks) != 1 || looks[0].ServiceID != opened[0].ID {
		t.Errorf("the flags left: %+v; want the failed open's only", looks)
	}
}

// TestQuarantinedJobFlagsItsService: a queued open's record overwritten with garbage on the closed
// file is put in quarantine by the next engine; the scan lists its service flagged with why, and takes
// the flag down since the module was read whole, while the quarantine keeps the record.
func TestQuarantinedJobFlagsItsService(t *testing.T) {
	f := newFixture(t, sim.Config{})
	svcs, err := f.engine.CreateServices(f.tariff.ID, 3, "q@example.org")
	f.must(err)
	path := f.db.Path()
	f.must(f.engine.Close(), f.db.Close())
	damagetest.Record(t, path, "jobs", 2)
	db, err := store.Open(path, store.Options{})
	f.must(err)
	t.Cleanup(func() { _ = db.Close() })
	f.db, f.engine = db, nil
	f.restart()
	f.idle()

	rep := f.scan()
	fl := flagOf(rep, svcs[1].ID)
	if len(rep.Flagged) != 1 || fl == nil || fl.Kind != queue.LookQuarantined || fl.JobID != 2 ||
		fl.Reason != "job 2's record was unreadable and is in quarantine (vmmpm check lists it)" || !fl.Looked {
		t.Fatalf("the scan's flags: %+v; want service %d flagged by job 2's quarantine, looked at", rep.Flagged, svcs[1].ID)
	}
	if again := f.scan(); len(again.Flagged) != 0 {
		t.Errorf("the next scan still lists %+v", again.Flagged)
	}
	var q []store.Quarantined
	f.must(f.db.View(func(tx *store.Tx) (err error) { q, err = store.QuarantinedRecords(tx); return err }))
	if len(q) != 1 || q[0].Key != "2" {
		t.Errorf("the quarantine after the look: %+v; want job 2's record kept", q)
	}
}
