package stats

import (
	"strconv"
	"time"
)

// sparks are the eight heights of a sparkline cell.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values as one block character each, scaled to the largest; zero is a space, so an
// idle minute shows as a gap. Plain Unicode: `vmmpm stats` prints it and the lanes view colours it.
func Sparkline(values []int) string {
	top := 0
	for _, v := range values {
		top = max(top, v)
	}
	out := make([]rune, len(values))
	for i, v := range values {
		switch {
		case v <= 0:
			out[i] = ' '
		default:
			out[i] = sparks[min((v*len(sparks)-1)/top, len(sparks)-1)]
		}
	}
	return string(out)
}

// Short is a compact duration: 850ms, 3.2s, 4m10s, 2h5m ("-" for zero).
func Short(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m" + strconv.Itoa(int(d%time.Minute/time.Second)) + "s"
	}
	return strconv.Itoa(int(d/time.Hour)) + "h" + strconv.Itoa(int(d%time.Hour/time.Minute)) + "m"
}
