package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// checkAllDone asserts every job is done, every service active with one VM created once.
func checkAllDone(t testing.TB, f *fixture, wantJobs int) {
	t.Helper()
	jobs := allJobs(t, f.db)
	if len(jobs) != wantJobs {
		t.Fatalf("%d jobs stored, want %d", len(jobs), wantJobs)
	}
	for _, j := range jobs {
		if j.State != store.JobDone {
			t.Errorf("job %d (%s of service %d) is %s: %s", j.ID, j.Type, j.ServiceID, j.State, j.Error)
		}
	}
	for name, n := range f.sim.Stats().HostsCreated {
		if n != 1 {
			t.Errorf("VM %s was created %d times", name, n)
		}
	}
}

// checkServiceOrder asserts that each service's jobs ran one at a time, in enqueue (id) order.
func checkServiceOrder(t *testing.T, f *fixture, r *recorder) {
	t.Helper()
	iv := r.intervals()
	bySvc := map[uint64][]*store.Job{}
	for _, j := range allJobs(t, f.db) {
		bySvc[j.ServiceID] = append(bySvc[j.ServiceID], j)
	}
	for svc, jobs := range bySvc {
		for i := 1; i < len(jobs); i++ {
			a, b := iv[jobs[i-1].ID], iv[jobs[i].ID]
			if a[1] == 0 || b[0] == 0 || b[0] < a[1] {
				t.Errorf("service %d: job %d ran [%d,%d], job %d ran [%d,%d]: not one after another in order",
					svc, jobs[i-1].ID, a[0], a[1], jobs[i].ID, b[0], b[1])
			}
		}
	}
}

func TestTwoLanesOnOneKey(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 40 * time.Millisecond, Seed: 1}, queueParams("q-__PMID__", 2))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 10, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	lanes := map[string]int{}
	for _, j := range allJobs(t, f.db) {
		lanes[j.QueueKey]++
	}
	want := map[string]int{fmt.Sprintf("q-%d-1", f.module.ID): 5, fmt.Sprintf("q-%d-2", f.module.ID): 5}
	if fmt.Sprint(lanes) != fmt.Sprint(want) {
		t.Fatalf("jobs per lane %v, want %v (least loaded, ties to the lowest)", lanes, want)
	}
	r, stop := record(e)
	runIdle(t, e, 60*time.Second)
	stop()
	checkAllDone(t, f, 10)
	st := f.sim.Stats()
	if st.MaxConcurrentTasks != 2 {
		t.Errorf("max concurrent VMmanager tasks %d, want exactly 2 (two lanes)", st.MaxConcurrentTasks)
	}
	if st.LoginsOK != 1 {
		t.Errorf("%d logins for 10 operations on two lanes with a 1-hour session, want 1", st.LoginsOK)
	}
	// Each lane ran its jobs strictly one after another, in enqueue order.
	iv := r.intervals()
	byLane := map[string][]*store.Job{}
	for _, j := range allJobs(t, f.db) {
		byLane[j.QueueKey] = append(byLane[j.QueueKey], j)
	}
	for key, jobs := range byLane {
		for i := 1; i < len(jobs); i++ {
			if a, b := iv[jobs[i-1].ID], iv[jobs[i].ID]; b[0] < a[1] {
				t.Errorf("lane %s: job %d started before job %d ended", key, jobs[i].ID, jobs[i-1].ID)
			}
		}
	}
	for _, s := range svcs {
		got, err := store.Load[store.Service](f.db, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.ServiceActive || got.VM.HostID == 0 || len(got.VM.IPv4) != 1 || got.ModuleID != f.module.ID {
			t.Errorf("service %d after open: %+v", s.ID, got)
		}
		if want := fmt.Sprintf("alice-%d.example.net", s.ID); got.Domain != want {
			t.Errorf("service %d domain %q, want %q", s.ID, got.Domain, want)
		}
	}
	_ = e.Close()
	_ = f.db.Close()
	checkFile(t, f)
}

