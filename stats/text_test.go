package stats

import (
	"testing"
	"time"
)

func TestLoginsText(t *testing.T) {
	for _, c := range []struct {
		l    *Logins
		want string
	}{
		{nil, "-"},
		{&Logins{Count: 2, SessionTTL: time.Hour}, "2 / 1h session"},
		{&Logins{Count: 0, SessionTTL: 90 * time.Minute}, "0 / 1h30m session"},
		{&Logins{Count: 1, SessionTTL: 45 * time.Second}, "1 / 45s session"},
		{&Logins{Count: 1, SessionTTL: 24 * time.Hour}, "1 / 24h session"},
		{&Logins{Count: 37}, "37 / 1h, no session kept"},
	} {
		if got := LoginsText(c.l); got != c.want {
			t.Errorf("LoginsText(%+v) = %q, want %q", c.l, got, c.want)
		}
	}
}
