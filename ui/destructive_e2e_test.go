package ui_test

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// jobsOf are the jobs of type op in the database, whatever their state.
func jobsOf(t *testing.T, f *uitest.Fixture, op string) []*store.Job {
	t.Helper()
	l, err := f.Data.Backend().Jobs(context.Background(), backend.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Job
	for _, j := range l.Jobs {
		if j.Type == op {
			out = append(out, j)
		}
	}
	return out
}

// chooseOp opens o on the selected service (or the marked ones) and moves the operation choice right
// times, to want.
func chooseOp(term *termtest.Terminal, right int, want string) {
	term.Key("o")
	if term.Wait("Run an operation on") != "" && !regexp.MustCompile(`marked services`).MatchString(term.Frame()) {
		term.Key("down") // from the service id to the operation
		term.Wait("› Operation")
	}
	for range right {
		term.Key("right")
	}
	term.Wait("‹ " + want + " ›")
}

// askedOp runs op (right of the first operation) on the selected service id: the question shows want
// and the id to type; y, a wrong id, and esc (back to the form, then out) queue nothing; the id typed
// queues one job, all checked in the database.
func askedOp(t *testing.T, term *termtest.Terminal, f *uitest.Fixture, id uint64, right int, op string, want ...string) {
	t.Helper()
	typed := strconv.FormatUint(id, 10)
	before := len(jobsOf(t, f, op))
	chooseOp(term, right, op)
	term.Key("ctrl+s")
	term.Wait(append(want, "type "+typed+" and press")...)
	term.Key("y")
	term.Key("enter")
	term.Wait("that is not " + typed)
	term.Key("esc")
	term.Wait("‹ " + op + " ›") // back in the form, as it was filled
	term.Key("esc")
	term.Gone("Run an operation on")
	if n := len(jobsOf(t, f, op)); n != before {
		t.Fatalf("%s was queued without service %d typed: %d jobs, were %d", op, id, n, before)
	}
	chooseOp(term, right, op)
	term.Key("ctrl+s")
	term.Wait(want[0])
	term.Write(typed)
	term.Wait("> " + typed)
	term.Key("enter")
	term.Wait(op + " of service " + typed + " queued as job")
	if j := jobsOf(t, f, op); len(j) != before+1 || j[len(j)-1].ServiceID != id {
		t.Fatalf("after typing %d: %s jobs %+v, want one more, for service %d", id, op, j, id)
	}
}

// TestDestructiveOperationsAsk: in a real terminal, close and reinstall on Services name what they
// destroy (service, VM, module, client) and need the service id typed; y, a wrong id and esc queue
// nothing (checked in the database); the id typed queues the job. Over two marked services, close
// needs the count typed.
func TestDestructiveOperationsAsk(t *testing.T) {
	f := world(t) // services 1, 2, 4, 5 active with VMs 101…105; 3 failed; 6…8 pending
	app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), Clipboard: io.Discard})
	term := termtest.Start(t, app, 120, 40)
	term.Key("2")
	term.Wait("vps1.example.net")
	for range 3 { // newest first: 8, 7, 6, then 5
		term.Key("j")
	}
	term.WaitFor("service 5 selected", 30*time.Second, regexp.MustCompile(`›\s+5 active`).MatchString)

	// close is the last of suspend, resume, reboot, reinstall, setpassword, setparam, close.
	askedOp(t, term, f, 5, 6, store.OpClose, "Close service 5 of client client@example.org?", "deletes VM 105",
		"fra-kvm", "cannot be undone")

	// reinstall, on service 4 (one row down).
	term.Key("j")
	term.WaitFor("service 4 selected", 30*time.Second, regexp.MustCompile(`›\s+4 active`).MatchString)
	askedOp(t, term, f, 4, 3, store.OpReinstall, "Reinstall service 4 of client client@example.org?",
		"wipes the disk of VM 104", "installs its OS anew")

	// Two marked services: the count is what must be typed.
	term.Key("G")
	term.Key("k")
	term.WaitFor("service 2 selected", 30*time.Second, regexp.MustCompile(`›\s+2 active`).MatchString)
	term.Key(" ")
	term.Key(" ")
	chooseOp(term, 6, "close")
	term.Wait("the 2 marked services")
	term.Key("ctrl+s")
	term.Wait("Close 2 services?", "service 2: VM 102 (vps2.example.net) on fra-kvm", "service 1: VM 101", "type 2 and press")
	term.Write("1")
	term.Wait("> 1")
	term.Key("enter")
	term.Wait("that is not 2")
	if j := jobsOf(t, f, store.OpClose); len(j) != 1 {
		t.Fatalf("the bulk close ran on a wrong count: %d close jobs", len(j))
	}
	term.Key("backspace")
	term.Write("2")
	term.Wait("> 2")
	term.Key("enter")
	term.Wait("close of 2 services queued as jobs")
	if j := jobsOf(t, f, store.OpClose); len(j) != 3 {
		t.Fatalf("after typing 2: %d close jobs, want 3", len(j))
	}
	term.Key("q")
	term.Finished(10 * time.Second)
}