// enqueueMore adds reboot, suspend and resume to each service, behind its open.
func enqueueMore(t *testing.T, e *Engine, svcs []store.Service) {
	t.Helper()
	for _, s := range svcs {
		for _, op := range []string{store.OpReboot, store.OpSuspend, store.OpResume} {
			if _, err := e.Enqueue(s.ID, op, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestIIDKeysParallelAcrossServicesSerialWithin(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 30 * time.Millisecond, Seed: 2}, queueParams("s-__IID__", 1))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 4, "bob@example.org")
	if err != nil {
		t.Fatal(err)
	}
	enqueueMore(t, e, svcs)
	for _, j := range allJobs(t, f.db) {
		if want := fmt.Sprintf("s-%d-1", j.ServiceID); j.QueueKey != want {
			t.Fatalf("job %d key %q, want %q", j.ID, j.QueueKey, want)
		}
	}
	r, stop := record(e)
	runIdle(t, e, 60*time.Second)
	stop()
	checkAllDone(t, f, 16)
	checkServiceOrder(t, f, r)
	if got := f.sim.Stats().MaxConcurrentTasks; got != 4 {
		t.Errorf("max concurrent tasks %d, want 4 (one per service key)", got)
	}
	for _, s := range svcs {
		got, _ := store.Load[store.Service](f.db, s.ID)
		if got.Status != store.ServiceActive {
			t.Errorf("service %d is %s after open, reboot, suspend, resume", s.ID, got.Status)
		}
	}
}

// With __TYPE__ one service's operations land on different keys; they must still run in order.
func TestTypeKeysKeepServiceOrder(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 20 * time.Millisecond, Seed: 3}, queueParams("t-__TYPE__", 2))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 3, "carol@example.org")
	if err != nil {
		t.Fatal(err)
	}
	enqueueMore(t, e, svcs)
	r, stop := record(e)
	runIdle(t, e, 60*time.Second)
	stop()
	checkAllDone(t, f, 12)
	checkServiceOrder(t, f, r)
}

func TestQueueOffStartsAtOnceOneOpPerService(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 40 * time.Millisecond, Seed: 4}, store.DefaultParams())
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 6, "dave@example.org")
	if err != nil {
		t.Fatal(err)
	}
	enqueueMore(t, e, svcs)
	for _, j := range allJobs(t, f.db) {
		if j.QueueKey != "" || j.Lane != 0 {
			t.Fatalf("queue off, yet job %d has key %q lane %d", j.ID, j.QueueKey, j.Lane)
		}
	}
	r, stop := record(e)
	runIdle(t, e, 60*time.Second)
	stop()
	checkAllDone(t, f, 24)
	checkServiceOrder(t, f, r)
	if got := f.sim.Stats().MaxConcurrentTasks; got != 6 {
		t.Errorf("max concurrent tasks %d, want 6: every service at once, one operation each", got)
	}
}

func TestFaultsEndDoneOrFailedWithTask(t *testing.T) {
	cfg := sim.Config{TaskTime: 10 * time.Millisecond, FailRate: 0.1, SleepEvery: 13, SleepBurst: 2,
		TokenTTL: 150 * time.Millisecond, Seed: 5}
	f := newFixture(t, cfg, queueParams("f-__PMID__", 3))
	opt := fastOptions()
	opt.MaxAttempts = 3 // some jobs must run out of attempts
	e := f.engine(opt)
	svcs, err := e.CreateServices(f.tariff.ID, 20, "erin@example.org")
	if err != nil {
		t.Fatal(err)
	}
	enqueueMore(t, e, svcs)
	runIdle(t, e, 90*time.Second)
	tasks, err := store.All[store.Task](f.db)
	if err != nil {
		t.Fatal(err)
	}
	taskFor := map[uint64]*store.Task{}
	for _, tk := range tasks {
		taskFor[tk.JobID] = tk
	}
	var done, failed int
	for _, j := range allJobs(t, f.db) {
		switch j.State {
		case store.JobDone:
			done++
		case store.JobFailed:
			failed++
			tk := taskFor[j.ID]
			if tk == nil || tk.DepartmentID != f.dept.ID || tk.Reason == "" || tk.Reason != j.Error {
				t.Errorf("failed job %d (%s) has task %+v, want one for department %d with the cause %q", j.ID, j.Type, tk, f.dept.ID, j.Error)
			}
		default:
			t.Errorf("job %d is stuck in %s", j.ID, j.State)
		}
	}
	if done == 0 {
		t.Error("no job succeeded under 10% faults")
	}
	for name, n := range f.sim.Stats().HostsCreated {
		if n != 1 {
			t.Errorf("VM %s created %d times", name, n)
		}
	}
	t.Logf("%d done, %d failed, %d tasks", done, failed, len(tasks))
}

