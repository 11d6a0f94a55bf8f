package wizardform

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/ui/internal/uitest"
)

// TestWizardColoursReadOnEveryTerminal draws the wizard's pages (select, text fields, the save
// question) under each colour profile on dark and light backgrounds: no text colour may fall in the
// near-black or near-white band, and no colour may be a background (the buttons are bracketed instead).
func TestWizardColoursReadOnEveryTerminal(t *testing.T) {
	t.Cleanup(func() { lipgloss.SetColorProfile(termenv.Ascii); lipgloss.SetHasDarkBackground(true) })
	db, err := store.Open(filepath.Join(t.TempDir(), "vmmpm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	seedDefault(t, db)
	for _, profile := range []termenv.Profile{termenv.ANSI, termenv.ANSI256, termenv.TrueColor} {
		for _, dark := range []bool{true, false} {
			lipgloss.SetColorProfile(profile)
			lipgloss.SetHasDarkBackground(dark)
			m := New(backend.NewLocal(db, store.NewMemorySecrets(), nil, "test"), Options{Width: 100, Height: 30})
			for _, p := range []page{pageProduct, pageIntegration, pageReview} {
				name := fmt.Sprintf("profile %d dark %v page %d", profile, dark, p)
				m.goTo(p)
				view := m.View()
				fg, bg := uitest.TextColours(view)
				if len(fg) < 2 {
					t.Errorf("%s: only %d text colours, want the palette's", name, len(fg))
				}
				if len(bg) > 0 {
					t.Errorf("%s: background colours %q", name, bg)
				}
				for _, bad := range uitest.Unreadable(view, dark) {
					t.Errorf("%s: text colour %s", name, bad)
				}
			}
		}
	}
}
