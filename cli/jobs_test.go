package cli

import (
	"strings"
	"testing"
	"time"

	"vmmpm/store"
)

func TestTasksClose(t *testing.T) {
	db := tempDB(t)
	mustCLI(t, "--db", db, "department", "add", "Support")
	saveRecords(t, db,
		&store.Task{DepartmentID: 1, JobID: 3, Title: "open of service 3 failed", Reason: "no IPv4 left", CreatedAt: time.Now()},
		&store.Task{DepartmentID: 1, Title: "set up service 4 by hand", Reason: "no module fits", CreatedAt: time.Now()})
	tasks := func() []store.Task { return decodeJSON[[]store.Task](t, mustCLI(t, "--db", db, "tasks", "--json")) }

	refuseCLI(t, "give one or more task ids; see vmmpm tasks", "--db", db, "tasks", "close")
	refuseCLI(t, `task id must be a positive number, not "x"`, "--db", db, "tasks", "close", "1", "x")
	refuseCLI(t, "there is no task 9 (see `vmmpm tasks`)", "--db", db, "tasks", "close", "1", "9")
	if ts := tasks(); !ts[0].ClosedAt.IsZero() {
		t.Fatal("a refused close closed task 1 (all or none)")
	}

	if out := mustCLI(t, "--db", db, "tasks", "close", "1", "2"); out != "closed task 1\nclosed task 2\n" {
		t.Errorf("close said %q", out)
	}
	table := mustCLI(t, "--db", db, "tasks")
	for _, tk := range tasks() {
		if tk.ClosedAt.IsZero() || time.Since(tk.ClosedAt) > time.Minute {
			t.Errorf("task %d closed_at %v", tk.ID, tk.ClosedAt)
		}
		if !strings.Contains(table, stamp(tk.CreatedAt)+"  "+stamp(tk.ClosedAt)+"  "+tk.Title) {
			t.Errorf("the table must show when task %d was created and closed:\n%s", tk.ID, table)
		}
	}
	refuseCLI(t, "task 2 is already closed (since ", "--db", db, "tasks", "close", "2")
}

// TestJobsSelectionFollowsTheJobInATerminal (issue 10 point 1): with job 3 selected on Jobs, three new
// services add three rows above it; the cursor stays on job 3, c asks naming it, and y cancels job 3
// and no other.
func TestJobsSelectionFollowsTheJobInATerminal(t *testing.T) {
	env := newEngineEnv(t, time.Hour) // two lanes, tasks that never end: jobs 1, 2 run, the rest wait
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "4")
	u := startTUI(t, env.db)
	u.expect("Modules", "vmm")
	u.key("3")
	u.expect("QUEUE KEY", "›       4       4 open")
	u.key("j")
	u.expect("›       3       3 open")

	u.key("2")
	u.expect("Services", "client-4.example")
	u.key("n")
	u.expect("Create services")
	u.key(keyDown)
	u.key(keyBackspace)
	u.key("3")
	u.expect("› How many      [3")
	u.key(keyDown)
	u.typeText("client@example.com") // there is no default client
	u.expect("[client@example.com")
	u.key(keyCtrlS)
	u.expect("created 3 service(s)")
	u.key("3")
	u.expect("All 7")
	u.expect("›       3       3 open") // three rows above it now, and the cursor still on job 3
	u.key("c")
	u.expect("Cancel job 3 (open of service 3)?")
	u.key("y")
	u.expect("job 3 cancelled")
	u.quit()

	db, err := store.Open(env.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id := uint64(1); id <= 7; id++ {
		j, err := store.Load[store.Job](db, id)
		if err != nil {
			t.Fatal(err)
		}
		if cancelled := j.State == store.JobCancelled; cancelled != (id == 3) {
			t.Errorf("job %d is %s; only job 3 was to be cancelled", id, j.State)
		}
	}
}
