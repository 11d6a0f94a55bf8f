package stats

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// step feeds the collector a job as the engine would publish it after a commit.
func step(c *Collector, j store.Job) {
	c.Observe(queue.Event{Kind: queue.JobChanged, Job: &j, ModuleID: j.ModuleID})
}

func laneEv(c *Collector, key string, module uint64, busy bool, depth int) {
	c.Observe(queue.Event{Kind: queue.LaneChanged, ModuleID: module, Lane: key, LaneBusy: busy, LaneDepth: depth})
}

// run takes one job through queued → running → end, starting at start and lasting d; the VMmanager
// task is recorded after answer.
func run(c *Collector, id uint64, typ, key, end string, start time.Time, d, answer time.Duration, msg string) {
	j := store.Job{ID: id, ServiceID: id, ModuleID: 7, Type: typ, QueueKey: key, State: store.JobQueued, EnqueuedAt: start}
	step(c, j)
	j.State, j.StartedAt, j.Attempt = store.JobRunning, start, 1
	j.Log = []store.LogLine{{At: start, Text: "attempt 1 of 8 started"}}
	step(c, j)
	j.Log = append(j.Log, store.LogLine{At: start.Add(answer), Text: "VMmanager task 1 (host_create) recorded"})
	step(c, j) // a commit that changes no state counts nothing
	j.State, j.Error = end, msg
	j.Log = append(j.Log, store.LogLine{At: start.Add(d), Text: end})
	if end != store.JobRetrying {
		j.FinishedAt = start.Add(d)
	}
	step(c, j)
}

func TestSnapshotFigures(t *testing.T) {
	c := New()
	for i := range 10 {
		run(c, uint64(i+1), store.OpOpen, "vmm6-7-1", store.JobDone, t0.Add(time.Duration(i)*time.Minute), 4*time.Second, 200*time.Millisecond, "")
	}
	run(c, 11, store.OpReboot, "vmm6-7-2", store.JobFailed, t0.Add(10*time.Minute), time.Second, 0, "VM svc-11 is missing")
	for i := range 3 {
		run(c, uint64(20+i), store.OpOpen, "vmm6-7-2", store.JobRetrying, t0.Add(11*time.Minute), time.Second, 0,
			"VMmanager answered 503 (asleep or overloaded)")
	}
	// what runs now: job 30 on lane 1 for 90 s, two waiting behind it
	j := store.Job{ID: 30, ServiceID: 30, ModuleID: 7, Type: store.OpSuspend, QueueKey: "vmm6-7-1", State: store.JobRunning,
		StartedAt: t0.Add(12 * time.Minute), Attempt: 1}
	step(c, j)
	laneEv(c, "vmm6-7-1", 7, true, 3)
	laneEv(c, "vmm6-7-10", 7, false, 1)
	laneEv(c, "vmm6-7-11", 7, false, 0) // idle and empty: not shown

	now := t0.Add(12*time.Minute + 90*time.Second)
	s := c.Snapshot(now, []uint64{7, 8})
	if len(s.Modules) != 2 || s.Modules[1].ID != 8 || s.Modules[1].Hour != (Total{}) {
		t.Fatalf("modules: %+v", s.Modules)
	}
	m := s.Modules[0]
	if want := (Total{Done: 10, Failed: 1, Retried: 3, Refused: 3}); m.Hour != want || m.Day != want {
		t.Errorf("hour %+v day %+v, want %+v", m.Hour, m.Day, want)
	}
	if got := m.PerMinute[Spark-13:]; !reflect.DeepEqual(got, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}) {
		t.Errorf("per minute (last 13) = %v", got)
	}
	if got := m.ErrorsPerMinute[Spark-3:]; !reflect.DeepEqual(got, []int{3, 0, 0}) {
		t.Errorf("errors per minute (last 3) = %v", got)
	}
	if len(m.Types) != 2 || m.Types[0].Type != store.OpOpen || m.Types[0].Done != 10 || m.Types[0].Retried != 3 {
		t.Fatalf("types: %+v", m.Types)
	}
	if p := m.Types[0].P50; p < 3*time.Second || p > 5*time.Second {
		t.Errorf("open p50 = %s, want about 4s", p)
	}
	if p := m.AnswerP95; p < 150*time.Millisecond || p > 250*time.Millisecond {
		t.Errorf("answer p95 = %s, want about 200ms", p)
	}
	if !m.Flagged || m.Flag == "" {
		t.Errorf("three 503 answers within 5 minutes must flag the module: %+v", m)
	}
	if len(m.Errors) != 4 || m.Errors[0].Job != 11 || m.Errors[3].Job != 22 {
		t.Errorf("last errors: %+v", m.Errors)
	}
	if r := m.Hour.ErrorRate(); r < 0.28 || r > 0.29 {
		t.Errorf("error rate = %.3f, want 4/14", r)
	}

	if len(s.Lanes) != 3 || s.Lanes[0].Key != "vmm6-7-1" || s.Lanes[1].Key != "vmm6-7-2" || s.Lanes[2].Key != "vmm6-7-10" {
		t.Fatalf("lanes out of order: %+v", s.Lanes)
	}
	l1 := s.Lanes[0]
	if l1.Running == nil || l1.Running.Job != 30 || !l1.Running.Since.Equal(t0.Add(12*time.Minute)) || l1.Waiting != 2 {
		t.Errorf("lane 1: %+v running %+v", l1, l1.Running)
	}
	if l1.Recent != "dddddddddd" || s.Lanes[1].Recent != "frrr" {
		t.Errorf("timelines: %q %q", l1.Recent, s.Lanes[1].Recent)
	}

	// a cancelled job shows on its lane only: no type, no count
	step(c, store.Job{ID: 40, ModuleID: 7, Type: store.OpSetParam, QueueKey: "vmm6-7-2", State: store.JobCancelled, EnqueuedAt: now})
	s = c.Snapshot(now, []uint64{7})
	if m := s.Modules[0]; len(m.Types) != 2 || m.Hour.Done != 10 || s.Lanes[1].Recent != "frrrc" {
		t.Errorf("after a cancel: types %+v hour %+v lane %q", m.Types, m.Hour, s.Lanes[1].Recent)
	}

	// an hour later the minutes have left the sparkline but not the day
	later := c.Snapshot(now.Add(time.Hour), []uint64{7}).Modules[0]
	if later.Hour.Done != 0 || later.Day.Done != 10 || later.Flagged {
		t.Errorf("an hour later: hour %+v day %+v flagged %v", later.Hour, later.Day, later.Flagged)
	}
}

