package uitest

import (
	"slices"
	"time"
)

// PairedRatio times big against base in alternating short rounds (testing.Benchmark cannot nest) and
// returns the ratio of their median times per call, so machine noise hits both sides alike.
func PairedRatio(base, big func()) float64 {
	const rounds = 15
	var a, c []float64
	for range rounds {
		a = append(a, perCall(base, 20*time.Millisecond))
		c = append(c, perCall(big, 20*time.Millisecond))
	}
	slices.Sort(a)
	slices.Sort(c)
	return c[rounds/2] / a[rounds/2]
}

// perCall is the mean time of one call of f over at least d.
func perCall(f func(), d time.Duration) float64 {
	start, n := time.Now(), 0
	for time.Since(start) < d {
		f()
		n++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}
