package wizard

import (
	"strings"
	"testing"
)

// TestMergeAttemptTimeouts: pairs typed add to the limits kept, "op=" drops one, and a bad pair is one
// sentence that keeps nothing of the change.
func TestMergeAttemptTimeouts(t *testing.T) {
	for _, tc := range []struct{ kept, typed, want, err string }{
		{"", "open=30m", "open=30m", ""},
		{"open=30m", "reinstall=1h30m", "open=30m,reinstall=1h30m", ""},
		{"open=30m,reinstall=1h", "open=", "reinstall=1h", ""},
		{"open=30m", "open=45s", "open=45s", ""},
		{"open=30m", "start=5m", "", `attempt_timeout: names "start", which is not an operation`},
		{"open=30m", "open=soon", "", "attempt_timeout: of open must be a duration between 1s and 24h0m0s"},
	} {
		got, err := mergeAttemptTimeouts(tc.kept, tc.typed)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q over %q: %q, %v; want the error %q", tc.typed, tc.kept, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q over %q: %q, %v; want %q", tc.typed, tc.kept, got, err, tc.want)
		}
	}
}