func TestTransientThenSuccessRetriesWithBackoff(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 6}, store.DefaultParams())
	f.sim.FailNext("POST /vm/v3/host", 2)
	e := f.engine(fastOptions())
	r, stop := record(e)
	if _, err := e.CreateServices(f.tariff.ID, 1, "frank@example.org"); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	stop()
	var health []bool
	for _, ev := range r.events {
		if ev.Kind == ModuleHealth && ev.ModuleID == f.module.ID {
			health = append(health, ev.Healthy)
		}
	}
	if !slices.Equal(health, []bool{false, true}) {
		t.Errorf("module health events %v, want unhealthy after the 500s, healthy after the success", health)
	}
	j := allJobs(t, f.db)[0]
	if j.State != store.JobDone || j.Attempt != 3 {
		t.Fatalf("job %s after %d attempts, want done after 3", j.State, j.Attempt)
	}
	var retries int
	for _, l := range j.Log {
		if strings.Contains(l.Text, "retrying in") {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("log shows %d retries, want 2: %v", retries, j.Log)
	}
}

func TestPermanentFailureOpensTaskAndFailsService(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 7}, store.DefaultParams())
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "gina@example.org")
	if err != nil {
		t.Fatal(err)
	}
	f.sim.FailHost(VMName(svcs[0].ID))
	runIdle(t, e, 30*time.Second)
	j := allJobs(t, f.db)[0]
	if j.State != store.JobFailed || j.Attempt != 1 {
		t.Fatalf("job %s after %d attempts, want failed at once", j.State, j.Attempt)
	}
	s, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if s.Status != store.ServiceFailed {
		t.Errorf("service is %s, want failed", s.Status)
	}
	tasks, _ := store.All[store.Task](f.db)
	if len(tasks) != 1 || tasks[0].DepartmentID != f.dept.ID || !strings.Contains(tasks[0].Reason, "failed") {
		t.Fatalf("tasks %+v", tasks)
	}
	// A retry must not create a second VM: the failed one is still there.
	if err := e.Retry(j.ID); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	if n := f.sim.Stats().HostsCreated[VMName(svcs[0].ID)]; n != 1 {
		t.Errorf("VM created %d times after a retry", n)
	}
}

func TestCancelAndRetry(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 8}, queueParams("c-__PMID__", 1))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 3, "hank@example.org")
	if err != nil {
		t.Fatal(err)
	}
	jobs := allJobs(t, f.db)
	if lane, pos := e.LanePosition(jobs[2].ID); lane != fmt.Sprintf("c-%d-1", f.module.ID) || pos != 2 {
		t.Errorf("LanePosition(third) = %q %d, want c-%d-1 2", lane, pos, f.module.ID)
	}
	if err := e.Cancel(jobs[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, pos := e.LanePosition(jobs[2].ID); pos != 1 {
		t.Errorf("after cancelling the second job the third is at %d, want 1", pos)
	}
	if err := e.Cancel(jobs[1].ID); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("cancelling twice: %v", err)
	}
	if err := e.Retry(jobs[0].ID); err == nil {
		t.Error("retrying a queued job was accepted")
	}
	s, _ := store.Load[store.Service](f.db, svcs[1].ID)
	if s.Status != store.ServiceOrdered {
		t.Errorf("service of a cancelled open is %s, want ordered", s.Status)
	}
	runIdle(t, e, 30*time.Second)
	if _, err := e.Enqueue(svcs[1].ID, store.OpReboot, nil); err == nil {
		t.Error("reboot of a service without a VM was accepted")
	}
	if _, err := e.Enqueue(svcs[1].ID, store.OpOpen, nil); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	if n := len(f.sim.Stats().HostsCreated); n != 3 {
		t.Errorf("%d VMs, want 3", n)
	}
	if _, err := e.Enqueue(svcs[0].ID, store.OpOpen, nil); err == nil {
		t.Error("opening an active service again was accepted")
	}
}

