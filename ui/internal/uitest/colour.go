package uitest

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
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

// TextColours lists the text colours the SGR sequences in s set, keyed by their parameters ("38;5;232"),
// and any background colour they set.
func TextColours(s string) (fg map[string][3]float64, bg []string) {
	fg = map[string][3]float64{}
	for _, m := range sgr.FindAllStringSubmatch(s, -1) {
		ps := strings.Split(m[1], ";")
		for i := 0; i < len(ps); i++ {
			n, _ := strconv.Atoi(ps[i])
			switch {
			case n >= 30 && n <= 37:
				fg[ps[i]] = xterm16[n-30]
			case n >= 90 && n <= 97:
				fg[ps[i]] = xterm16[n-90+8]
			case n == 38 && i+2 < len(ps) && ps[i+1] == "5":
				c, _ := strconv.Atoi(ps[i+2])
				fg["38;5;"+ps[i+2]] = rgb256(c)
				i += 2
			case n == 38 && i+4 < len(ps) && ps[i+1] == "2":
				var c [3]float64
				for j := range c {
					v, _ := strconv.Atoi(ps[i+2+j])
					c[j] = float64(v)
				}
				fg["38;2;"+strings.Join(ps[i+2:i+5], ";")] = c
				i += 4
			case n == 48 && i+1 < len(ps) && (ps[i+1] == "5" || ps[i+1] == "2"):
				bg = append(bg, m[0])
				i = len(ps)
			case (n >= 40 && n <= 47) || (n >= 100 && n <= 107):
				bg = append(bg, m[0])
			}
		}
	}
	return fg, bg
}

// Unreadable names each text colour in s that falls in the near-black band of a dark background or
// the near-white band of a light one (luminance under 0.04 or over 0.6, read with xterm's palette).
func Unreadable(s string, dark bool) []string {
	fg, _ := TextColours(s)
	var out []string
	for spec, c := range fg {
		switch l := luminance(c); {
		case dark && l < 0.04:
			out = append(out, fmt.Sprintf("%s (luminance %.3f) is near black on a dark background", spec, l))
		case !dark && l > 0.6:
			out = append(out, fmt.Sprintf("%s (luminance %.3f) is near white on a light background", spec, l))
		}
	}
	return out
}
