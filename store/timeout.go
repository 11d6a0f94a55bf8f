package store

import (
	"slices"
	"time"
)

// Limits of Module.AttemptTimeouts.
const (
	MinAttemptTimeout = 10 * time.Second
	MaxAttemptTimeout = 24 * time.Hour
)

// ParseAttemptTimeout reads an attempt's time limit for operation op: a duration between
// MinAttemptTimeout and MaxAttemptTimeout ("30m"), or "" for the engine's default.
func ParseAttemptTimeout(op, s string) (time.Duration, error) {
	if !slices.Contains(JobTypes, op) {
		return 0, invalid("attempt_timeout", "names %q, which is not an operation (one of %v)", op, JobTypes)
	}
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinAttemptTimeout || d > MaxAttemptTimeout {
		return 0, invalid("attempt_timeout", "of %s must be a duration between %s and %s, like 30m", op, MinAttemptTimeout, MaxAttemptTimeout)
	}
	return d, nil
}

// AttemptTimeout is the module's time limit for one attempt of op (0: the engine's default).
func (m *Module) AttemptTimeout(op string) time.Duration {
	d, err := ParseAttemptTimeout(op, m.AttemptTimeouts[op])
	if err != nil {
		return 0
	}
	return d
}

// validAttemptTimeouts checks every limit the module sets.
func (m *Module) validAttemptTimeouts() error {
	for op, s := range m.AttemptTimeouts {
		if _, err := ParseAttemptTimeout(op, s); err != nil {
			return err
		}
	}
	return nil
}
