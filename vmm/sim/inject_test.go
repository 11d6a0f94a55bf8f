package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestSleepEveryAnswers503InBursts(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.mu.Lock()
	e.sim.cfg.SleepEvery, e.sim.cfg.SleepBurst, e.sim.served = 4, 3, 0 // count from here, after the login
	e.sim.mu.Unlock()
	var got []int
	for range 12 {
		st, obj := e.admin("GET", "/vm/v3/os", nil)
		if st == http.StatusServiceUnavailable {
			wantError(t, "asleep", st, obj, 503, codeSuspended)
		}
		got = append(got, st)
	}
	want := []int{200, 200, 200, 503, 503, 503, 200, 200, 200, 503, 503, 503}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if n := e.sim.Stats().Requests["GET /vm/v3/os"]; n != 12 {
		t.Fatalf("requests counted %d, want 12 (503s included)", n)
	}
}

func TestSleepCommandAndStatsStayAwake(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.Sleep(2)
	for i := range 2 {
		st, obj := e.call("POST", "/auth/v4/public/token", "", map[string]any{"email": "admin@example.com", "password": "demo-password"})
		wantError(t, fmt.Sprint("sleeping login ", i), st, obj, 503, codeSuspended)
	}
	resp, err := http.Get(e.url + "/sim/stats")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stats while asleep: %v %v", resp, err)
	}
	resp.Body.Close()
	e.login("admin@example.com", "demo-password")
}

func TestFailRateAnswers500WithoutSideEffects(t *testing.T) {
	e := newEnv(t, Config{FailRate: 1, Seed: 7})
	st, obj := e.admin("POST", "/vm/v3/host", vm("svc-1"))
	wantError(t, "fail rate 1", st, obj, http.StatusInternalServerError, codeInjected)
	e.ok("GET", "/vm/v3/cluster", nil) // reads are never failed
	e.login("admin@example.com", "demo-password")
	if n := len(e.sim.Stats().HostsCreated); n != 0 {
		t.Fatalf("a failed call created %d VMs", n)
	}

	e.sim.SetFailRate(0.3)
	fails := 0
	for i := range 200 {
		st, _ := e.admin("POST", "/vm/v3/host", vm(fmt.Sprint("r-", i), set("ipv4_number", 0)))
		if st == http.StatusInternalServerError {
			fails++
		} else if st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
	}
	if fails < 35 || fails > 85 {
		t.Fatalf("%d of 200 failed at rate 0.3 (seed 7)", fails)
	}
	if n := len(e.sim.Stats().HostsCreated); n != 200-fails {
		t.Fatalf("%d VMs created, want %d", n, 200-fails)
	}
}

func TestFailNextIsDeterministic(t *testing.T) {
	e := newEnv(t, Config{})
	e.sim.FailNext("POST /vm/v3/host", 2)
	e.sim.FailNext("POST /vm/v3/host/{id}/start", 1)
	for range 2 {
		st, obj := e.admin("POST", "/vm/v3/host", vm("svc-1"))
		wantError(t, "failed create", st, obj, 500, codeInjected)
	}
	e.ok("POST", "/vm/v3/host", vm("svc-1"))
	st, obj := e.admin("POST", "/vm/v3/host/1/start", nil)
	wantError(t, "failed start", st, obj, 500, codeInjected)
	e.ok("POST", "/vm/v3/host/1/start", nil)
	if got := e.sim.Stats().HostsCreated["svc-1"]; got != 1 {
		t.Fatalf("svc-1 created %d times, want 1", got)
	}
}

func TestLatencyIsAdded(t *testing.T) {
	e := newEnv(t, Config{Latency: 30 * time.Millisecond})
	start := time.Now()
	e.ok("GET", "/vm/v3/os", nil)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("answer came after %v, want at least the 30ms latency", d)
	}
}

// TestStatsJSONFields pins the /sim/stats field names other packages read.
func TestStatsJSONFields(t *testing.T) {
	e := newEnv(t, Config{})
	e.ok("POST", "/vm/v3/host", vm("dup"))
	e.ok("POST", "/vm/v3/host", vm("dup"))
	resp, err := http.Get(e.url + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"logins_ok", "logins_failed", "requests", "hosts_created", "tasks", "max_concurrent_tasks", "running_tasks"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("/sim/stats lacks %q: %s", k, raw)
		}
	}
	var st Stats
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.HostsCreated["dup"] != 2 || st.Requests["POST /vm/v3/host"] != 2 || st.LoginsOK != 1 {
		t.Fatalf("stats %+v", st)
	}
	resp2, _ := http.Post(e.url+"/sim/stats", "", nil)
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /sim/stats: %d", resp2.StatusCode)
	}
}

func TestManyConcurrentClients(t *testing.T) {
	e := newEnv(t, Config{TaskTime: 20 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			name := fmt.Sprintf("svc-%d", i)
			st, res := e.admin("POST", "/vm/v3/host", vm(name))
			if st != 200 {
				errs <- fmt.Errorf("%s: %d %v", name, st, res)
				return
			}
			for e.taskStatus(res["task"], "host_create") != "complete" {
				time.Sleep(5 * time.Millisecond)
			}
			if h := e.hostFull(res["id"]); h["name"] != name || h["state"] != "active" {
				errs <- fmt.Errorf("%s: %v", name, h)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.sim.Stats()
	if len(st.HostsCreated) != 50 || st.Tasks["complete"] != 50 || st.MaxConcurrentTasks < 1 || st.RunningTasks != 0 {
		t.Fatalf("stats %+v", st)
	}
	seen := map[string]bool{}
	for _, h := range e.list("/vm/v3/host") {
		for _, ip := range ips(h) {
			if seen[ip] {
				t.Fatalf("address %s given twice", ip)
			}
			seen[ip] = true
		}
	}
}
