package store

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Limits of an attempt's time limit (Module.AttemptTimeout).
const (
	MinAttemptTimeout = time.Second
	MaxAttemptTimeout = 24 * time.Hour
)

// ParseAttemptTimeouts reads Module.AttemptTimeout: comma-separated op=duration pairs, each operation
// once, each duration between MinAttemptTimeout and MaxAttemptTimeout; "" is none.
func ParseAttemptTimeouts(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for pair := range strings.SplitSeq(s, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		op, v, _ := strings.Cut(pair, "=")
		op = strings.TrimSpace(op)
		if !slices.Contains(JobTypes, op) {
			return nil, invalid("attempt_timeout", "names %q, which is not an operation (one of %s); write op=duration, like open=30m", op, strings.Join(JobTypes, ", "))
		}
		if _, dup := out[op]; dup {
			return nil, invalid("attempt_timeout", "sets %s twice; give each operation once", op)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < MinAttemptTimeout || d > MaxAttemptTimeout {
			return nil, invalid("attempt_timeout", "of %s must be a duration between %s and %s, like open=30m", op, MinAttemptTimeout, MaxAttemptTimeout)
		}
		out[op] = d
	}
	return out, nil
}

// FormatAttemptTimeouts writes limits as Module.AttemptTimeout keeps them, sorted by operation.
func FormatAttemptTimeouts(m map[string]time.Duration) string {
	parts := make([]string, 0, len(m))
	for _, op := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, op+"="+shortDuration(m[op]))
	}
	return strings.Join(parts, ",")
}

// AttemptTimeoutOf is the module's time limit for one attempt of op (0: the engine's default).
func (m *Module) AttemptTimeoutOf(op string) time.Duration {
	t, err := ParseAttemptTimeouts(m.AttemptTimeout)
	if err != nil {
		return 0
	}
	return t[op]
}

// shortDuration is d as a person types it: 30m, 1h, 1h30m, 45s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
