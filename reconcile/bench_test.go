package reconcile

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// heapPeak samples the heap in use every 5 ms until stop is called, and returns the highest seen.
func heapPeak() (stop func() uint64) {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak = max(peak, ms.HeapInuse)
		mu.Unlock()
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// benchScan scans the 10,000-VM emulator of TestScan10000 with 20 ms added to every answer, and
// reports the requests a scan makes (the login aside), the findings and the peak heap of the whole
// process (the emulator, the database and the engine included).
func benchScan(b *testing.B, listLimit int) {
	f, want := stage10000(b)
	f.sim.SetListLimit(listLimit)
	f.sim.SetLatency(20 * time.Millisecond)
	s := f.scanner()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := heapPeak()
	var requests, findings, pieces int
	b.ResetTimer()
	for range b.N {
		rep, err := s.Scan(context.Background(), Query{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if m := rep.Modules[0]; m.Failed() || len(rep.Findings) != len(want) {
			b.Fatalf("scan: %d findings of %d, %v %v", len(rep.Findings), len(want), m.Error, m.Unreadable)
		}
		requests += rep.Modules[0].Compared.Requests
		pieces += rep.Modules[0].Compared.Pieces
		findings += len(rep.Findings)
	}
	b.StopTimer()
	peak := stop()
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(pieces)/float64(b.N), "pieces/op")
	b.ReportMetric(float64(findings)/float64(b.N), "findings/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(base.HeapInuse)/(1<<20), "heap-before-MiB")
}

// BenchmarkScan10000: 10,000 VMs, 9,800 services, 20 ms per answer; the cluster list in one piece.
func BenchmarkScan10000(b *testing.B) { benchScan(b, 0) }

// BenchmarkScan10000Paged: the same with every list answer cut at 1,000 items, as a VMmanager paging
// by default might: the scan reads the cluster again in windows of ids.
func BenchmarkScan10000Paged(b *testing.B) { benchScan(b, 1000) }
