package ui_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
	"vmmpm/vmm/sim"
)

func TestModulesKeys(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("j")
	uitest.Must(t, r.View(), "›   2 fra-lxd")
	r.Keys("k", "G")
	uitest.Must(t, r.View(), "›   2 fra-lxd")
	r.Keys("g")
	uitest.Must(t, r.View(), "›   1 fra-kvm")

	r.Keys("enter")
	uitest.Must(t, r.View(), "Modules › Module parameters", `Parameters of module 1 "fra-kvm"`)
	r.Keys("esc")
	uitest.Must(t, r.View(), "[1 Modules]")
	uitest.MustNot(t, r.View(), "Module parameters")

	r.Keys("a")
	uitest.Must(t, r.View(), "Modules › Add module")
	if r.Quit {
		t.Fatal("opening the wizard quit")
	}

	r = start(t, f)
	r.Keys("d", "y")
	uitest.Must(t, r.View(), "module 1 still has 2 unfinished operation(s)", "›   1 fra-kvm")
	r.Keys("d")
	uitest.Must(t, r.View(), `Delete module 1 "fra-kvm"`)
	r.Keys("n")
	uitest.Must(t, r.View(), "fra-kvm")
	if _, err := store.Load[store.Module](f.DB, 1); err != nil {
		t.Fatal("n deleted the module")
	}
	r.Keys("j", "d", "y")
	uitest.MustNot(t, r.View(), "   2 fra-lxd")
	uitest.Must(t, r.View(), `module "fra-lxd" deleted`)
	if _, err := store.Load[store.Module](f.DB, 2); err == nil {
		t.Fatal("y did not delete module 2")
	}
}

// TestModulesTestConnection runs `t` against the emulator: the right password marks the check ok, a
// wrong one shows the cause and records a failed check.
func TestModulesTestConnection(t *testing.T) {
	f := uitest.Open(t, uitest.Executor())
	srv := httptest.NewServer(sim.New(sim.Config{AdminPassword: "right-pw"}))
	defer srv.Close()
	for _, id := range []uint64{f.KVM.ID, f.LXD.ID} {
		m, _ := store.Load[store.Module](f.DB, id)
		m.URL, m.InsecureTLS, m.LastCheck = srv.URL, false, nil
		if err := f.DB.Save(m); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.Secrets.Set(f.KVM.ID, "right-pw")
	_ = f.Secrets.Set(f.LXD.ID, "wrong-pw")
	r := start(t, f)
	r.Keys("t")
	uitest.Must(t, r.View(), "module 1: connection works", "›   1 fra-kvm")
	if m, _ := store.Load[store.Module](f.DB, f.KVM.ID); m.LastCheck == nil || !m.LastCheck.OK {
		t.Fatalf("last check after a good test: %+v", m.LastCheck)
	}
	r.Keys("j", "t")
	uitest.Must(t, r.View(), "FAILED")
	if m, _ := store.Load[store.Module](f.DB, f.LXD.ID); m.LastCheck == nil || m.LastCheck.OK || m.LastCheck.Message == "" {
		t.Fatalf("last check after a wrong password: %+v", m.LastCheck)
	}
	if strings.Contains(r.View(), "wrong-pw") {
		t.Fatal("the password reached the screen")
	}
}

func TestParamsScreen(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("enter", "down", "down", "down", "backspace")
	r.Type("3")
	uitest.Must(t, r.View(), "vmm6-1-1 … vmm6-1-3")
	r.Keys("up")
	for range len("vmm6-__PMID__") {
		r.Keys("backspace")
	}
	r.Type("bad key!")
	uitest.Must(t, r.View(), "queue_key: at position 4")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "Module parameters", "queue_key: at position 4")
	if m, _ := store.Load[store.Module](f.DB, 1); m.Params.QueueKey != store.DefaultQueueKey {
		t.Fatalf("a refused key was saved: %q", m.Params.QueueKey)
	}
	for range len("bad key!") {
		r.Keys("backspace")
	}
	r.Type("vmm-__PMID__-__TYPE__")
	uitest.Must(t, r.View(), "vmm-1-open-1 … vmm-1-open-3", "__TYPE__ shown as open")
	r.Keys("up", "up")
	r.Type("0")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "parameters of module 1 saved", "[1 Modules]")
	m, _ := store.Load[store.Module](f.DB, 1)
	if p := m.Params; p.QueueKey != "vmm-__PMID__-__TYPE__" || p.QueueCount != 3 || p.SessionTTL != 36000 {
		t.Fatalf("saved params %+v", p)
	}
	// The same rule as `module set`: 36000 is within 0–86400, 99999 is not.
	r.Keys("enter")
	r.Type("9")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "session_ttl: must be between 0 and 86400")
	r.Keys("esc")
	uitest.Must(t, r.View(), "[1 Modules]")
}