func TestManualSetupWhenNoModuleFits(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 9}, store.DefaultParams())
	f.module.Enabled = false
	f.must(f.db.Save(f.module))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "ivy@example.org")
	if err != nil {
		t.Fatal(err)
	}
	j := allJobs(t, f.db)[0]
	if j.State != store.JobFailed || j.ModuleID != 0 {
		t.Fatalf("job %+v, want failed without a module", j)
	}
	tasks, _ := store.All[store.Task](f.db)
	if len(tasks) != 1 || !strings.HasPrefix(tasks[0].Title, "manual setup") || tasks[0].DepartmentID != f.dept.ID {
		t.Fatalf("tasks %+v, want one manual-setup task for department %d", tasks, f.dept.ID)
	}
	// Once the module is enabled again, retry goes through selection and opens the service.
	f.module.Enabled = true
	f.must(f.db.Save(f.module))
	if err := e.Retry(j.ID); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	s, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if s.Status != store.ServiceActive || s.ModuleID != f.module.ID {
		t.Errorf("service after retry: %s on module %d", s.Status, s.ModuleID)
	}
}

func TestOperationsChangeVMAndStatus(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 10}, store.DefaultParams())
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "jack@example.org")
	if err != nil {
		t.Fatal(err)
	}
	id := svcs[0].ID
	steps := []struct {
		op     string
		args   map[string]string
		status string
	}{
		{store.OpSuspend, nil, store.ServiceSuspended},
		{store.OpResume, nil, store.ServiceActive},
		{store.OpSetParam, map[string]string{ArgCPU: "2", ArgRAMMiB: "2048", ArgDiskMiB: "20480"}, store.ServiceActive},
		{store.OpSetPassword, map[string]string{ArgPassword: "n3w-secret"}, store.ServiceActive},
		{store.OpReinstall, map[string]string{ArgOSID: "2"}, store.ServiceActive},
		{store.OpReboot, nil, store.ServiceActive},
		{store.OpClose, nil, store.ServiceDeleted},
	}
	for _, st := range steps {
		j, err := e.Enqueue(id, st.op, st.args)
		if err != nil {
			t.Fatalf("%s: %v", st.op, err)
		}
		if st.op == store.OpSetPassword {
			if strings.Contains(fmt.Sprint(j), "n3w-secret") {
				t.Fatal("the new password is in the job record")
			}
			if pw, err := f.secrets.Get(store.JobSecretID(j.ID)); err != nil || pw != "n3w-secret" {
				t.Fatalf("setpassword secret: %q %v", pw, err)
			}
		}
		runIdle(t, e, 30*time.Second)
		got, _ := store.Load[store.Job](f.db, j.ID)
		if got.State != store.JobDone {
			t.Fatalf("%s: job %s: %s", st.op, got.State, got.Error)
		}
		s, _ := store.Load[store.Service](f.db, id)
		if s.Status != st.status {
			t.Errorf("after %s service is %s, want %s", st.op, s.Status, st.status)
		}
	}
	if _, err := e.Enqueue(id, store.OpReboot, nil); err == nil {
		t.Error("an operation on a deleted service was accepted")
	}
	if _, err := e.Enqueue(id, store.OpSetParam, map[string]string{"cpu": "x"}); err == nil {
		t.Error("setparam cpu=x was accepted")
	}
}

