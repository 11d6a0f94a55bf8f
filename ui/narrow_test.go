package ui_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// startAt is start at a chosen terminal size.
func startAt(t *testing.T, f *uitest.Fixture, w, h int) *uitest.Driver {
	t.Helper()
	app := ui.New(ui.Options{Data: f.Data, Theme: uitest.Plain(), Now: func() time.Time { return uitest.Now },
		Clipboard: &bytes.Buffer{}, NoTick: true})
	return uitest.Drive(t, app).Send(tea.WindowSizeMsg{Width: w, Height: h})
}

// TestEveryScreenFitsAt80x24: on the classic SSH terminal each list keeps its right-hand columns on
// screen (cut names rather than lost columns) and the help bar keeps `?` and `q` instead of ending in "…".
func TestEveryScreenFitsAt80x24(t *testing.T) {
	f := world(t)
	d := startAt(t, f, 80, 24)
	lastCol := map[string]string{"1": "SORT", "2": "UPDATED", "3": "LANES", "4": "AGE", "6": "IPV4", "8": "LAST ERROR"}
	for _, screen := range []string{"1", "2", "3", "4", "5", "6", "8"} {
		d.Keys(screen)
		v := d.View()
		lines := strings.Split(v, "\n")
		if len(lines) != 24 {
			t.Fatalf("screen %s: %d lines, want 24:\n%s", screen, len(lines), v)
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > 80 {
				t.Fatalf("screen %s line %d is %d cells wide:\n%s", screen, i+1, w, v)
			}
		}
		bar := lines[len(lines)-1]
		if !strings.HasSuffix(bar, "? toggle help • q quit") {
			t.Errorf("screen %s: help bar %q does not end with the help and quit keys", screen, bar)
		}
		if col := lastCol[screen]; col != "" && !strings.Contains(v, col) {
			t.Errorf("screen %s lost its %s column at 80 columns:\n%s", screen, col, v)
		}
		if screen == "2" && !strings.Contains(v, " 203.0.113.2 ") {
			t.Errorf("the services list cut an IPv4 address at 80 columns:\n%s", v)
		}
	}
}

// TestFormBarAt80: in a form at 80 columns the help bar still says what enter does, and how to save
// and leave.
func TestFormBarAt80(t *testing.T) {
	f := world(t)
	d := startAt(t, f, 80, 24)
	d.Keys("2", "n")
	lines := strings.Split(d.View(), "\n")
	bar := lines[len(lines)-1]
	if !strings.HasPrefix(bar, "enter next field") || !strings.HasSuffix(bar, "ctrl+s save • esc back") {
		t.Errorf("form help bar at 80 columns %q: want enter first, ctrl+s save and esc back last", bar)
	}
}

// TestJobLogWrapsAt80: a log line longer than the terminal wraps, so the end of an error is readable.
func TestJobLogWrapsAt80(t *testing.T) {
	f := world(t)
	d := startAt(t, f, 80, 24)
	d.Keys("3", "left", "left", "left", "enter") // the Failed tab, job 3
	v := d.View()
	uitest.Must(t, v, "Jobs › Job 3", "Log  (")
	log := v[strings.Index(v, "Log  ("):]
	if !strings.Contains(log, "in the pool") {
		t.Fatalf("the failed log line lost its end at 80 columns:\n%s", v)
	}
	uitest.MustNot(t, v, "(1 lines")
}

// TestPlainHTTPModuleIsNotCalledVerified: a module reached over http:// has no certificate at all, so
// neither the list nor the status line may call its TLS "verified".
func TestPlainHTTPModuleIsNotCalledVerified(t *testing.T) {
	f := world(t)
	err := f.DB.Update(func(tx *store.Tx) error {
		f.KVM.URL = "http://vmm.example.net"
		return tx.Put(f.KVM)
	})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, f)
	v := r.View()
	uitest.Must(t, v, "module 1: no TLS (plain http)", "http://vmm.example.net no TLS")
	uitest.MustNot(t, v, "TLS verified")
	r.Keys("j")
	uitest.Must(t, r.View(), "module 2: TLS NOT VERIFIED (insecure)")
}

// TestLongErrorsWrapAt80: the part of an error that says what to do comes last, so it must wrap onto
// the next line rather than fall off the right edge of an 80-column terminal.
func TestLongErrorsWrapAt80(t *testing.T) {
	f := world(t)
	d := startAt(t, f, 80, 24)
	d.Keys("enter", "down", "down", "ctrl+u")
	d.Type("bad key!")
	uitest.Must(t, d.View(), "Modules › Module parameters", "__IID__).", "esc leaves without saving.")

	d.Keys("esc", "5", "a")
	d.Type("frankfurt")
	d.Keys("ctrl+s")
	uitest.Must(t, d.View(), "Add data center", "choose another name")
}

// TestFullHelpNamesEachKeyOnce: `y copy id` is a screen action and a list key; the help lists it once.
func TestFullHelpNamesEachKeyOnce(t *testing.T) {
	r := start(t, world(t))
	r.Keys("?")
	v := r.View()
	uitest.Must(t, v, "Keys — Modules", "copy id")
	box := v[:strings.Index(v, "╰")]
	if n := strings.Count(box, "copy id"); n != 1 {
		t.Fatalf("the full help lists copy id %d times:\n%s", n, v)
	}
}