func TestServicesKeys(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("2", "n")
	uitest.Must(t, r.View(), "Create services", "1 VPS S")
	r.Keys("down", "backspace")
	r.Type("2")
	// enter moves on to the last field and saves only there.
	r.Keys("enter")
	uitest.Must(t, r.View(), "Create services", "› Client email")
	uitest.MustNot(t, r.View(), "created 2 service(s)")
	r.Type("client@example.com") // there is no default client
	r.Keys("enter")
	uitest.Must(t, r.View(), "created 2 service(s), ids 9…10", "      10 ")
	jobs, total, err := f.Engine.Page(store.JobQueued, 0, 10)
	if err != nil || total != 4 || jobs[0].ServiceID != 10 || jobs[0].Type != store.OpOpen {
		t.Fatalf("queued after create: %d jobs, first %+v, err %v", total, jobs, err)
	}

	// Service 5 is active: setparam needs an argument, which the engine asks for.
	r.Keys("/")
	r.Type("203.0.113.6")
	r.Keys("enter", "o")
	uitest.Must(t, r.View(), "Run an operation on service 5 (active)")
	r.Keys("down", "right", "right", "right", "right", "right")
	uitest.Must(t, r.View(), "‹ setparam ›")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "give at least one of cpu, ram_mib, disk_mib")
	r.Keys("down")
	r.Type("2")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "setparam of service 5 queued as job 11")
	j, err := store.Load[store.Job](f.DB, 11)
	if err != nil || j.Type != store.OpSetParam || j.Args["cpu"] != "2" {
		t.Fatalf("job 11: %+v %v", j, err)
	}
}

// TestServicesOpenAgain (issue 10 point 5): o on the service whose open failed offers open first, and
// ctrl+s queues it.
func TestServicesOpenAgain(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("2", "/")
	r.Type("failed")
	r.Keys("enter", "o")
	uitest.Must(t, r.View(), "Run an operation on service 3 (failed)", "Operation     open ")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "open of service 3 queued as job 9")
	if j, err := store.Load[store.Job](f.DB, 9); err != nil || j.Type != store.OpOpen || j.ServiceID != 3 {
		t.Fatalf("job 9: %+v %v", j, err)
	}
}

func TestJobsKeys(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("3")
	uitest.Must(t, r.View(), "[All 8]", "vmm6-1-2           1 queued")
	r.Keys("right")
	v := r.View()
	uitest.Must(t, v, "[Queued 2]")
	uitest.MustNot(t, v, " done ")

	// c asks, naming the selected queued job; n keeps it, y cancels it; a done job refuses.
	r.Keys("c")
	uitest.Must(t, r.View(), "Cancel job 7 (", " of service ")
	r.Keys("n")
	uitest.Must(t, r.View(), "[Queued 2]")
	if j, _ := store.Load[store.Job](f.DB, 7); j.State != store.JobQueued {
		t.Fatalf("job 7 after c n: %s", j.State)
	}
	r.Keys("c", "y")
	uitest.Must(t, r.View(), "job 7 cancelled", "[Queued 1]")
	r.Keys("left", "G", "c")
	uitest.Must(t, r.View(), "job 1 is done; only unfinished jobs can be cancelled")

	// r retries the failed job; it leaves the failed tab.
	r.Keys("left", "left", "left")
	uitest.Must(t, r.View(), "[Failed 1]", "      3       3 open")
	r.Keys("r")
	uitest.Must(t, r.View(), "Retry job 3 (open of service 3)?")
	r.Keys("y")
	uitest.Must(t, r.View(), "job 3 queued again", "[Failed 0]")
	if j, _ := store.Load[store.Job](f.DB, 3); j.State != store.JobQueued {
		t.Fatalf("job 3 after r: %s", j.State)
	}

	// enter opens the detail with the log; esc comes back.
	r.Keys("right", "right", "right", "G", "enter")
	uitest.Must(t, r.View(), "Jobs › Job 1", "Log  (", "attempt 1 of 3 started")
	r.Keys("esc")
	uitest.Must(t, r.View(), "[All 8]")

	// The filter searches the history.
	r.Keys("/")
	r.Type("svc 5")
	r.Keys("enter")
	v = r.View()
	uitest.Must(t, v, "      5       5 open", "searched the newest 8 jobs")
	uitest.MustNot(t, v, "      4       4 open")
}

