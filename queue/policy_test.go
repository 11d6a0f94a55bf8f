package queue

import (
	"testing"
	"time"

	"vmmpm/store"
)

func TestChooseLane(t *testing.T) {
	cases := []struct {
		name   string
		count  int
		own    int
		depths []int // lane 1 first
		want   int
	}{
		{"empty lanes take the lowest", 3, 0, []int{0, 0, 0}, 1},
		{"least loaded", 3, 0, []int{2, 1, 3}, 2},
		{"tie goes to the lowest n", 3, 0, []int{2, 1, 1}, 2},
		{"service stays in its lane though it is the busiest", 3, 3, []int{0, 0, 5}, 3},
		{"own lane beyond a shrunk count is ignored", 2, 3, []int{1, 0}, 2},
		{"single lane", 1, 0, []int{7}, 1},
	}
	for _, c := range cases {
		got := chooseLane(c.count, c.own, func(n int) int { return c.depths[n-1] })
		if got != c.want {
			t.Errorf("%s: lane %d, want %d", c.name, got, c.want)
		}
	}
}

func TestSelectModule(t *testing.T) {
	mod := func(id uint64, sort int, dc uint64, enabled bool, limit int) store.Module {
		return store.Module{ID: id, Sort: sort, DataCenterID: dc, Enabled: enabled, ActivationLimit: limit}
	}
	cases := []struct {
		name  string
		cands []candidate
		bound uint64
		want  uint64 // 0: none fits
	}{
		{"lowest sort", []candidate{{Module: mod(1, 5, 1, true, 0)}, {Module: mod(2, 3, 1, true, 0)}}, 0, 2},
		{"equal sort, lowest id", []candidate{{Module: mod(4, 1, 1, true, 0)}, {Module: mod(3, 1, 1, true, 0)}}, 0, 3},
		{"other data center skipped", []candidate{{Module: mod(1, 0, 2, true, 0)}, {Module: mod(2, 9, 1, true, 0)}}, 0, 2},
		{"disabled skipped", []candidate{{Module: mod(1, 0, 1, false, 0)}, {Module: mod(2, 9, 1, true, 0)}}, 0, 2},
		{"recent error sorts last", []candidate{{Module: mod(1, 0, 1, true, 0), RecentError: true}, {Module: mod(2, 9, 1, true, 0)}}, 0, 2},
		{"at the activation limit sorts after one below it",
			[]candidate{{Module: mod(1, 0, 1, true, 2), ActiveOpens: 2}, {Module: mod(2, 9, 1, true, 2), ActiveOpens: 1}}, 0, 2},
		{"limit 0 means none", []candidate{{Module: mod(1, 0, 1, true, 0), ActiveOpens: 500}, {Module: mod(2, 9, 1, true, 1)}}, 0, 1},
		{"bound module before sort", []candidate{{Module: mod(1, 0, 1, true, 0)}, {Module: mod(2, 9, 1, true, 0)}}, 2, 2},
		{"errors outrank the binding", []candidate{{Module: mod(1, 0, 1, true, 0)}, {Module: mod(2, 9, 1, true, 0), RecentError: true}}, 2, 1},
		{"limit outranks the binding",
			[]candidate{{Module: mod(1, 5, 1, true, 0)}, {Module: mod(2, 0, 1, true, 1), ActiveOpens: 1}}, 2, 1},
		{"all at the limit still picks one", []candidate{{Module: mod(1, 0, 1, true, 1), ActiveOpens: 1}}, 0, 1},
		{"none fits", []candidate{{Module: mod(1, 0, 2, true, 0)}, {Module: mod(2, 0, 1, false, 0)}}, 0, 0},
		{"no modules", nil, 0, 0},
	}
	for _, c := range cases {
		m, ok := selectModule(c.cands, 1, c.bound)
		if got := map[bool]uint64{true: m.ID, false: 0}[ok]; got != c.want {
			t.Errorf("%s: module %d, want %d", c.name, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		attempt  int
		r        float64
		want     time.Duration
		tolerate time.Duration
	}{
		{1, 0.5, time.Second, 0},
		{2, 0.5, 16 * time.Second, 0},
		{3, 0.5, 81 * time.Second, 0},
		{4, 0.5, 256 * time.Second, 0},
		{5, 0.5, 600 * time.Second, 0}, // 625 s capped at 10 minutes
		{40, 0.5, 600 * time.Second, 0},
		{2, 0, 16 * 900 * time.Millisecond, 0},                        // -10%
		{2, 0.999999, 16 * 1100 * time.Millisecond, time.Millisecond}, // +10%
	}
	for _, c := range cases {
		got := backoff(c.attempt, time.Second, c.r)
		if d := got - c.want; d < -c.tolerate || d > c.tolerate {
			t.Errorf("backoff(%d, r=%v) = %s, want %s", c.attempt, c.r, got, c.want)
		}
	}
	if got := backoff(2, time.Millisecond, 0.5); got != 16*time.Millisecond {
		t.Errorf("with a 1 ms base attempt 2 waits %s, want 16ms", got)
	}
}
