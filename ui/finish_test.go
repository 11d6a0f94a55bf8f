package ui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
)

// sizes are the terminals every check here runs at: classic SSH and a roomy one.
var sizes = [][2]int{{80, 24}, {120, 40}}

// fits fails when a line of view is wider than the terminal.
func fits(t *testing.T, view string, width int) {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if w := ansi.StringWidth(l); w > width {
			t.Fatalf("a line is %d cells on a %d-column terminal: %q", w, width, l)
		}
	}
}

// TestColumnsGiveWayInOrder: the Modules list keeps a URL's port and a queue's "×3" at every size; the
// department and last check give way first.
func TestColumnsGiveWayInOrder(t *testing.T) {
	f := world(t)
	m, err := store.Load[store.Module](f.DB, f.KVM.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.URL, m.Params.QueueCount = "https://vmm.example.net:1500", 3
	if err := f.DB.Save(m); err != nil {
		t.Fatal(err)
	}
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			v := startAt(t, f, sz[0], sz[1]).View()
			fits(t, v, sz[0])
			uitest.Must(t, v, "net:1500", "PMID__ ×3", "SORT")
			if sz[0] == 120 {
				uitest.Must(t, v, "vmm.example.net:1500", "vmm6-__PMID__ ×3", "kvm-main (KVM)", "Frankfurt")
			}
			d := startAt(t, f, sz[0], sz[1])
			d.Keys("2")
			uitest.Must(t, d.View(), "⣾ processing", "fra-kvm", "203.0.113.6") // the state, module and address stay whole
		})
	}
}

// TestLongMessageWraps: a message longer than the line wraps above the status line, whole, and the body
// gives up the lines it takes.
func TestLongMessageWraps(t *testing.T) {
	long := "keyring UNUSABLE: no D-Bus session bus, so passwords cannot be saved or read; on a server " +
		"without a desktop start vmmpm under dbus-run-session with an unlocked gnome-keyring (README: " +
		"Running on a headless server) and try again."
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			d := startAt(t, world(t), sz[0], sz[1])
			d.Send(common.FlashMsg{Text: long, Err: true})
			v := d.View()
			fits(t, v, sz[0])
			if n := strings.Count(v, "\n") + 1; n != sz[1] {
				t.Fatalf("the screen is %d lines, want %d:\n%s", n, sz[1], v)
			}
			words := strings.Join(strings.Fields(strings.ReplaceAll(v, "─", " ")), " ")
			if !strings.Contains(words, long) {
				t.Fatalf("the message is not shown whole:\n%s", v)
			}
			uitest.Must(t, v, "module 1: TLS verified", "? toggle help") // status and help stay
		})
	}
}

// TestMessageStaysOnItsScreen: a message raised on Modules is not shown on Services, and is there again
// on the way back while it is fresh.
func TestMessageStaysOnItsScreen(t *testing.T) {
	d := startAt(t, world(t), 120, 40)
	d.Send(common.FlashMsg{Text: "raised on modules"})
	uitest.Must(t, d.View(), "raised on modules")
	d.Keys("2")
	uitest.MustNot(t, d.View(), "raised on modules")
	d.Send(common.FlashMsg{Text: "raised on services"})
	d.Keys("1")
	uitest.Must(t, d.View(), "raised on modules")
	uitest.MustNot(t, d.View(), "raised on services")
}

// TestFilterWithoutMatchSaysSo: a filter that leaves nothing names itself instead of suggesting to create
// services.
func TestFilterWithoutMatchSaysSo(t *testing.T) {
	d := startAt(t, world(t), 120, 40)
	d.Keys("2", "/")
	d.Type("fail15")
	d.Keys("enter")
	v := d.View()
	uitest.Must(t, v, `no services match "fail15"`)
	uitest.MustNot(t, v, "press n")
	d.Keys("esc")
	uitest.Must(t, d.View(), "vps1.example.net")
}

// TestHelpOverlayFits: `?` shows every key group whole at 80×24 and 120×40, on a list and on the jobs
// pane, cut nowhere.
func TestHelpOverlayFits(t *testing.T) {
	f := world(t)
	for _, sz := range sizes {
		for _, screen := range []string{"1", "3"} {
			t.Run(fmt.Sprintf("%dx%d screen %s", sz[0], sz[1], screen), func(t *testing.T) {
				d := startAt(t, f, sz[0], sz[1])
				d.Keys(screen, "?")
				v := d.View()
				fits(t, v, sz[0])
				uitest.Must(t, v, "1–8", "switch screen", "shift+tab previous screen", "? ", "toggle help", "esc ", "q ",
					"ctrl+c", "quit (leaves a text field first)", "ctrl+d half page down", "q or ctrl+c quits")
				if screen == "3" {
					uitest.Must(t, v, "retry failed", "next tab", "mark all shown")
				}
				lines := strings.Split(v, "\n")
				if body := strings.Join(lines[2:len(lines)-3], "\n"); strings.Contains(body, "…") {
					t.Fatalf("the help overlay is cut:\n%s", v)
				}
			})
		}
	}
}
