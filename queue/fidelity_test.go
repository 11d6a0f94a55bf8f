package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// wire is one request the engine sent and the emulator's status.
type wire struct {
	method, path string
	body         map[string]any
	status       int
}

// wireLog sits between the engine and the emulator on loopback and keeps every request.
type wireLog struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []wire
}

func (l *wireLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(data))
	rec := httptest.NewRecorder()
	l.h.ServeHTTP(rec, r)
	var body map[string]any
	if len(data) > 0 {
		body = map[string]any{}
		_ = json.Unmarshal(data, &body)
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, wire{r.Method, r.URL.Path, body, rec.Code})
	l.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (l *wireLog) since(n int) []wire {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wire(nil), l.reqs[n:]...)
}

func (l *wireLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// logged points the fixture's module at a wireLog in front of its emulator.
func (f *fixture) logged() *wireLog {
	l := &wireLog{h: f.sim}
	srv := httptest.NewServer(l)
	f.t.Cleanup(srv.Close)
	f.module.URL = srv.URL
	f.must(f.db.Save(f.module))
	return l
}

func (f *fixture) run(e *Engine, svc uint64, op string, args map[string]string) *store.Job {
	f.t.Helper()
	j, err := e.Enqueue(svc, op, args)
	if err != nil {
		f.t.Fatalf("%s: %v", op, err)
	}
	runIdle(f.t, e, 30*time.Second)
	got, _ := store.Load[store.Job](f.db, j.ID)
	if got.State != store.JobDone {
		f.t.Fatalf("%s: job %s: %s", op, got.State, got.Error)
	}
	return got
}

func (f *fixture) host(id uint64) *vmm.Host {
	f.t.Helper()
	c, err := vmm.New(vmm.Config{URL: f.url, Email: "admin@example.com", Password: "demo-password"})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := c.Host(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func find(ws []wire, method, suffix string) []wire {
	var out []wire
	for _, w := range ws {
		if w.method == method && strings.HasSuffix(w.path, suffix) {
			out = append(out, w)
		}
	}
	return out
}

// A package downgrade on a running VM, as ISPsystem's module does it: resource and disk changes carry
// defer {action: host_stop}, a restart applies them, and the VM reads back the lower sizes.
func TestSetParamDowngradeActiveVM(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 21}, store.DefaultParams())
	f.tariff.CPU, f.tariff.RAMMiB = 4, 4096
	f.must(f.db.Save(f.tariff))
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, err := e.CreateServices(f.tariff.ID, 1, "dora@example.org")
	if err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	svc, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if svc.VM.DiskMiB != 10240 {
		t.Fatalf("open did not record the disk size: %+v", svc.VM)
	}
	mark := l.len()
	f.run(e, svc.ID, store.OpSetParam, map[string]string{ArgCPU: "2", ArgRAMMiB: "2048", ArgDiskMiB: "20480", ArgIPv4Count: "2"})
	sent := l.since(mark)
	onStop := map[string]any{"action": "host_stop"}
	res, disk := find(sent, "POST", "/resource"), find(sent, "POST", "/disk/101")
	if len(res) != 1 || !jsonEqual(res[0].body, map[string]any{"cpu_number": 2, "ram_mib": 2048, "defer": onStop}) {
		t.Fatalf("resource requests %+v, want one with defer", res)
	}
	if len(disk) != 1 || !jsonEqual(disk[0].body, map[string]any{"size_mib": 20480, "defer": onStop}) {
		t.Fatalf("disk requests %+v, want one with defer", disk)
	}
	if ip := find(sent, "POST", "/ip"); len(ip) != 1 || !jsonEqual(ip[0].body, map[string]any{"ipv4_number": 1, "ipv4_pool": []int{1}}) {
		t.Fatalf("ip requests %+v, want one adding 1 address from pool 1", ip)
	}
	if rs := find(sent, "POST", "/restart"); len(rs) != 1 {
		t.Fatalf("restarts %+v, want one", rs)
	}
	for _, w := range sent {
		if w.status >= 400 {
			t.Fatalf("the emulator refused %s %s: %d", w.method, w.path, w.status)
		}
	}
	h := f.host(svc.VM.HostID)
	if h.CPU != 2 || h.RAMMiB != 2048 || h.DiskMiB != 20480 || h.State != "active" || len(h.MainIPv4) != 2 {
		t.Fatalf("VM after downgrade: %+v", h)
	}
	svc, _ = store.Load[store.Service](f.db, svc.ID)
	if svc.VM.DiskMiB != 20480 || len(svc.VM.IPv4) != 2 {
		t.Fatalf("service after setparam: %+v", svc.VM)
	}

	// A stopped VM takes the change at once: no defer, no restart, and it stays stopped.
	f.run(e, svc.ID, store.OpSuspend, nil)
	mark = l.len()
	f.run(e, svc.ID, store.OpSetParam, map[string]string{ArgCPU: "1"})
	sent = l.since(mark)
	if res := find(sent, "POST", "/resource"); len(res) != 1 || res[0].body["defer"] != nil || len(find(sent, "POST", "/restart")) != 0 {
		t.Fatalf("setparam on a stopped VM sent %+v", sent)
	}
	if h := f.host(svc.VM.HostID); h.CPU != 1 || h.State != "stopped" {
		t.Fatalf("stopped VM after setparam: %+v", h)
	}
}

func TestDiskShrinkRefusedAtEnqueue(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 22}, store.DefaultParams())
	e := f.engine(fastOptions())
	svcs, _ := e.CreateServices(f.tariff.ID, 1, "kim@example.org")
	runIdle(t, e, 30*time.Second)
	before := len(allJobs(t, f.db))
	_, err := e.Enqueue(svcs[0].ID, store.OpSetParam, map[string]string{ArgDiskMiB: "5120"})
	var ve *store.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "only grows disks") || !strings.Contains(err.Error(), "10240") {
		t.Fatalf("disk shrink at enqueue: %v", err)
	}
	if n := len(allJobs(t, f.db)); n != before {
		t.Fatalf("a refused setparam left a job (%d jobs, had %d)", n, before)
	}
	// RAM below the current size is a downgrade, not a refusal.
	if _, err := e.Enqueue(svcs[0].ID, store.OpSetParam, map[string]string{ArgRAMMiB: "512"}); err != nil {
		t.Fatalf("RAM decrease refused: %v", err)
	}
}

