package pgkv

import "time"

// SetNotifyGap sets notifyGap for a test, returning what puts it back.
func SetNotifyGap(d time.Duration) (restore func()) {
	old := notifyGap
	notifyGap = d
	return func() { notifyGap = old }
}