func TestEngineVerdictFlagsAtOnce(t *testing.T) {
	m := New().Snapshot(t0, []uint64{3}).Modules[0]
	if m.Flagged {
		t.Fatal("a module without errors is flagged")
	}
	m.SetHealth(false, "VMmanager refused the email or password: check both and try again.")
	if !m.Flagged || m.Healthy || m.Flag == "" {
		t.Errorf("an unhealthy module must be flagged: %+v", m)
	}
}

func TestLaneTimelineIsBounded(t *testing.T) {
	c := New()
	for i := range LaneHistory + 15 {
		run(c, uint64(i+1), store.OpOpen, "k-1", store.JobDone, t0, time.Second, 0, "")
	}
	if got := c.Snapshot(t0, nil).Lanes[0].Recent; len(got) != LaneHistory {
		t.Errorf("timeline holds %d outcomes, want %d", len(got), LaneHistory)
	}
}

func TestIdleLanesAreBounded(t *testing.T) {
	c := New()
	for i := range MaxLanes + 50 { // a key per service (__IID__): one lane each
		run(c, uint64(i+1), store.OpOpen, fmt.Sprintf("svc-%d-1", i+1), store.JobDone, t0.Add(time.Duration(i)*time.Second), time.Second, 0, "")
	}
	step(c, store.Job{ID: 9999, ModuleID: 7, Type: store.OpOpen, QueueKey: "svc-1-1", State: store.JobRunning, StartedAt: t0})
	s := c.Snapshot(t0.Add(time.Hour), nil)
	if len(s.Lanes) != MaxLanes {
		t.Fatalf("%d lanes kept, want %d", len(s.Lanes), MaxLanes)
	}
	keys := map[string]bool{}
	for _, l := range s.Lanes {
		keys[l.Key] = true
	}
	if !keys["svc-1-1"] || keys["svc-2-1"] || !keys[fmt.Sprintf("svc-%d-1", MaxLanes+50)] {
		t.Errorf("the busy lane and the newest idle ones must stay, the oldest idle ones go: %v", keys)
	}
}

