package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/internal/uitest"
)

// longReason is a refusal longer than any row at 120 columns, ending in words that a cut loses.
const longReason = "VMmanager answered HTTP 400 (error 3001: not enough free IPv4 addresses in the pool " +
	"ipv4-pool-frankfurt-public for cluster kvm-main, 0 of 254 free, 12 reserved by other VMs); VMmanager " +
	"refused the request as given: add addresses to the pool or pick another, then retry — END OF REASON"

// refusingFixture is a fixture whose service 1 fails for good with longReason.
func refusingFixture(t *testing.T) *uitest.Fixture {
	t.Helper()
	f := uitest.Open(t, queue.ExecutorFunc(func(context.Context, *queue.Op) (queue.Result, error) {
		return queue.Result{}, &queue.Error{Msg: longReason}
	}))
	f.Services(t, 1)
	f.RunIdle(t)
	return f
}

// below is the text of the lines after the last line holding marker (the table's footer), as one line
// (a line ending in a hyphen was broken there), and fails when any line of view is wider than width.
func below(t *testing.T, view, marker string, width int) string {
	t.Helper()
	lines := strings.Split(view, "\n")
	at := -1
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Fatalf("line %d is %d cells wide at %d columns:\n%s", i+1, w, width, view)
		}
		if strings.TrimSpace(l) == marker {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no %q line:\n%s", marker, view)
	}
	var b strings.Builder
	for _, l := range lines[at+1:] {
		l = strings.TrimSpace(l)
		if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	return b.String()
}

// TestFailureReasonWrapped: under the Jobs and Tasks tables the selected row's whole failure reason is
// shown, wrapped to the width, at 80 and at 120 columns (the row itself cuts it).
func TestFailureReasonWrapped(t *testing.T) {
	f := refusingFixture(t)
	for _, width := range []int{80, 120} {
		d := startAt(t, f, width, 30)
		d.Keys("3")
		jobs := d.View()
		uitest.Must(t, jobs, "failed")
		if got := below(t, jobs, "1/1", width); !strings.Contains(got, "refused for good: "+longReason) {
			t.Errorf("at %d columns the jobs pane shows under its table %q, want the whole reason:\n%s", width, got, jobs)
		}
		d.Keys("4")
		tasks := d.View()
		if got := below(t, tasks, "1/1", width); !strings.Contains(got, "reason: "+longReason) {
			t.Errorf("at %d columns the tasks screen shows under its table %q, want the whole reason:\n%s", width, got, tasks)
		}
	}
	// A job that did not fail has no reason line: the table keeps the room.
	g := world(t)
	d := startAt(t, g, 120, 30)
	d.Keys("3")
	if v := d.View(); strings.Contains(v, "refused for good:") {
		t.Errorf("the selected job 8 (cancelled) shows a failure reason:\n%s", v)
	}
	if j, err := store.Load[store.Job](f.DB, 1); err != nil || j.Error != longReason {
		t.Fatalf("job 1: %+v %v", j, err)
	}
}
