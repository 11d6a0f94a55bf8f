package ui_test

import (
	"io"
	"regexp"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
)

// TestKeysArrivingTogether writes keys to a real terminal in one write, as `tmux send-keys 'jj'` or a
// fast typist over SSH does, so Bubble Tea reads them as one key message: outside a text field each
// rune counts on its own; from the moment a text field opens, the rest is typed into it.
func TestKeysArrivingTogether(t *testing.T) {
	app := ui.New(ui.Options{Data: world(t).Data, Theme: uitest.Plain(), Now: func() time.Time { return uitest.Now },
		Clipboard: io.Discard, NoTick: true})
	term := termtest.Start(t, app, 120, 40)
	term.Wait("[1 Modules]", "fra-kvm")
	term.Write("2")
	term.Wait("[2 Services]")
	selected := func(id string) {
		t.Helper()
		term.WaitFor("service "+id+" selected", 30*time.Second, regexp.MustCompile(`(?m)^› +`+id+` `).MatchString)
	}
	selected("8") // newest first

	term.Write("jj")
	selected("6")
	term.Write("jjk")
	selected("5")

	term.Write("/fail") // "/" opens the filter, so "fail" is typed into it
	selected("3")
	term.Wait("/fail")
	term.Gone("vps8.example.net")
}
