package queue

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// An engine whose lease lapses while its create call is out (MayCreate fails right after it, and
// the engine stops, as backend's lease loss stops it) removes the VM it just made and records
// nothing; when the database already records that VM as the service's (the new holder adopted it)
// it keeps it. The next engine finishes the open with exactly one VM either way.
func TestCreateUnderStaleLease(t *testing.T) {
	for _, adopted := range []bool{false, true} {
		name := map[bool]string{false: "removed", true: "kept"}[adopted]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, sim.Config{Seed: 7, TaskTime: 20 * time.Millisecond}, store.DefaultParams())
			ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
			defer stop()
			var lost atomic.Bool
			var mu sync.Mutex
			var points []string
			log := &termtest.SyncBuffer{}
			opt := fastOptions()
			opt.Logger = slog.New(slog.NewTextHandler(log, nil))
			opt.MayCreate = func(uint64) error {
				if lost.Load() {
					return errors.New("lease lost")
				}
				return nil
			}
			var svc uint64
			opt.FaultPoint = func(point string, _ uint64) {
				mu.Lock()
				points = append(points, point)
				mu.Unlock()
				if point != FaultAfterCreate {
					return
				}
				if adopted { // what the new holder's resume records when it finds the VM by name
					vm := uint64(f.sim.VMsNamed(VMName(svc))[0])
					f.must(f.db.Update(func(tx *store.Tx) error {
						s, err := store.Get[store.Service](tx, svc)
						if err != nil {
							return err
						}
						s.VM.HostID = vm
						return tx.Put(s)
					}))
				}
				lost.Store(true)
				stop()
			}
			e := f.engine(opt)
			svcs, err := e.CreateServices(f.tariff.ID, 1, "stale@example.org")
			if err != nil {
				t.Fatal(err)
			}
			svc = svcs[0].ID
			_ = e.Run(ctx)
			f.must(e.Close())
			if !lost.Load() {
				t.Fatal("the open never reached its create call")
			}
			vmName := VMName(svc)
			live := f.sim.VMsNamed(vmName)
			s, _ := store.Load[store.Service](f.db, svc)
			j := allJobs(t, f.db)[0]
			if j.State == store.JobDone || j.VMTask != nil {
				t.Errorf("the stale attempt recorded the job: %s, task %v", j.State, j.VMTask)
			}
			if adopted {
				if len(live) != 1 || s.VM.HostID != uint64(live[0]) || !strings.Contains(log.String(), "stale engine lease: kept") {
					t.Fatalf("adopted VM: live %v, service records %d; log:\n%s", live, s.VM.HostID, log)
				}
			} else if len(live) != 0 || s.VM.HostID != 0 || !strings.Contains(log.String(), "stale engine lease: removed") {
				t.Fatalf("stale VM: live %v, service records %d; log:\n%s", live, s.VM.HostID, log)
			}
			mu.Lock()
			if !slices.Equal(points, []string{FaultBeforeCreate, FaultAfterCreate}) {
				t.Errorf("fault points %v", points)
			}
			mu.Unlock()

			runIdle(t, f.engine(fastOptions()), 30*time.Second)
			j = allJobs(t, f.db)[0]
			live = f.sim.VMsNamed(vmName)
			s, _ = store.Load[store.Service](f.db, svc)
			if j.State != store.JobDone || len(live) != 1 || s.VM.HostID != uint64(live[0]) {
				t.Fatalf("after the next engine: job %s (%s), live VMs %v, service records %d", j.State, j.Error, live, s.VM.HostID)
			}
			want := map[bool]int{false: 2, true: 1}[adopted]
			if n := f.sim.Stats().HostsCreated[vmName]; n != want {
				t.Errorf("%s created %d times, want %d", vmName, n, want)
			}
		})
	}
}

// A healthy open passes the three fault points in order, and MayCreate's second question lets it on.
func TestFaultPointsInOrder(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 8, TaskTime: 10 * time.Millisecond}, store.DefaultParams())
	var mu sync.Mutex
	var points []string
	asked := 0
	opt := fastOptions()
	opt.MayCreate = func(uint64) error { mu.Lock(); asked++; mu.Unlock(); return nil }
	opt.FaultPoint = func(point string, _ uint64) { mu.Lock(); points = append(points, point); mu.Unlock() }
	e := f.engine(opt)
	if _, err := e.CreateServices(f.tariff.ID, 1, "ok@example.org"); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	if j := allJobs(t, f.db)[0]; j.State != store.JobDone {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(points, FaultPoints) || asked != 2 {
		t.Errorf("fault points %v, MayCreate asked %d times; want %v and 2", points, asked, FaultPoints)
	}
}

// VMMPM_FAULT_STOP's value: a bad one is refused with one sentence; a good one stops the process
// (here a stand-in for SIGSTOP, which the chaos test sends for real) the Nth time its point is
// reached and no other, with one log line.
func TestFaultStopSpec(t *testing.T) {
	for spec, want := range map[string]string{
		"before-creat":    "names no fault point",
		"after-create:0":  "whole number from 1 up",
		"after-create:x":  "whole number from 1 up",
		"after-record:-1": "whole number from 1 up",
	} {
		if _, err := FaultStop(spec, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", spec, err, want)
		}
	}
	if h, err := FaultStop("", nil); h != nil || err != nil {
		t.Errorf("an empty value installs a hook (%v)", err)
	}
	log := &termtest.SyncBuffer{}
	stops := 0
	h, err := faultStop("after-create:2", slog.New(slog.NewTextHandler(log, nil)), func() { stops++ })
	if err != nil {
		t.Fatal(err)
	}
	for job, point := range []string{FaultBeforeCreate, FaultAfterCreate, FaultAfterRecord, FaultAfterCreate, FaultAfterCreate} {
		h(point, uint64(job))
	}
	if stops != 1 || strings.Count(log.String(), "fault point after-create reached (job 3): stopping this process") != 1 {
		t.Errorf("%d stops; log:\n%s", stops, log)
	}
}
