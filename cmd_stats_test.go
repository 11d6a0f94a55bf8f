package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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
	srv := env.startServe()
	sock := []string{"--db", env.db, "--socket", env.socket()}
	mustCLI(t, append(sock, "service", "create", "--tariff", "small", "--count", "6")...)
	waitJobs(t, env.client(), 6)

	s := decodeJSON[stats.Snapshot](t, mustCLI(t, append(sock, "stats", "--json")...))
	if len(s.Modules) != 1 || s.Modules[0].Hour.Done != 6 || s.Modules[0].Name != "vmm" || s.Modules[0].Flagged {
		t.Fatalf("modules through the server: %+v", s.Modules)
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
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("a Prometheus text-format parser refuses the output: %v\n%s", err, metrics)
	}
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

	text := mustCLI(t, append(sock, "stats")...)
	for _, want := range []string{"module 1 vmm: ok", "6 done, 0 failed", "q-1-1", "LAST OUTCOMES", "DDD"} {
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