// ipv4_count 0 means no IPv4 address, never one.
func TestOpenWithoutIPv4(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 23}, store.DefaultParams())
	f.tariff.IPv4Count = 0
	f.must(f.db.Save(f.tariff))
	l := f.logged()
	e := f.engine(fastOptions())
	svcs, _ := e.CreateServices(f.tariff.ID, 1, "nil@example.org")
	runIdle(t, e, 30*time.Second)
	cr := find(l.since(0), "POST", "/vm/v3/host")
	if len(cr) != 1 || cr[0].body["ipv4_number"] != float64(0) {
		t.Fatalf("create requests %+v, want ipv4_number 0", cr)
	}
	svc, _ := store.Load[store.Service](f.db, svcs[0].ID)
	if svc.Status != store.ServiceActive || len(svc.VM.IPv4) != 0 {
		t.Fatalf("service %+v, want active without IPv4", svc)
	}
	j := allJobs(t, f.db)[0]
	for _, l := range j.Log {
		if strings.Contains(l.Text, "warning") {
			t.Fatalf("an honoured count was warned about: %s", l.Text)
		}
	}
}

// A VMmanager that gives another number of addresses than asked (here one that ignores ipv4_number 0)
// is said so in the job's log, never hidden.
func TestOpenWarnsWhenAddressCountDiffers(t *testing.T) {
	f := newFixture(t, sim.Config{Seed: 24}, store.DefaultParams())
	f.tariff.IPv4Count = 0
	f.must(f.db.Save(f.tariff))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/vm/v3/host" {
			var body map[string]any
			data, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(data, &body)
			body["ipv4_number"] = 1
			data, _ = json.Marshal(body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
		}
		f.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.module.URL = srv.URL
	f.must(f.db.Save(f.module))
	e := f.engine(fastOptions())
	if _, err := e.CreateServices(f.tariff.ID, 1, "one@example.org"); err != nil {
		t.Fatal(err)
	}
	runIdle(t, e, 30*time.Second)
	j := allJobs(t, f.db)[0]
	warned := false
	for _, l := range j.Log {
		warned = warned || strings.Contains(l.Text, "asks for 0 IPv4 addresses but VMmanager gave VM svc-1 1")
	}
	if j.State != store.JobDone || !warned {
		t.Fatalf("job %s, log %+v; want done with a warning", j.State, j.Log)
	}
}
func jsonEqual(got map[string]any, want map[string]any) bool {
	a, _ := json.Marshal(got)
	var norm map[string]any
	b, _ := json.Marshal(want)
	_ = json.Unmarshal(b, &norm)
	c, _ := json.Marshal(norm)
	return bytes.Equal(a, c)
}
