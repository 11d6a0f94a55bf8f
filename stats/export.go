package stats

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"vmmpm/queue"
)

// WriteOpenMetrics writes s in the OpenMetrics text format (gauges only: the figures are windows of the
// last hour, not counters since a start), ending with "# EOF", for Prometheus-style scraping.
func WriteOpenMetrics(w io.Writer, s *Snapshot) error {
	var b strings.Builder
	family := func(name, help string) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n# HELP %s %s\n", name, name, help)
	}
	sample := func(name string, v float64, labels ...string) {
		b.WriteString(name)
		if len(labels) > 0 {
			b.WriteByte('{')
			for i := 0; i+1 < len(labels); i += 2 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(labels[i] + `="` + escape(labels[i+1]) + `"`)
			}
			b.WriteByte('}')
		}
		b.WriteString(" " + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	}
	id := func(m *Module) []string { return []string{"module", strconv.FormatUint(m.ID, 10), "name", m.Name} }
	with := func(base []string, kv ...string) []string { return append(append([]string(nil), base...), kv...) }
	secs := func(d time.Duration) float64 { return d.Seconds() }

	family("vmmpm_module_healthy", "1 when the engine's last operation on the module reached VMmanager, else 0.")
	for i := range s.Modules {
		sample("vmmpm_module_healthy", bool01(s.Modules[i].Healthy), id(&s.Modules[i])...)
	}
	family("vmmpm_module_flagged", "1 when VMmanager keeps refusing the module (401, 503 bursts).")
	for i := range s.Modules {
		sample("vmmpm_module_flagged", bool01(s.Modules[i].Flagged), id(&s.Modules[i])...)
	}
	family("vmmpm_module_logins", "Times the engine logged in to the module's VMmanager in the current session period "+
		"(1 is healthy; with session_ttl 0, in the current hour). Absent when no engine runs in the exporting process.")
	for i := range s.Modules {
		if l := s.Modules[i].Logins; l != nil {
			sample("vmmpm_module_logins", float64(l.Count), id(&s.Modules[i])...)
		}
	}
	family("vmmpm_module_session_ttl_seconds", "The module's session storage period, the period vmmpm_module_logins counts in "+
		"(0: no session is kept and the logins are counted per hour). Absent when no engine runs in the exporting process.")
	for i := range s.Modules {
		if l := s.Modules[i].Logins; l != nil {
			sample("vmmpm_module_session_ttl_seconds", l.SessionTTL.Seconds(), id(&s.Modules[i])...)
		}
	}
	family("vmmpm_operations_last_hour", "Operations that ended in the last hour, by type and outcome.")
	for i := range s.Modules {
		m := &s.Modules[i]
		for _, t := range m.Types {
			for _, o := range []struct {
				name string
				n    int
			}{{"done", t.Done}, {"failed", t.Failed}, {"retried", t.Retried}} {
				sample("vmmpm_operations_last_hour", float64(o.n), with(id(m), "type", t.Type, "outcome", o.name)...)
			}
		}
	}
	family("vmmpm_error_rate_last_hour", "Share of attempts in the last hour that failed or will be retried.")
	for i := range s.Modules {
		sample("vmmpm_error_rate_last_hour", s.Modules[i].Hour.ErrorRate(), id(&s.Modules[i])...)
	}
	family("vmmpm_operation_duration_seconds", "Duration of operations done in the last hour, p50 and p95, by type.")
	for i := range s.Modules {
		m := &s.Modules[i]
		for _, t := range m.Types {
			if t.Done == 0 {
				continue
			}
			sample("vmmpm_operation_duration_seconds", secs(t.P50), with(id(m), "type", t.Type, "quantile", "0.5")...)
			sample("vmmpm_operation_duration_seconds", secs(t.P95), with(id(m), "type", t.Type, "quantile", "0.95")...)
		}
	}
	family("vmmpm_vmmanager_answer_seconds", "Time VMmanager took to accept a task in the last hour, p50 and p95.")
	for i := range s.Modules {
		m := &s.Modules[i]
		if m.AnswerP50 > 0 {
			sample("vmmpm_vmmanager_answer_seconds", secs(m.AnswerP50), with(id(m), "quantile", "0.5")...)
			sample("vmmpm_vmmanager_answer_seconds", secs(m.AnswerP95), with(id(m), "quantile", "0.95")...)
		}
	}
	family("vmmpm_pool_ipv4_free", "Free IPv4 addresses in each IP pool on the module's cluster, at the engine's last reading. "+
		"Absent when unknown (no engine runs in the exporting process, or VMmanager gives no count).")
	family("vmmpm_pool_ipv4_total", "IPv4 addresses in each IP pool on the module's cluster, at the engine's last reading.")
	for i := range s.Modules {
		m := &s.Modules[i]
		if m.Capacity == nil {
			continue
		}
		for _, p := range m.Capacity.Pools {
			if p.IPv4 == nil {
				continue
			}
			l := with(id(m), "pool", strconv.FormatUint(p.ID, 10), "pool_name", p.Name, "interface", strconv.Itoa(p.Interface))
			sample("vmmpm_pool_ipv4_free", float64(p.IPv4.Free()), l...)
			sample("vmmpm_pool_ipv4_total", float64(p.IPv4.Total), l...)
		}
	}
	family("vmmpm_cluster_free", "Free CPU (count), RAM and disk (MiB) on the module's cluster, at the engine's last reading.")
	family("vmmpm_cluster_total", "CPU (count), RAM and disk (MiB) of the module's cluster, at the engine's last reading.")
	for i := range s.Modules {
		m := &s.Modules[i]
		if m.Capacity == nil {
			continue
		}
		cl := m.Capacity.Cluster
		for _, r := range []struct {
			name string
			room *queue.Room
		}{{"cpu", cl.CPU}, {"ram_mib", cl.RAMMiB}, {"disk_mib", cl.DiskMiB}} {
			if r.room == nil {
				continue
			}
			l := with(id(m), "cluster", strconv.FormatUint(cl.ID, 10), "resource", r.name)
			sample("vmmpm_cluster_free", float64(r.room.Free()), l...)
			sample("vmmpm_cluster_total", float64(r.room.Total), l...)
		}
	}
	family("vmmpm_capacity_low", "1 when a pool or the cluster of the module has less free than its capacity_warn share.")
	for i := range s.Modules {
		if s.Modules[i].Capacity != nil {
			sample("vmmpm_capacity_low", bool01(len(s.Modules[i].Low) > 0), id(&s.Modules[i])...)
		}
	}
	family("vmmpm_lane_waiting", "Operations waiting in a lane behind the running one.")
	for _, l := range s.Lanes {
		sample("vmmpm_lane_waiting", float64(l.Waiting), "module", strconv.FormatUint(l.Module, 10), "lane", l.Key)
	}
	family("vmmpm_lane_running_seconds", "How long a lane's running operation has run (0: idle).")
	for _, l := range s.Lanes {
		v := 0.0
		if l.Running != nil && !l.Running.Since.IsZero() {
			v = max(s.At.Sub(l.Running.Since).Seconds(), 0)
		}
		sample("vmmpm_lane_running_seconds", v, "module", strconv.FormatUint(l.Module, 10), "lane", l.Key)
	}
	b.WriteString("# EOF\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// escape is a label value in the text format: backslash, double quote and newline escaped.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
