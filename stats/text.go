package stats

import (
	"strconv"
	"strings"
	"time"

	"vmmpm/queue"
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

// LoginsText is a module's logins figure in a few cells: "2 / 1h session", "37 / 1h, no session kept"
// (session_ttl 0: logins of the current hour-long period), or "-" when unknown.
func LoginsText(l *Logins) string {
	switch {
	case l == nil:
		return "-"
	case l.SessionTTL <= 0:
		return strconv.Itoa(l.Count) + " / " + Period(queue.NoSessionPeriod) + ", no session kept"
	}
	return strconv.Itoa(l.Count) + " / " + Period(l.SessionTTL) + " session"
}

// Period is a whole period without zero units: 1h, 30m, 1h30m, 45s, 2h0m5s.
func Period(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
