package stats

import (
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vmmpm/store"
)

// TestOpenMetricsParses: the output parses with Prometheus's text-format parser, label values with
// quotes, backslashes and newlines come back as they were, and the figures are the snapshot's.
func TestOpenMetricsParses(t *testing.T) {
	c := New()
	run(c, 1, store.OpOpen, "k-1", store.JobDone, t0, 4*time.Second, 300*time.Millisecond, "")
	run(c, 2, store.OpOpen, "k-1", store.JobRetrying, t0.Add(time.Minute), time.Second, 0, "VMmanager answered HTTP 500")
	step(c, store.Job{ID: 3, ModuleID: 7, Type: store.OpReboot, QueueKey: "k-2", State: store.JobRunning, StartedAt: t0.Add(time.Minute)})
	s := c.Snapshot(t0.Add(2*time.Minute), []uint64{7})
	name := "KVM \"main\" \\ one\nline"
	s.Modules[0].Name = name
	s.Modules[0].Logins = &Logins{Count: 2, Since: t0, Until: t0.Add(time.Hour), SessionTTL: time.Hour}
	fams := parseOpenMetrics(t, s)
	m := fams["vmmpm_error_rate_last_hour"].GetMetric()
	if len(m) != 1 || m[0].GetGauge().GetValue() != 0.5 {
		t.Fatalf("error rate: %v", m)
	}
	for _, l := range m[0].GetLabel() {
		if l.GetName() == "name" && l.GetValue() != name {
			t.Errorf("name label %q, want %q", l.GetValue(), name)
		}
	}
	running := fams["vmmpm_lane_running_seconds"].GetMetric()
	if len(running) != 2 || running[1].GetGauge().GetValue() != 60 || running[0].GetGauge().GetValue() != 0 {
		t.Errorf("lane running seconds: %v", running)
	}
	if d := fams["vmmpm_operation_duration_seconds"].GetMetric(); len(d) != 2 || d[0].GetGauge().GetValue() < 3.5 || d[0].GetGauge().GetValue() > 4.5 {
		t.Errorf("durations: %v", d)
	}
	logins := fams["vmmpm_module_logins"]
	if m := logins.GetMetric(); logins.GetType() != dto.MetricType_GAUGE || !strings.Contains(logins.GetHelp(), "session period") ||
		len(m) != 1 || m[0].GetGauge().GetValue() != 2 || m[0].GetLabel()[0].GetValue() != "7" {
		t.Errorf("logins: %v", logins)
	}
	if m := fams["vmmpm_module_session_ttl_seconds"].GetMetric(); len(m) != 1 || m[0].GetGauge().GetValue() != 3600 {
		t.Errorf("session period: %v", m)
	}
	// Unknown (no engine asked): no sample rather than a 0 that would read as "no logins".
	s.Modules[0].Logins = nil
	fams = parseOpenMetrics(t, s)
	if m := fams["vmmpm_module_logins"].GetMetric(); len(m) != 0 {
		t.Errorf("unknown logins exported as %v", m)
	}
	if m := fams["vmmpm_module_session_ttl_seconds"].GetMetric(); len(m) != 0 {
		t.Errorf("session period without an engine exported as %v", m)
	}
}

func parseOpenMetrics(t *testing.T, s *Snapshot) map[string]*dto.MetricFamily {
	t.Helper()
	var b strings.Builder
	if err := WriteOpenMetrics(&b, s); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("the parser refuses the output: %v\n%s", err, b.String())
	}
	return fams
}
