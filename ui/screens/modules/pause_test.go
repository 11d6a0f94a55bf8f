package modules_test

import (
	"strings"
	"testing"

	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/screens/modules"
)

// TestPauseKey: p asks before pausing the selected module, n leaves it running, y pauses it (its row
// then says PAUSED), and p again asks to resume it; ? help lists the key.
func TestPauseKey(t *testing.T) {
	f := uitest.Open(t, uitest.Executor())
	m := modules.New(f.Context())
	d := uitest.DriveScreen(t, m)
	if v := d.View(); !strings.Contains(v, "fra-kvm") || strings.Contains(v, "PAUSED") {
		t.Fatalf("the modules before a pause:\n%s", v)
	}
	listed := false
	for _, group := range m.Help().Full {
		for _, b := range group {
			listed = listed || b.Help().Key == "p" && b.Help().Desc == "pause/resume"
		}
	}
	if !listed {
		t.Error("the full help does not list p pause/resume")
	}
	d.Keys("p")
	if v := d.View(); !strings.Contains(v, `Pause module 1 "fra-kvm"?`) || !strings.Contains(v, "running ones finish") {
		t.Fatalf("p did not ask:\n%s", v)
	}
	d.Keys("n")
	if len(f.Engine.Pauses()) != 0 {
		t.Fatal("n paused the module")
	}
	d.Keys("p", "y")
	p, ok := f.Engine.Pauses()[f.KVM.ID]
	if !ok {
		t.Fatal("y did not pause the module")
	}
	if v := d.View(); !strings.Contains(lineWith(v, "fra-kvm"), " PAUSED ") {
		t.Errorf("the paused module's row:\n%s", v)
	}
	d.Keys("p")
	// The question quotes the pause (who, when), wrapped to the dialog's width.
	if v := d.View(); !strings.Contains(v, `Resume module 1 "fra-kvm" (module paused by`) ||
		!strings.Contains(v, "Its queued operations start again") || p.By == "" || !strings.Contains(v, p.By) {
		t.Fatalf("p on the paused module did not ask to resume it:\n%s", v)
	}
	d.Keys("y")
	if len(f.Engine.Pauses()) != 0 || strings.Contains(d.View(), "PAUSED") {
		t.Errorf("y did not resume the module:\n%s", d.View())
	}
}

func lineWith(v, s string) string {
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