// TestJobsSelectionFollowsLiveRows: jobs enqueued while Jobs is shown land above the selection; the
// next tick keeps the cursor on the same job, and when the selected job leaves the tab the screen says
// so instead of quietly selecting another.
func TestJobsSelectionFollowsLiveRows(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("3", "j", "j")
	uitest.Must(t, r.View(), "›       6       6 open")
	f.Services(t, 2) // their opens are jobs 9 and 10, above job 6
	f.Data.Bump()
	r.Send(common.TickMsg{})
	uitest.Must(t, r.View(), "[All 10]", "›       6       6 open")
	r.Keys("right") // Queued: 10, 9, 7, 6
	r.Keys("G")
	uitest.Must(t, r.View(), "›       6       6 open")
	if err := f.Engine.Cancel(6); err != nil {
		t.Fatal(err)
	}
	f.Data.Bump()
	r.Send(common.TickMsg{})
	uitest.Must(t, r.View(), "job 6 left this tab (it is cancelled now); the cursor is on job 7")
}

// TestJobsMarkedCancel: ctrl+a marks the queued jobs shown, c asks once for the lot, naming them.
func TestJobsMarkedCancel(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("3", "right")
	uitest.Must(t, r.View(), "[Queued 2]")
	r.Keys("ctrl+a", "c")
	uitest.Must(t, r.View(), "Cancel 2 jobs (7, 6)?")
	r.Keys("y")
	uitest.Must(t, r.View(), "2 jobs cancelled", "[Queued 0]")
	for _, id := range []uint64{6, 7} {
		if j, _ := store.Load[store.Job](f.DB, id); j.State != store.JobCancelled {
			t.Fatalf("job %d after ctrl+a c y: %s", id, j.State)
		}
	}
}

func TestTasksKeys(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("4")
	uitest.Must(t, r.View(), "open of service 3 failed", "Support")
	r.Keys("x")
	uitest.Must(t, r.View(), "Close task 1 (")
	r.Keys("esc")
	if tk, _ := store.Load[store.Task](f.DB, 1); !tk.ClosedAt.IsZero() {
		t.Fatal("esc on the question closed the task")
	}
	r.Keys("x", "y")
	uitest.Must(t, r.View(), "task 1 closed", "no open tasks")
	tk, _ := store.Load[store.Task](f.DB, 1)
	if tk.ClosedAt.IsZero() {
		t.Fatal("x did not close the task")
	}
	r.Keys("A")
	uitest.Must(t, r.View(), "Tasks (all)", "closed")
	r.Keys("x")
	uitest.Must(t, r.View(), "task 1 is already closed")
	r.Keys("enter")
	uitest.Must(t, r.View(), "Tasks (all) › Job 3", "not enough free IPv4 addresses")
	r.Keys("esc")
	uitest.Must(t, r.View(), "[4 Tasks]")
}

