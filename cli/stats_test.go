package cli

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vmmpm/internal/termtest"
	"vmmpm/stats"
)

// TestStatsThroughTheServer runs operations on a real `vmmpm serve` with the emulator on loopback,
// reads the figures through the socket in every format, and again from the database once the server
// has stopped.
func TestStatsThroughTheServer(t *testing.T) {
	env := newEngineEnv(t, 50*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	loginsBefore := env.sim.Stats().LoginsOK // the checks of module add logged in with clients of their own
	srv := env.startServe()
	sock := []string{"--db", env.db, "--socket", env.socket()}
	mustCLI(t, append(sock, "service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "6")...)
	waitJobs(t, env.client(), 6)

	s := decodeJSON[stats.Snapshot](t, mustCLI(t, append(sock, "stats", "--json")...))
	if len(s.Modules) != 1 || s.Modules[0].Hour.Done != 6 || s.Modules[0].Name != "vmm" || s.Modules[0].Flagged {
		t.Fatalf("modules through the server: %+v", s.Modules)
	}
	// The server's engine logged in once for the six operations, as the emulator saw, and the figure
	// crosses the socket (the server Client) with its period.
	logins := env.sim.Stats().LoginsOK - loginsBefore
	if l := s.Modules[0].Logins; logins != 1 || l == nil || l.Count != logins || l.SessionTTL != time.Hour ||
		l.Since.IsZero() || l.Until.Sub(l.Since) < time.Hour {
		t.Errorf("logins through the server: %+v, the emulator saw %d", l, logins)
	}
	if st, err := env.client().Status(t.Context()); err != nil || len(st.Modules) != 1 || st.Modules[0].Logins == nil ||
		st.Modules[0].Logins.Count != logins {
		t.Errorf("status through the server: %+v, %v", st, err)
	}
	if out := mustCLI(t, append(sock, "status")...); !strings.Contains(out, "LOGINS THIS SESSION") || !strings.Contains(out, "1 / 1h session") {
		t.Errorf("status lacks the logins:\n%s", out)
	}
	if m := s.Modules[0]; len(m.Types) != 1 || m.Types[0].P50 <= 0 || m.AnswerP50 <= 0 {
		t.Errorf("durations and answer time missing: %+v", m)
	}
	if len(s.Lanes) != 2 || s.Lanes[0].Key != "q-1-1" || s.Lanes[1].Key != "q-1-2" ||
		len(s.Lanes[0].Recent)+len(s.Lanes[1].Recent) != 6 {
		t.Errorf("lanes through the server: %+v", s.Lanes)
	}

	// Lanes follow the module's parameters at once: a third queue shows, idle.
	mustCLI(t, append(sock, "module", "set", "1", "queue_count=3")...)
	s = decodeJSON[stats.Snapshot](t, mustCLI(t, append(sock, "stats", "--json")...))
	if len(s.Lanes) != 3 || s.Lanes[2].Key != "q-1-3" || s.Lanes[2].Recent != "" {
		t.Errorf("lanes after queue_count=3: %+v", s.Lanes)
	}

	metrics := mustCLI(t, append(sock, "stats", "--format", "openmetrics")...)
	if !strings.HasSuffix(metrics, "# EOF\n") {
		t.Errorf("openmetrics output does not end with # EOF:\n%s", metrics)
	}
	fams := parseMetrics(t, metrics)
	done := 0.0
	for _, m := range fams["vmmpm_operations_last_hour"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "outcome" && l.GetValue() == "done" {
				done += m.GetGauge().GetValue()
			}
		}
	}
	if done != 6 || len(fams["vmmpm_lane_waiting"].GetMetric()) != 3 || fams["vmmpm_module_healthy"] == nil {
		t.Errorf("parsed metrics: done %v, families %d:\n%s", done, len(fams), metrics)
	}
	if m := fams["vmmpm_module_logins"].GetMetric(); len(m) != 1 || m[0].GetGauge().GetValue() != float64(logins) {
		t.Errorf("logins gauge: %v", m)
	}

	// Free room: the pool and the cluster as the engine last read them (the six VMs counted), as
	// figures, text and gauges, and a warning once the module's threshold is above what is free.
	c := s.Modules[0].Capacity
	if c == nil || len(c.Pools) == 0 || c.Pools[0].ID != 1 || c.Pools[0].IPv4 == nil || c.Pools[0].IPv4.Used < 6 ||
		c.Cluster.ID != 1 || c.Cluster.CPU == nil || c.Cluster.CPU.Used < 6 || s.Modules[0].CapacityWarn != 10 || len(s.Modules[0].Low) != 0 {
		t.Errorf("capacity through the server: %+v (warn %d, low %v)", c, s.Modules[0].CapacityWarn, s.Modules[0].Low)
	}
	if m := fams["vmmpm_pool_ipv4_free"].GetMetric(); len(m) == 0 || m[0].GetGauge().GetValue() <= 0 ||
		len(fams["vmmpm_cluster_free"].GetMetric()) != 3 || fams["vmmpm_capacity_low"] == nil {
		t.Errorf("capacity gauges missing:\n%s", metrics)
	}
	mustCLI(t, append(sock, "module", "set", "1", "capacity_warn=100")...)
	if low := decodeJSON[stats.Snapshot](t, mustCLI(t, append(sock, "stats", "--json")...)).Modules[0].Low; len(low) == 0 ||
		!strings.HasPrefix(low[0], "pool 1 (public-v4): ") {
		t.Errorf("capacity_warn=100 warns of %v", low)
	}
	if out := mustCLI(t, append(sock, "stats")...); !strings.Contains(out, "WARNING: low (under 100% free): pool 1 (public-v4)") ||
		!strings.Contains(out, "free in VMmanager (read ") {
		t.Errorf("stats text lacks the free room and its warning:\n%s", out)
	}
	mustCLI(t, append(sock, "module", "set", "1", "capacity_warn=10")...)

	text := mustCLI(t, append(sock, "stats")...)
	for _, want := range []string{"module 1 vmm: ok", "6 done, 0 failed", "q-1-1", "LAST OUTCOMES", "DDD",
		"VMmanager logins in the current session period: 1 / 1h session (since "} {
		if !strings.Contains(text, want) {
			t.Errorf("stats text lacks %q:\n%s", want, text)
		}
	}
	if _, errOut, code := runCLI(t, "", append(sock, "stats", "--format", "xml")...); code != exitUsage ||
		!strings.Contains(errOut, "use text, json or openmetrics") {
		t.Errorf("unknown format: exit %d, %s", code, errOut)
	}

	// The server writes its figures as it stops: read directly from the database, they are the same.
	srv.stop()
	direct := decodeJSON[stats.Snapshot](t, env.cli("stats", "--json"))
	if len(direct.Modules) != 1 || direct.Modules[0].Day.Done != 6 || direct.Modules[0].PerMinute[stats.Spark-1]+
		direct.Modules[0].PerMinute[stats.Spark-2] != 6 {
		t.Errorf("figures after the server stopped: %+v", direct.Modules)
	}
	if r := direct.Lanes; len(r) != 3 || len(r[0].Recent)+len(r[1].Recent) != 6 {
		t.Errorf("lane timelines after the server stopped: %+v", r)
	}
	// With no engine to ask, the logins are unknown, not 0.
	if l := direct.Modules[0].Logins; l != nil {
		t.Errorf("logins read from the database: %+v, want unknown", l)
	}
	if text := env.cli("stats"); !strings.Contains(text, "session period: - (unknown") {
		t.Errorf("stats text without an engine:\n%s", text)
	}
	if m := parseMetrics(t, env.cli("stats", "--format", "openmetrics"))["vmmpm_module_logins"].GetMetric(); len(m) != 0 {
		t.Errorf("logins gauge without an engine: %v", m)
	}
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("a Prometheus text-format parser refuses the output: %v\n%s", err, text)
	}
	return fams
}

// TestStatusWatch repaints until interrupted, then exits 0.
func TestStatusWatch(t *testing.T) {
	db := tempDB(t)
	mustCLI(t, "--db", db, "datacenter", "add", "DC One")
	cmd := vmmpmCmd("--db", db, "--socket", db+".sock", "status", "--watch")
	out := &termtest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := 0
	termtest.Expect(t, out, &seen, "Ctrl+C stops")
	termtest.Expect(t, out, &seen, "Ctrl+C stops") // the second repaint, 2 s later
	_ = cmd.Process.Signal(os.Interrupt)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("status --watch ended with %v after Ctrl+C:\n%s", err, out)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		t.Fatal("status --watch did not stop on Ctrl+C")
	}
	if n := strings.Count(out.String(), "jobs:"); n < 2 {
		t.Errorf("status --watch painted %d times:\n%s", n, out)
	}
}
