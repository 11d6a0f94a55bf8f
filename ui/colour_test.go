package ui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"vmmpm/ui"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/theme"
)

// TestColoursReadOnEveryTerminal renders the jobs pane under every colour profile, on a dark and on a
// light background, and checks that no text colour falls in the near-black band of a dark background or
// the near-white band of a light one (lipgloss's nearest-match conversion once drew `failed` as colour
// 232 in 256-colour terminals).
func TestColoursReadOnEveryTerminal(t *testing.T) {
	t.Cleanup(func() { uitest.Plain(); lipgloss.SetHasDarkBackground(true) })
	f := world(t)
	for _, profile := range []termenv.Profile{termenv.Ascii, termenv.ANSI, termenv.ANSI256, termenv.TrueColor} {
		for _, dark := range []bool{true, false} {
			name := fmt.Sprintf("profile %d dark %v", profile, dark)
			lipgloss.SetColorProfile(profile)
			lipgloss.SetHasDarkBackground(dark)
			app := ui.New(ui.Options{Data: f.Data, Theme: theme.New(false), Now: func() time.Time { return uitest.Now }, NoTick: true})
			d := uitest.Drive(t, app)
			d.Send(tea.WindowSizeMsg{Width: uitest.Width, Height: uitest.Height})
			d.Keys("3")
			view := d.Model.View()
			if !strings.Contains(uitest.Strip(view), "failed") {
				t.Fatalf("%s: the jobs pane shows no failed job to check:\n%s", name, uitest.Strip(view))
			}
			fgs, bgs := uitest.TextColours(view)
			if len(bgs) > 0 {
				t.Errorf("%s: the jobs pane sets background colours %q: the band check assumes the terminal's own", name, bgs)
			}
			if profile == termenv.Ascii {
				if len(fgs) > 0 {
					t.Errorf("%s: colours %v without a colour profile", name, fgs)
				}
				continue
			}
			if len(fgs) < 4 {
				t.Errorf("%s: only %d text colours on the jobs pane, want the palette's states", name, len(fgs))
			}
			for _, bad := range uitest.Unreadable(view, dark) {
				t.Errorf("%s: text colour %s", name, bad)
			}
		}
	}
}