func TestCatalogKeys(t *testing.T) {
	f := world(t)
	r := start(t, f)
	r.Keys("5", "a", "ctrl+s")
	uitest.Must(t, r.View(), "Add data center", "name: must not be empty")
	r.Type("Paris")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "data center added with id 3", "Paris")

	r.Keys("g", "d", "y")
	uitest.Must(t, r.View(), "data center 1 is used by 2 module(s)")
	r.Keys("G", "e")
	uitest.Must(t, r.View(), "Edit data center 3")
	r.Type(" Nord")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "Paris Nord")
	r.Keys("d", "y")
	uitest.MustNot(t, r.View(), "   3 Paris Nord")
	uitest.Must(t, r.View(), `data center 3 "Paris Nord" deleted`)

	r.Keys("right", "a")
	uitest.Must(t, r.View(), "Add department")
	r.Type("Billing")
	r.Keys("enter") // the department form's one field is its last: enter saves
	uitest.Must(t, r.View(), "department added with id 3", "Billing")
	depts, _ := store.All[store.Department](f.DB)
	if len(depts) != 3 {
		t.Fatalf("%d departments", len(depts))
	}
}

// onEmulator points both fixture modules at the emulator, their passwords in the fixture's secrets.
func onEmulator(t *testing.T, f *uitest.Fixture) {
	t.Helper()
	srv := httptest.NewServer(sim.New(sim.Config{AdminPassword: "right-pw"}))
	t.Cleanup(srv.Close)
	for _, id := range []uint64{f.KVM.ID, f.LXD.ID} {
		m, _ := store.Load[store.Module](f.DB, id)
		m.URL, m.InsecureTLS = srv.URL, false
		if err := f.DB.Save(m); err != nil {
			t.Fatal(err)
		}
		_ = f.Secrets.Set(id, "right-pw")
	}
}

// TestTariffsKeys: the form picks modules by name and the OS among what their VMmanager offers; an OS
// one of the tariff's modules cannot install is refused naming what it can (issue 10 point 6).
func TestTariffsKeys(t *testing.T) {
	f := world(t)
	onEmulator(t, f)
	r := start(t, f)
	r.Keys("6", "a")
	uitest.Must(t, r.View(), "Add tariff", "[ ] 1 fra-kvm  [ ] 2 fra-lxd", "OS image         1 Ubuntu 22.04", "Recipe           none")
	r.Type("VPS M")
	r.Keys("down", "down", " ")
	uitest.Must(t, r.View(), "‹[x] 1 fra-kvm›  [ ] 2 fra-lxd")
	r.Keys("down", "backspace")
	r.Type("0")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), "cpu: must be between 1 and 256")
	r.Keys("backspace")
	r.Type("4")
	r.Keys("down", "down", "down", "right", "right")
	uitest.Must(t, r.View(), "‹ 3 Ubuntu 22.04 LXD ›")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), `os_id: must be an OS image module 1 "fra-kvm" can install on cluster "kvm-main"; 3 is not one (it offers: 1 Ubuntu`, "22.04, 2 Debian 12, 4 AlmaLinux 9)")
	r.Keys("left", "down", "right")
	uitest.Must(t, r.View(), "‹ 1 LAMP ›")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), `tariff "VPS M" saved with id 2`, "VPS M")
	if tf, _ := store.Load[store.Tariff](f.DB, 2); tf.OSID != 2 || tf.RecipeID != 1 || len(tf.ModuleIDs) != 1 || tf.ModuleIDs[0] != 1 {
		t.Fatalf("tariff 2: %+v", tf)
	}

	// A taken name is refused; a module on another data center is kept with a warning, as
	// `tariff add` does.
	r.Keys("G", "e")
	for range len("VPS M") {
		r.Keys("backspace")
	}
	r.Type("vps s")
	r.Keys("ctrl+s")
	uitest.Must(t, r.View(), `a tariff named "VPS S" already exists (id 1)`)
	r.Keys("backspace")
	r.Type("L")
	r.Keys("down", "right", "ctrl+s")
	uitest.Must(t, r.View(), `tariff "vps L" saved with id 2; warning: module(s) 1 are on another data center`)
	if tf, _ := store.Load[store.Tariff](f.DB, 2); tf.DataCenterID != 2 || tf.CPU != 4 {
		t.Fatalf("tariff 2 after edit: %+v", tf)
	}
	r.Keys("g", "d", "y")
	uitest.Must(t, r.View(), "tariff 1 has 8 service(s) that are not deleted")
}
