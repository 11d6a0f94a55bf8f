package riverpg

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// jobsEnv overrides how many jobs each side runs per iteration (default 20,000).
const jobsEnv = "RIVERPG_JOBS"

// rounds alternate which side goes first, so load from elsewhere on the machine hits both alike.
const rounds = 4

func TestMain(m *testing.M) {
	// A configuration line benchstat keeps with the results: which store the vmmpm side ran on.
	fmt.Printf("store: %s\n", storeKind())
	os.Exit(m.Run())
}

// BenchmarkEngineVsRiver runs the same no-op jobs through the vmmpm engine (W lanes) and River
// (MaxWorkers W) on the same PostgreSQL, in the same iteration, rounds alternating, and reports
// each side's jobs/s and ratio = vmmpm ÷ River (issue 25 asks ≥ 2 at W=4 and W=64).
func BenchmarkEngineVsRiver(b *testing.B) {
	perRound := benchJobs(b) / rounds
	for _, w := range []int{4, 64} {
		b.Run(fmt.Sprintf("W=%d", w), func(b *testing.B) {
			v := newVmmpmSide(b, w)
			r := newRiverSide(b, w)
			var vt, rt time.Duration
			for b.Loop() {
				for i := range rounds {
					if i%2 == 1 {
						rt += r.round(b, perRound)
					}
					vt += v.round(b, perRound)
					if i%2 == 0 {
						rt += r.round(b, perRound)
					}
				}
			}
			n := float64(b.N * perRound * rounds)
			b.ReportMetric(n/vt.Seconds(), "vmmpm-jobs/s")
			b.ReportMetric(n/rt.Seconds(), "river-jobs/s")
			b.ReportMetric(rt.Seconds()/vt.Seconds(), "ratio")
			b.Logf("vmmpm on %s, River on PostgreSQL: %d jobs each", storeKind(), int(n))
		})
	}
}

func benchJobs(b *testing.B) int {
	s := os.Getenv(jobsEnv)
	if s == "" {
		return 20_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < rounds {
		b.Fatalf("%s=%q is not a whole number of jobs of at least %d; set it to one such as 20000, or unset it", jobsEnv, s, rounds)
	}
	return n
}