func TestSeedLanes(t *testing.T) {
	c := New()
	c.SeedLanes([]queue.LaneState{
		{Key: "a-1", ModuleID: 2, Depth: 2, Running: &store.Job{ID: 1, ModuleID: 2, QueueKey: "a-1", State: store.JobRunning, Type: store.OpOpen, StartedAt: t0}},
		{Key: "a-2", ModuleID: 2, Depth: 1},
	})
	s := c.Snapshot(t0, nil)
	if len(s.Lanes) != 2 || s.Lanes[0].Running == nil || s.Lanes[0].Waiting != 1 || s.Lanes[1].Waiting != 1 {
		t.Fatalf("seeded lanes: %+v", s.Lanes)
	}
	// job 1 was seen running: its end counts once, even if the commit is published twice
	j := store.Job{ID: 1, ModuleID: 2, QueueKey: "a-1", State: store.JobDone, Type: store.OpOpen, StartedAt: t0, FinishedAt: t0.Add(time.Second)}
	step(c, j)
	if s := c.Snapshot(t0, nil); s.Lanes[0].Running != nil || s.Lanes[0].Recent != "d" || s.Modules[0].Hour.Done != 1 {
		t.Errorf("after the end: %+v %+v", s.Lanes[0], s.Modules[0].Hour)
	}
}

func TestHistorySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmmpm.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := New()
	run(c, 1, store.OpOpen, "vmm6-7-1", store.JobDone, t0.Add(-30*time.Hour), time.Second, 0, "") // beyond the window
	for i := range 5 {
		run(c, uint64(i+2), store.OpOpen, "vmm6-7-1", store.JobDone, t0.Add(time.Duration(i)*time.Minute), 3*time.Second, 100*time.Millisecond, "")
	}
	run(c, 9, store.OpClose, "vmm6-7-2", store.JobFailed, t0.Add(5*time.Minute), time.Second, 0, "VM svc-9 is missing")
	now := t0.Add(6 * time.Minute)
	if err := c.Flush(db, now); err != nil {
		t.Fatal(err)
	}
	before := c.Snapshot(now, []uint64{7})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := New()
	if err := d.Load(db, now); err != nil {
		t.Fatal(err)
	}
	after := d.Snapshot(now, []uint64{7})
	if !reflect.DeepEqual(before, after) {
		t.Errorf("history changed across a restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if after.Modules[0].Day.Done != 5 || after.Lanes[0].Recent != "dddddd" {
		t.Errorf("after a restart: %+v %+v", after.Modules[0].Day, after.Lanes)
	}
	// the minute beyond the window was not kept in the file
	var minutes int
	_ = db.View(func(tx *store.Tx) error {
		c := tx.KV().Bucket(bucket).Cursor()
		for k, _ := c.Seek([]byte{'m'}); k != nil && k[0] == 'm'; k, _ = c.Next() {
			minutes++
		}
		return nil
	})
	if minutes != 6 {
		t.Errorf("the file keeps %d minutes, want 6 (the one older than 24 h pruned)", minutes)
	}
	if err := d.Flush(db, now); err != nil { // nothing changed: no write
		t.Fatal(err)
	}
}

func TestHistQuantile(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for range 90 {
		h.Add(time.Second)
	}
	for range 10 {
		h.Add(time.Minute)
	}
	if p := h.Quantile(0.5); p < 800*time.Millisecond || p > 1250*time.Millisecond {
		t.Errorf("p50 = %s, want about 1s", p)
	}
	if p := h.Quantile(0.95); p < 48*time.Second || p > 75*time.Second {
		t.Errorf("p95 = %s, want about 1m", p)
	}
}

func TestRefusal(t *testing.T) {
	for msg, want := range map[string]bool{
		"VMmanager kept answering 503 (asleep or overloaded) for the whole retry period: try again in a minute.": true,
		"VMmanager refused the email or password: check both and try again.":                                     true,
		"VMmanager answered HTTP 500 (error 5000: boom); VMmanager had an internal error; try again later.":      true,
		"Dial tcp 10.0.0.1:443: connection refused; check the address and port and that VMmanager is running.":   true,
		"VMmanager answered HTTP 400 (error 3001: not enough free IPv4 addresses in the pool).":                  false,
		"VMmanager answered HTTP 404 (error 4004: no such host); the object no longer exists in VMmanager.":      false,
	} {
		if Refusal(msg) != want {
			t.Errorf("Refusal(%q) = %v, want %v", msg, !want, want)
		}
	}
}

func TestNaturalOrder(t *testing.T) {
	for _, c := range [][2]string{{"vmm6-7-2", "vmm6-7-10"}, {"a-1", "b-1"}, {"vmm6-2-9", "vmm6-10-1"}, {"x", "x-1"}} {
		if natural(c[0], c[1]) >= 0 || natural(c[1], c[0]) <= 0 {
			t.Errorf("%s must sort before %s", c[0], c[1])
		}
	}
}
