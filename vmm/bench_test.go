package vmm_test

import (
	"context"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// BenchmarkLoginsPer1000Ops compares a 1-hour session period with none (log in for every operation),
// against the emulator over loopback. One op is one list call. The figure is the emulator's own login
// count, so it also shows the client never logs in more often than it reports.
func BenchmarkLoginsPer1000Ops(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"ttl=1h", time.Hour}, {"ttl=0", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			s, srv := startSim(b, sim.Config{})
			c := newClient(b, srv.URL, func(cfg *vmm.Config) { cfg.SessionTTL = tc.ttl })
			ctx := context.Background()
			for b.Loop() {
				if _, err := c.OSList(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			ops := s.Stats().Requests["GET /vm/v3/os"]
			logins := s.Stats().LoginsOK
			if logins != c.Logins() {
				b.Fatalf("emulator saw %d logins, client counted %d", logins, c.Logins())
			}
			b.ReportMetric(float64(logins)*1000/float64(ops), "logins/1000ops")
		})
	}
}
