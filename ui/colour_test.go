package ui_test

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
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

// sgr matches one Select Graphic Rendition sequence and captures its parameters.
var sgr = regexp.MustCompile(`\x1b\[([0-9;]*)m`)

// xterm16 is xterm's default palette, the usual reading of the 16 ANSI colours.
var xterm16 = [16][3]float64{
	{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
	{127, 127, 127}, {255, 0, 0}, {0, 255, 0}, {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
}

// rgb256 is colour n of the 256-colour palette.
func rgb256(n int) [3]float64 {
	switch {
	case n < 16:
		return xterm16[n]
	case n < 232:
		level := func(i int) float64 {
			if i == 0 {
				return 0
			}
			return float64(55 + 40*i)
		}
		n -= 16
		return [3]float64{level(n / 36), level(n / 6 % 6), level(n % 6)}
	default:
		g := float64(8 + 10*(n-232))
		return [3]float64{g, g, g}
	}
}

// luminance is the WCAG relative luminance: 0 is black, 1 is white.
func luminance(c [3]float64) float64 {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c[0]) + 0.7152*lin(c[1]) + 0.0722*lin(c[2])
}

// foregrounds lists the text colours SGR sequences in s set, as "spec → rgb".
func foregrounds(t *testing.T, s string) map[string][3]float64 {
	t.Helper()
	out := map[string][3]float64{}
	for _, m := range sgr.FindAllStringSubmatch(s, -1) {
		ps := strings.Split(m[1], ";")
		for i := 0; i < len(ps); i++ {
			n, _ := strconv.Atoi(ps[i])
			switch {
			case n >= 30 && n <= 37:
				out[ps[i]] = xterm16[n-30]
			case n >= 90 && n <= 97:
				out[ps[i]] = xterm16[n-90+8]
			case n == 38 && i+2 < len(ps) && ps[i+1] == "5":
				c, _ := strconv.Atoi(ps[i+2])
				out["38;5;"+ps[i+2]] = rgb256(c)
				i += 2
			case n == 38 && i+4 < len(ps) && ps[i+1] == "2":
				var c [3]float64
				for j := range c {
					v, _ := strconv.Atoi(ps[i+2+j])
					c[j] = float64(v)
				}
				out["38;2;"+strings.Join(ps[i+2:i+5], ";")] = c
				i += 4
			case n == 48 || (n >= 40 && n <= 47) || (n >= 100 && n <= 107):
				t.Errorf("the jobs pane sets a background colour (%q): the band check assumes the terminal's own", m[0])
			}
		}
	}
	return out
}

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
			fgs := foregrounds(t, view)
			if profile == termenv.Ascii {
				if len(fgs) > 0 {
					t.Errorf("%s: colours %v without a colour profile", name, fgs)
				}
				continue
			}
			if len(fgs) < 4 {
				t.Errorf("%s: only %d text colours on the jobs pane, want the palette's states", name, len(fgs))
			}
			for spec, c := range fgs {
				switch l := luminance(c); {
				case dark && l < 0.04:
					t.Errorf("%s: text colour %s (luminance %.3f) is near black on a dark background", name, spec, l)
				case !dark && l > 0.6:
					t.Errorf("%s: text colour %s (luminance %.3f) is near white on a light background", name, spec, l)
				}
			}
		}
	}
}
