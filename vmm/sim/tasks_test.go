package sim

import (
	"fmt"
	"testing"
	"time"
)

// TestMaxConcurrentTasksExact drives a known schedule with a fake clock (TaskTime 10s):
//
//	A [0,10)  B [5,15)  C [12,22)  D [13,23)  E [25,35)  F [35,45)
//
// At t=13 B, C and D overlap: the maximum is 3. E and F touch at 35 but do not overlap.
func TestMaxConcurrentTasksExact(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: 10 * time.Second, Now: clk.Now})
	at := 0
	create := func(atSec int, name string) {
		clk.Advance(time.Duration(atSec-at) * time.Second)
		at = atSec
		e.ok("POST", "/vm/v3/host", vm(name))
	}
	check := func(wantMax, wantRunning int) {
		t.Helper()
		st := e.sim.Stats()
		if st.MaxConcurrentTasks != wantMax || st.RunningTasks != wantRunning {
			t.Fatalf("t=%ds: max %d running %d, want %d and %d", at, st.MaxConcurrentTasks, st.RunningTasks, wantMax, wantRunning)
		}
	}
	create(0, "A")
	check(1, 1)
	create(5, "B")
	check(2, 2)
	create(12, "C")
	check(2, 2)
	create(13, "D")
	check(3, 3)
	create(25, "E")
	check(3, 1)
	create(35, "F")
	check(3, 1)
	st := e.sim.Stats()
	if st.Tasks["complete"] != 5 || st.Tasks["running"] != 1 {
		t.Fatalf("tasks by status %v, want 5 complete, 1 running", st.Tasks)
	}
}

// TestChainedTasksDoNotCountTwice: a create with a recipe is two tasks back to back, one at a time.
func TestChainedTasksDoNotCountTwice(t *testing.T) {
	clk := newClock()
	e := newEnv(t, Config{TaskTime: 10 * time.Second, Now: clk.Now})
	e.ok("POST", "/vm/v3/host", vm("svc-1", set("recipe_list", []any{map[string]any{"recipe": 1}, map[string]any{"recipe": 2}})))
	clk.Advance(15 * time.Second)
	if st := e.sim.Stats(); st.MaxConcurrentTasks != 1 || st.RunningTasks != 1 {
		t.Fatalf("max %d running %d, want 1 and 1", st.MaxConcurrentTasks, st.RunningTasks)
	}
}

func TestTaskByIDAndWhereForms(t *testing.T) {
	e := newEnv(t, Config{})
	res := e.ok("POST", "/vm/v3/host", vm("svc-1"))
	one := e.ok("GET", "/vm/v3/task/1", nil)
	if num(one["consul_id"]) != num(res["task"]) || one["name"] != "host_create" || one["status"] != "complete" {
		t.Fatalf("task 1: %v (create answered %v)", one, res)
	}
	for _, q := range []string{
		fmt.Sprintf("((consul_id+EQ+'%d')+AND+(name+EQ+'host_create'))", num(res["task"])),
		fmt.Sprintf("(consul_id+EQ+%d)", num(res["task"])),
		"(name+CP+'host_%25')",
		"(id+EQ+1)",
		"((name+EQ+'nope')+OR+(status+EQ+'complete'))",
	} {
		if l := e.list("/vm/v3/task?where=" + q); len(l) != 1 || num(l[0]["id"]) != 1 {
			t.Fatalf("where=%s: %v", q, l)
		}
	}
	if l := e.list("/vm/v3/task?where=(consul_id+EQ+'1')"); len(l) != 0 {
		t.Fatalf("a task-manager id matched as consul id: %v", l)
	}
}
