package queue

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// 10,000 opens against one emulator, through the real engine, bbolt file and loopback HTTP: all done,
// every service active with its own address. Slow (a minute on two cores), so only with VMMPM_SLOW=1;
// VMMPM_SLOW_N changes the count.
func TestTenThousandOpens(t *testing.T) {
	if os.Getenv("VMMPM_SLOW") != "1" {
		t.Skip("set VMMPM_SLOW=1 to open 10,000 VMs against one emulator")
	}
	n := 10000
	if s := os.Getenv("VMMPM_SLOW_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := newFixture(t, sim.Config{Seed: 41, TaskTime: 50 * time.Millisecond}, store.DefaultParams())
	opt := fastOptions()
	opt.PollEvery = 50 * time.Millisecond
	e := f.engine(opt)
	start := time.Now()
	for done, client := 0, 1; done < n; client++ { // 100 services per client, as a busy reseller might order
		batch := min(100, n-done)
		if _, err := e.CreateServices(f.tariff.ID, batch, fmt.Sprintf("client%d@example.org", client)); err != nil {
			t.Fatal(err)
		}
		done += batch
	}
	enqueued := time.Since(start)
	runIdle(t, e, 30*time.Minute)
	took := time.Since(start)
	jobs := allJobs(t, f.db)
	states := map[string]int{}
	for _, j := range jobs {
		states[j.State]++
	}
	if states[store.JobDone] != n || len(jobs) != n {
		t.Fatalf("job states %v, want %d done", states, n)
	}
	svcs, err := store.All[store.Service](f.db)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range svcs {
		if s.Status != store.ServiceActive || len(s.VM.IPv4) != 1 || seen[s.VM.IPv4[0]] {
			t.Fatalf("service %d: %s %v", s.ID, s.Status, s.VM.IPv4)
		}
		seen[s.VM.IPv4[0]] = true
	}
	st := f.sim.Stats()
	t.Logf("%d opens for %d clients: enqueued in %s, all done in %s (%.0f opens/s); emulator: %d VMs created, %d logins",
		n, (n+99)/100, enqueued.Round(time.Millisecond), took.Round(time.Millisecond), float64(n)/took.Seconds(), len(st.HostsCreated), st.LoginsOK)
}
