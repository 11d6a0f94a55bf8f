package queue

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// The scheduler judges errors only by the engine's own *Error; the VMmanager executor makes them.
func TestSchedulerDoesNotImportVMM(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "work.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "vmmpm/vmm" {
			t.Fatal("queue/work.go imports vmmpm/vmm: classify VMmanager errors in ops.go (verdict) instead")
		}
	}
}

func TestExecutorVerdicts(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		attempts int
		state    string
		health   bool // the module turns unhealthy
		msg      string
	}{
		{"retryable", &Error{Err: errors.New("busy"), Retry: true, Module: true, Msg: "VMmanager is busy; it will be retried."}, 3, store.JobFailed, true, "VMmanager is busy; it will be retried."},
		{"permanent", Permanent(errors.New("no such tariff")), 1, store.JobFailed, false, "No such tariff."},
		{"plain error is final", errors.New("something odd"), 1, store.JobFailed, false, "Something odd."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, sim.Config{Seed: 51}, store.DefaultParams())
			opt := fastOptions()
			opt.MaxAttempts = 3
			calls := 0
			opt.Executor = ExecutorFunc(func(context.Context, *Op) (Result, error) {
				calls++
				return Result{}, tc.err
			})
			e := f.engine(opt)
			ch, stop := e.Subscribe(64)
			defer stop()
			if _, err := e.CreateServices(f.tariff.ID, 1, "v@example.org"); err != nil {
				t.Fatal(err)
			}
			runIdle(t, e, 30*time.Second)
			j := allJobs(t, f.db)[0]
			if calls != tc.attempts || j.State != tc.state || j.Error != tc.msg {
				t.Fatalf("%d calls, job %s %q; want %d calls, %s %q", calls, j.State, j.Error, tc.attempts, tc.state, tc.msg)
			}
			unhealthy := false
			for len(ch) > 0 {
				if ev := <-ch; ev.Kind == ModuleHealth && !ev.Healthy {
					unhealthy = true
				}
			}
			if unhealthy != tc.health {
				t.Fatalf("module turned unhealthy: %v, want %v", unhealthy, tc.health)
			}
		})
	}
}

func TestVerdictOfVMMErrors(t *testing.T) {
	for _, tc := range []struct {
		err           error
		retry, module bool
	}{
		{&vmm.APIError{Status: 503, Msg: "asleep"}, true, true},
		{&vmm.APIError{Status: 500, Msg: "oops"}, true, true},
		{&vmm.APIError{Status: 400, Code: 2004, Msg: "not enough resources"}, false, false},
		{&vmm.APIError{Status: 404, Msg: "gone"}, false, false},
		{&vmm.NetError{Kind: "refused", Host: "vm.example.com"}, true, true},
		{&vmm.TLSError{Kind: "untrusted", Host: "vm.example.com"}, false, true},
		{&vmm.TaskError{Task: vmm.TaskRef{ConsulID: "7"}, Reason: "disk full"}, false, false},
		{context.DeadlineExceeded, true, true},
	} {
		var qe *Error
		if !errors.As(verdict(tc.err), &qe) || qe.Retry != tc.retry || qe.Module != tc.module || qe.Msg != vmm.Describe(tc.err) {
			t.Errorf("verdict(%v) = %+v; want retry %v, module %v", tc.err, qe, tc.retry, tc.module)
		}
		if transient(verdict(tc.err)) != tc.retry || healthRelevant(verdict(tc.err)) != tc.module {
			t.Errorf("scheduler reads %v wrongly", tc.err)
		}
	}
	if verdict(nil) != nil {
		t.Error("verdict(nil) is not nil")
	}
}