func TestReadModelPageCountsAndPrune(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 12}, queueParams("p-__PMID__", 2))
	opt := fastOptions()
	opt.KeepFinished = 5
	e := f.engine(opt)
	if _, err := e.CreateServices(f.tariff.ID, 8, "lee@example.org"); err != nil {
		t.Fatal(err)
	}
	c := e.Counts()[f.module.ID]
	if c.Queued != 8 || c.LanesTotal != 2 || c.LanesBusy != 0 {
		t.Fatalf("counts before running: %+v", c)
	}
	jobs, total, err := e.Page(store.JobQueued, 1, 3)
	if err != nil || total != 8 || len(jobs) != 3 || jobs[0].ID != 7 || jobs[2].ID != 5 {
		t.Fatalf("Page(queued,1,3) = %d jobs from %v, total %d, err %v", len(jobs), ids(jobs), total, err)
	}
	runIdle(t, e, 30*time.Second)
	c = e.Counts()[f.module.ID]
	if c.Done != 5 || c.Queued+c.Running+c.Retrying != 0 {
		t.Fatalf("counts after pruning to 5: %+v", c)
	}
	jobs, total, _ = e.Page("", 0, 100)
	if total != 5 || !slices.Equal(ids(jobs), []uint64{8, 7, 6, 5, 4}) {
		t.Fatalf("Page(all) = %v total %d, want the newest five", ids(jobs), total)
	}
	if n := len(allJobs(t, f.db)); n != 5 {
		t.Errorf("%d jobs in the file after pruning, want 5", n)
	}
	// A fresh engine on the same file sees the same model, from the index.
	e2 := f.engine(opt)
	if got := e2.Counts()[f.module.ID]; got.Done != 5 {
		t.Errorf("reopened counts %+v", got)
	}
}

func ids(jobs []store.Job) []uint64 {
	out := make([]uint64, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestModuleSelectionInEngine(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 13}, store.DefaultParams())
	f.module.Sort, f.module.ActivationLimit = 1, 1
	f.must(f.db.Save(f.module))
	b := f.addModule("vmm-b", store.DefaultParams())
	b.Sort = 5
	f.must(f.db.Save(b))
	other := &store.DataCenter{Name: "dc2"}
	f.must(f.db.Save(other))
	c := f.addModule("vmm-c", store.DefaultParams())
	c.DataCenterID = other.ID
	f.must(f.db.Save(c))
	f.tariff.ModuleIDs = []uint64{c.ID, b.ID, f.module.ID}
	f.must(f.db.Save(f.tariff))
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 3, "mo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	// a (sort 1) takes the first; at its limit of 1 the rest go to b; c is on another data center.
	want := []uint64{f.module.ID, b.ID, b.ID}
	for i, s := range svcs {
		if s.ModuleID != want[i] {
			t.Errorf("service %d bound to module %d, want %d", s.ID, s.ModuleID, want[i])
		}
	}
	runIdle(t, e, 30*time.Second)
	// A failed last check counts as a recent error: a is skipped while b is healthy.
	f.module.LastCheck = &store.Check{At: time.Now(), OK: false, Message: "down"}
	f.must(f.db.Save(f.module))
	more, err := e.CreateServices(f.tariff.ID, 1, "mo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if more[0].ModuleID != b.ID {
		t.Errorf("with module %d failing its check the service went to %d, want %d", f.module.ID, more[0].ModuleID, b.ID)
	}
	// A failed service already bound to a opens there again even now: its VM may exist only in a's
	// VMmanager, and opening it on b would make a second one.
	failed, err := store.Load[store.Service](f.db, svcs[0].ID)
	f.must(err)
	failed.Status = store.ServiceFailed
	f.must(f.db.Save(failed))
	again, err := e.Enqueue(svcs[0].ID, store.OpOpen, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.ModuleID != f.module.ID {
		t.Errorf("a second open of service %d went to module %d, want its own module %d", svcs[0].ID, again.ModuleID, f.module.ID)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 14}, store.DefaultParams())
	e := f.engine(fastOptions())
	stuck, stop := e.Subscribe(1) // never read
	defer stop()
	r, stopRec := record(e)
	if _, err := e.CreateServices(f.tariff.ID, 5, "sub@example.org"); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	stopRec()
	if len(stuck) != 1 {
		t.Errorf("full subscriber holds %d events, want its buffer of 1", len(stuck))
	}
	byState := map[string]int{}
	laneEvents := 0
	for i, ev := range r.events {
		if i > 0 && ev.Seq != r.events[i-1].Seq+1 {
			t.Fatalf("a reader with room saw a gap: %d after %d", ev.Seq, r.events[i-1].Seq)
		}
		switch ev.Kind {
		case JobChanged:
			byState[ev.Job.State]++
		case LaneChanged:
			laneEvents++
		}
	}
	// Each job: queued, running, running again with its VMmanager task recorded, done.
	if byState[store.JobQueued] != 5 || byState[store.JobRunning] != 10 || byState[store.JobDone] != 5 {
		t.Errorf("job events by state %v, want 5 queued, 10 running, 5 done", byState)
	}
	if laneEvents != 0 {
		t.Errorf("%d lane events with queues off", laneEvents)
	}
}

