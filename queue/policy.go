package queue

import (
	"math/rand/v2"
	"sort"
	"time"

	"vmmpm/store"
)

// chooseLane applies spec §4's lane rule for one operation under a key name with count lanes.
// ownLane is the lane (1-based) where the same service already has unfinished work under this key
// name, 0 when it has none; depth(n) is the number of unfinished operations in lane n.
func chooseLane(count, ownLane int, depth func(n int) int) int {
	if ownLane >= 1 && ownLane <= count {
		return ownLane
	}
	best, bestDepth := 1, depth(1)
	for n := 2; n <= count; n++ {
		if d := depth(n); d < bestDepth {
			best, bestDepth = n, d
		}
	}
	return best
}

// candidate is a module as module selection sees it.
type candidate struct {
	Module      store.Module
	RecentError bool // the engine or the last check saw it fail recently
	ActiveOpens int  // unfinished open operations bound to it
}

// selectModule is BILLmanager's rule (billmanager-domain §6) for an open: among the tariff's enabled
// modules on the tariff's data center, no recent errors first, below the activation limit first, the
// one already bound to the service first, lowest sort, lowest id. ok is false when none fits.
func selectModule(cands []candidate, datacenter, boundID uint64) (store.Module, bool) {
	var fit []candidate
	for _, c := range cands {
		if c.Module.Enabled && c.Module.DataCenterID == datacenter {
			fit = append(fit, c)
		}
	}
	if len(fit) == 0 {
		return store.Module{}, false
	}
	under := func(c candidate) bool {
		return c.Module.ActivationLimit == 0 || c.ActiveOpens < c.Module.ActivationLimit
	}
	sort.SliceStable(fit, func(i, j int) bool {
		a, b := fit[i], fit[j]
		switch {
		case a.RecentError != b.RecentError:
			return !a.RecentError
		case under(a) != under(b):
			return under(a)
		case (a.Module.ID == boundID) != (b.Module.ID == boundID):
			return a.Module.ID == boundID
		case a.Module.Sort != b.Module.Sort:
			return a.Module.Sort < b.Module.Sort
		}
		return a.Module.ID < b.Module.ID
	})
	return fit[0].Module, true
}

// maxBackoffUnits caps the delay at 600 base units (10 minutes with the default 1 s base).
const maxBackoffUnits = 600

// backoff is attempt⁴ base units ±10% jitter, capped at 10 minutes' worth of units (spec §6).
// r is a uniform sample in [0, 1).
func backoff(attempt int, base time.Duration, r float64) time.Duration {
	units := float64(maxBackoffUnits)
	if attempt < 5 { // 5⁴ = 625 > 600
		a := float64(max(attempt, 1))
		units = min(a*a*a*a, maxBackoffUnits)
	}
	jitter := 0.9 + 0.2*r
	return time.Duration(units * jitter * float64(base))
}

// defaultRand is the engine's jitter source when Options.Rand is nil.
func defaultRand() *rand.Rand { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }
