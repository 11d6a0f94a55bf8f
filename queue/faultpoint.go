package queue

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// The points of an open's create call where Options.FaultPoint is called: a test freezes the
// engine exactly there (the chaos test's SIGSTOP) to prove a VM made under a stale lease is undone.
const (
	FaultBeforeCreate = "before-create" // the lease was checked, the create call not yet made
	FaultAfterCreate  = "after-create"  // VMmanager answered the create; nothing recorded yet
	FaultAfterRecord  = "after-record"  // the VM and its task are recorded
)

// FaultPoints are the names FaultStop accepts, in the order an open reaches them.
var FaultPoints = []string{FaultBeforeCreate, FaultAfterCreate, FaultAfterRecord}

// fault calls Options.FaultPoint, if set.
func (e *Engine) fault(point string, job uint64) {
	if e != nil && e.opt.FaultPoint != nil {
		e.opt.FaultPoint(point, job)
	}
}

// FaultStop is the test hook VMMPM_FAULT_STOP=POINT[:N] installs in vmmpm serve: the Nth time
// (default the first) this process reaches POINT it logs one line and stops itself with SIGSTOP,
// so the freeze falls exactly there; SIGCONT wakes it. An empty spec is no hook (nil).
func FaultStop(spec string, log *slog.Logger) (func(point string, job uint64), error) {
	return faultStop(spec, log, stopHere)
}

// stopHere stops the process with SIGSTOP sent to the calling thread: sent to the process, the
// signal goes to its main thread, and this one runs on (past the point) until the stop reaches it.
// Sent to this thread, the stop happens as the syscall returns, before one more line runs here.
func stopHere() {
	runtime.LockOSThread() // the thread named is the one that returns from the syscall
	defer runtime.UnlockOSThread()
	_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
}

func faultStop(spec string, log *slog.Logger, stop func()) (func(string, uint64), error) {
	if spec == "" {
		return nil, nil
	}
	point, count, hasN := strings.Cut(spec, ":")
	n := 1
	if hasN {
		var err error
		if n, err = strconv.Atoi(count); err != nil || n < 1 {
			return nil, fmt.Errorf("VMMPM_FAULT_STOP=%q: the count after the colon must be a whole number from 1 up; give POINT or POINT:N", spec)
		}
	}
	if !slices.Contains(FaultPoints, point) {
		return nil, fmt.Errorf("VMMPM_FAULT_STOP=%q names no fault point; give one of %s, optionally with :N", spec, strings.Join(FaultPoints, ", "))
	}
	var reached atomic.Int64
	return func(at string, job uint64) {
		if at != point || reached.Add(1) != int64(n) {
			return
		}
		log.Warn(fmt.Sprintf("fault point %s reached (job %d): stopping this process", at, job))
		stop()
	}, nil
}
