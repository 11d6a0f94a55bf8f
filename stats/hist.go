package stats

import (
	"math"
	"time"
)

// Hist counts durations in geometric buckets (×1.25 from 10 ms up, about 5 days at the top), so
// per-minute histograms merge by addition and a p95 over an hour costs len(Hist) additions per
// minute whatever the job count. A quantile is the bucket's geometric middle: within ±12%.
type Hist [nBuckets]uint32

const (
	nBuckets   = 80
	histBase   = 10 * time.Millisecond
	histFactor = 1.25
)

func bucketOf(d time.Duration) int {
	if d <= histBase {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(histBase)) / math.Log(histFactor)))
	return min(i, nBuckets-1)
}

// upper is bucket i's upper bound.
func upper(i int) time.Duration {
	return time.Duration(float64(histBase) * math.Pow(histFactor, float64(i)))
}

// Add counts one duration.
func (h *Hist) Add(d time.Duration) { h[bucketOf(d)]++ }

// Merge adds o into h.
func (h *Hist) Merge(o *Hist) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count is how many durations h holds.
func (h *Hist) Count() int {
	n := 0
	for _, c := range h {
		n += int(c)
	}
	return n
}

// Quantile is the q-th quantile (0 < q ≤ 1), or 0 when h is empty.
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(n)))
	seen := 0
	for i, c := range h {
		seen += int(c)
		if seen >= max(rank, 1) {
			if i == 0 {
				return histBase
			}
			// the geometric middle of (upper(i-1), upper(i)]
			return time.Duration(math.Sqrt(float64(upper(i-1)) * float64(upper(i)))).Round(time.Millisecond)
		}
	}
	return upper(nBuckets - 1)
}
