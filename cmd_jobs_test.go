package main

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