// Stopping Run mid-flight leaves work for the next Run, which finishes it without repeating it.
func TestStopAndResume(t *testing.T) {
	f := newFixture(t, sim.Config{TaskTime: 50 * time.Millisecond, Seed: 15}, queueParams("r-__PMID__", 2))
	e := f.engine(fastOptions())
	if _, err := e.CreateServices(f.tariff.ID, 12, "stop@example.org"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
		if err := e.Run(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	if e.Idle() {
		t.Fatal("everything finished before the stops; the test proves nothing")
	}
	runIdle(t, e, 30*time.Second)
	checkAllDone(t, f, 12)
}

// TestUnknownIDsAreInputRefusals: an id that does not exist is the user's input (a record-level
// ValidationError, exit 2 in commands) and still matches ErrNotFound.
func TestUnknownIDsAreInputRefusals(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 15}, store.DefaultParams())
	e := f.engine(fastOptions())
	for name, err := range map[string]error{
		"cancel": e.Cancel(999), "retry": e.Retry(999),
	} {
		var ve *store.ValidationError
		if !errors.Is(err, ErrNotFound) || !errors.As(err, &ve) || ve.Field != store.FieldRecord || err.Error() != "job 999 does not exist; see vmmpm jobs" {
			t.Errorf("%s of job 999: %v", name, err)
		}
	}
	_, err := e.Enqueue(999, store.OpReboot, nil)
	var ve *store.ValidationError
	if !errors.As(err, &ve) || err.Error() != "service 999 does not exist; see vmmpm service list" {
		t.Errorf("enqueue for service 999: %v", err)
	}
}

// Lanes gives each lane's depth and its running job as committed, read whole, while jobs run.
func TestLanesShowDepthAndRunningJob(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 13}, queueParams("l-__PMID__", 2))
	opt := fastOptions()
	started, release := make(chan uint64, 8), make(chan struct{})
	opt.Executor = ExecutorFunc(func(ctx context.Context, op *Op) (Result, error) {
		started <- op.Job.ID
		<-release
		return Result{}, nil
	})
	e := f.engine(opt)
	if _, err := e.CreateServices(f.tariff.ID, 5, "lanes@example.org"); err != nil {
		t.Fatal(err)
	}
	lanes, err := e.Lanes()
	if err != nil || len(lanes) != 2 || lanes[0].Depth+lanes[1].Depth != 5 || lanes[0].Running != nil {
		t.Fatalf("lanes before running: %+v, %v", lanes, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.RunUntilIdle(ctx) }()
	defer func() { close(release); cancel(); <-done }()
	<-started
	<-started
	lanes, err = e.Lanes()
	if err != nil || len(lanes) != 2 {
		t.Fatalf("lanes while running: %+v, %v", lanes, err)
	}
	for _, l := range lanes {
		if l.Running == nil || l.Running.State != store.JobRunning || l.Running.QueueKey != l.Key || l.Running.StartedAt.IsZero() {
			t.Errorf("lane %s: running job %+v, want the one in it, read whole", l.Key, l.Running)
		}
	}
}
