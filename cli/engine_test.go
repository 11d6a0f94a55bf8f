package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/store"
	"vmmpm/vmm/sim"
)

// engineEnv is a database with a data center, a department and one module whose password is in a
// test-only keyring service, next to an emulator on loopback.
type engineEnv struct {
	t    *testing.T
	db   string
	sim  *sim.Sim
	url  string
	spec string
}

func newEngineEnv(t *testing.T, taskTime time.Duration) *engineEnv {
	t.Helper()
	return newEngineEnvAt(t, taskTime, tempDB(t))
}

// newEngineEnvAt is newEngineEnv with the database at db.
func newEngineEnvAt(t *testing.T, taskTime time.Duration, path string) *engineEnv {
	t.Helper()
	t.Setenv("VMMPM_KEYRING_SERVICE", fmt.Sprintf("vmmpm-test-engine-%d-%d", os.Getpid(), time.Now().UnixNano()))
	s := sim.New(sim.Config{TaskTime: taskTime, Seed: 1})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	env := &engineEnv{t: t, db: path, sim: s, url: srv.URL}
	mustCLI(t, "--db", env.db, "datacenter", "add", "DC One")
	mustCLI(t, "--db", env.db, "department", "add", "Support")
	// The wizard (module add) is tested elsewhere; here the module is written directly.
	db, err := store.Open(env.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := store.DefaultParams()
	p.Queue, p.QueueKey, p.QueueCount = true, "q-__PMID__", 2
	m := &store.Module{Name: "vmm", ProductType: store.ProductVPS, Kind: store.KindVMmanager6, URL: srv.URL,
		Username: "admin@example.com", DataCenterID: 1, DepartmentID: 1, Enabled: true, Params: p,
		Cluster: store.Cluster{ID: 1, Name: "kvm-main", Virtualization: store.VirtKVM}}
	if err := db.Save(m); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ks := store.NewKeyring()
	if err := ks.Set(m.ID, "demo-password"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ks.Delete(m.ID) })
	env.spec = filepath.Join(t.TempDir(), "tariff.json")
	spec := `{"name": "small", "datacenter": "DC One", "modules": [1], "cpu": 1, "ram_mib": 1024,
		"disk_mib": 10240, "os_id": 1, "ipv4_count": 1, "domain_template": "@USERNAME@-@ID@.example.net"}`
	if err := os.WriteFile(env.spec, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	return env
}

func (env *engineEnv) cli(args ...string) string {
	env.t.Helper()
	return mustCLI(env.t, append([]string{"--db", env.db}, args...)...)
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func TestEngineCommandFlow(t *testing.T) {
	env := newEngineEnv(t, 30*time.Millisecond)
	if out := env.cli("tariff", "add", "--spec", env.spec); out != "added tariff \"small\" with id 1\n" {
		t.Fatalf("tariff add: %q", out)
	}
	checkLogins := env.sim.Stats().LoginsOK // tariff add checked the OS against VMmanager
	tariffs := decodeJSON[[]store.Tariff](t, env.cli("tariff", "list", "--json"))
	if len(tariffs) != 1 || tariffs[0].DataCenterID != 1 || tariffs[0].ModuleIDs[0] != 1 {
		t.Fatalf("tariff list: %+v", tariffs)
	}
	out := env.cli("service", "create", "--tariff", "small", "--count", "20", "--client", "ann@example.org")
	if strings.Count(out, "ordered service") != 20 {
		t.Fatalf("service create: %s", out)
	}
	queued := decodeJSON[[]store.Job](t, env.cli("jobs", "--state", "queued", "--json"))
	if len(queued) != 20 || queued[0].QueueKey != "q-1-1" || queued[1].QueueKey != "q-1-2" {
		t.Fatalf("queued jobs: %d, first keys %q %q", len(queued), queued[0].QueueKey, queued[1].QueueKey)
	}

	log := env.cli("engine", "--until-idle")
	if n := strings.Count(log, `msg="job done"`); n != 20 {
		t.Errorf("engine logged %d done transitions, want 20:\n%s", n, log)
	}
	if n := strings.Count(log, `msg="job running"`); n != 20 {
		t.Errorf("engine logged %d running transitions, want 20", n)
	}
	done := decodeJSON[[]store.Job](t, env.cli("jobs", "--state", "done", "--module", "1", "--json"))
	if len(done) != 20 {
		t.Fatalf("%d done jobs, want 20", len(done))
	}
	st := env.sim.Stats()
	if len(st.HostsCreated) != 20 || st.MaxConcurrentTasks != 2 || st.LoginsOK-checkLogins != 1 {
		t.Errorf("emulator: %d VMs, max %d concurrent tasks, %d logins by the engine; want 20, 2, 1",
			len(st.HostsCreated), st.MaxConcurrentTasks, st.LoginsOK-checkLogins)
	}
	for name, n := range st.HostsCreated {
		if n != 1 {
			t.Errorf("VM %s created %d times", name, n)
		}
	}
	svcs := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json"))
	for _, s := range svcs {
		if s.Status != store.ServiceActive || len(s.VM.IPv4) != 1 {
			t.Errorf("service %d: %s %v", s.ID, s.Status, s.VM.IPv4)
		}
	}
	if tasks := decodeJSON[[]store.Task](t, env.cli("tasks", "--json")); len(tasks) != 0 {
		t.Errorf("tasks after a clean run: %+v", tasks)
	}
	table := env.cli("jobs")
	if !strings.Contains(table, "ID  SERVICE  TYPE") || strings.Count(table, " done ") != 20 {
		t.Errorf("jobs table:\n%s", table)
	}
}

func TestServiceOperationCommands(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "1", "--count", "2")
	env.cli("engine", "--until-idle")

	out, errOut, code := runCLI(t, "s3cret-root\n", "--db", env.db, "service", "setpassword", "1", "2")
	if code != 0 || strings.Count(out, "queued setpassword") != 2 {
		t.Fatalf("setpassword: %d %q %q", code, out, errOut)
	}
	env.cli("service", "setparam", "1", "--cpu", "2", "--disk-mib", "20480")
	env.cli("service", "suspend", "2")
	env.cli("engine", "--until-idle")
	raw, err := os.ReadFile(env.db)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "s3cret-root") {
		t.Fatal("the root password reached the database file")
	}
	svcs := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json"))
	if svcs[0].Status != store.ServiceActive || svcs[1].Status != store.ServiceSuspended {
		t.Errorf("statuses %s %s, want active suspended", svcs[0].Status, svcs[1].Status)
	}
	for _, j := range decodeJSON[[]store.Job](t, env.cli("jobs", "--json")) {
		if j.State != store.JobDone {
			t.Errorf("job %d (%s) %s: %s", j.ID, j.Type, j.State, j.Error)
		}
	}

	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"service", "reboot"}, 2, "give one or more service ids"},
		{[]string{"service", "reboot", "x"}, 2, `"x" is not an id`},
		{[]string{"service", "reboot", "99"}, 2, "service 99 does not exist"},
		{[]string{"jobs", "retry", "999"}, 2, "job 999 does not exist; see vmmpm jobs"},
		{[]string{"jobs", "--module", "99"}, 2, "module 99 does not exist and no job ran on it; see vmmpm module list"},
		{[]string{"service", "setparam", "1"}, 2, "give at least one of cpu, ram_mib, disk_mib"},
		{[]string{"service", "create", "--client", "client@example.com", "--tariff", "nope"}, 2, `tariff "nope" does not exist`},
		{[]string{"service", "create", "--client", "client@example.com", "--tariff", "1", "--count", "0"}, 2, "count: must be between 1 and"},
		{[]string{"jobs", "--state", "sleeping"}, 2, "--state must be one of"},
		{[]string{"tariff", "add"}, 2, "--spec FILE"},
	}
	for _, c := range cases {
		_, errOut, code := runCLI(t, "", append([]string{"--db", env.db}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("vmmpm %s: exit %d %q, want %d containing %q", strings.Join(c.args, " "), code, errOut, c.code, c.want)
		}
		if code != 0 {
			requireSentence(t, errOut, c.want)
		}
	}
}

func TestJobRetryAndCancelCommands(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "2")
	if out := env.cli("jobs", "cancel", "2"); out != "job 2: cancelled\n" {
		t.Errorf("cancel: %q", out)
	}
	_, errOut, code := runCLI(t, "", "--db", env.db, "jobs", "retry", "1")
	if code != 1 {
		t.Errorf("retrying a queued job: exit %d", code)
	}
	requireSentence(t, errOut, "only failed jobs can be retried")
	env.sim.FailHost("svc-1")
	env.cli("engine", "--until-idle")
	jobs := decodeJSON[[]store.Job](t, env.cli("jobs", "--json"))
	if jobs[0].State != store.JobFailed || jobs[1].State != store.JobCancelled {
		t.Fatalf("states %s %s, want failed cancelled", jobs[0].State, jobs[1].State)
	}
	tasks := decodeJSON[[]store.Task](t, env.cli("tasks", "--json"))
	if len(tasks) != 1 || tasks[0].JobID != 1 || tasks[0].DepartmentID != 1 {
		t.Errorf("tasks %+v", tasks)
	}
	if out := env.cli("jobs", "retry", "1", "--yes"); out != "job 1: queued again\n" { // refused for good: asks
		t.Errorf("retry: %q", out)
	}
	if j := decodeJSON[[]store.Job](t, env.cli("jobs", "--state", "queued", "--json")); len(j) != 1 || j[0].ID != 1 {
		t.Errorf("queued after retry: %+v", j)
	}
}

func TestJobsBesideALiveEngineSaysInUse(t *testing.T) {
	env := newEngineEnv(t, 0)
	db, err := store.Open(env.db, store.Options{}) // stands in for a running engine: it holds the lock
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, errOut, code := runCLI(t, "", "--db", env.db, "jobs")
	if code != 1 || !strings.Contains(errOut, "is in use by another vmmpm (pid") {
		t.Fatalf("jobs beside a holder: exit %d, %q", code, errOut)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("refusal took %s, want under 3 s", d)
	}
}

// TestJobsFollowOnlyWatches: started with no server, --follow runs nothing and leaves the database
// free; a server started afterwards takes it, and follow prints the server's changes. When the
// server stops, follow waits, and goes on with the changes of the next server.
func TestJobsFollowOnlyWatches(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "2")
	var out, errOut termtest.SyncBuffer
	a := &app{dbPath: env.db, socket: env.socket(), stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.jobs(ctx, jobsFlags{follow: true, state: store.JobDone, asJSON: true}) }()
	seen := 0
	termtest.Expect(t, &errOut, &seen, "waiting for vmmpm serve")
	if n := len(env.sim.Stats().HostsCreated); n != 0 {
		t.Fatalf("--follow without a server created %d VMs: it ran jobs", n)
	}
	srv := env.startServe() // it could not start if follow held the database
	termtest.Expect(t, &errOut, &seen, "following its job changes")
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), `"state":"done"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("follow printed no two done jobs:\n%s\nstderr:\n%s\nserver:\n%s", out.String(), errOut.String(), srv.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.stop()
	termtest.Expect(t, &errOut, &seen, "server stopped; waiting for it to come back")
	env.startServe()
	termtest.Expect(t, &errOut, &seen, "following its job changes")
	env.cli("--socket", env.socket(), "service", "create", "--client", "client@example.com", "--tariff", "small")
	for strings.Count(out.String(), `"state":"done"`) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("follow printed no done job from the second server:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		j := decodeJSON[store.Job](t, line)
		if j.State != store.JobDone {
			t.Errorf("--state done printed a %s job", j.State)
		}
	}
}

// TestServiceOpenAgain: a service whose open was cancelled stays ordered until `service open` queues a
// new open, which the engine then runs; an active service is refused.
func TestServiceOpenAgain(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "1")
	env.cli("jobs", "cancel", "1")
	env.cli("engine", "--until-idle")
	if s := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json")); s[0].Status != store.ServiceOrdered {
		t.Fatalf("after a cancelled open the service is %s, want ordered", s[0].Status)
	}
	env.cli("service", "open", "1")
	env.cli("engine", "--until-idle")
	if s := decodeJSON[[]store.Service](t, env.cli("service", "list", "--json")); s[0].Status != store.ServiceActive {
		t.Fatalf("after service open the service is %s, want active", s[0].Status)
	}
	if _, errOut, code := runCLI(t, "", "--db", env.db, "service", "open", "1"); code == 0 || !strings.Contains(errOut, "cannot be opened again") {
		t.Fatalf("open of an active service: exit %d, %q", code, errOut)
	}
	if n := env.sim.Stats().HostsCreated["svc-1"]; n != 1 {
		t.Fatalf("svc-1 created %d times, want 1", n)
	}
}

// TestListingsNameTheirRecords: jobs, services and tariffs name the module, tariff and data center
// beside their ids; jobs takes --limit and --since; --follow prints a header and aligned columns.
func TestListingsNameTheirRecords(t *testing.T) {
	env := newEngineEnv(t, 0)
	env.cli("tariff", "add", "--spec", env.spec)
	env.cli("service", "create", "--client", "client@example.com", "--tariff", "small", "--count", "3")
	env.cli("engine", "--until-idle")
	jobs := env.cli("jobs")
	if !strings.Contains(jobs, "1 vmm") {
		t.Errorf("jobs does not name the module:\n%s", jobs)
	}
	if n := strings.Count(strings.TrimSpace(env.cli("jobs", "--limit", "2")), "\n"); n != 2 {
		t.Errorf("jobs --limit 2 printed %d rows", n)
	}
	if got := decodeJSON[[]store.Job](t, env.cli("jobs", "--limit", "1", "--json")); len(got) != 1 || got[0].ID != 3 {
		t.Errorf("jobs --limit 1 should keep the newest job, got %+v", got)
	}
	if got := decodeJSON[[]store.Job](t, env.cli("jobs", "--since", "1h", "--json")); len(got) != 3 {
		t.Errorf("jobs --since 1h: %d jobs, want 3", len(got))
	}
	if got := decodeJSON[[]store.Job](t, env.cli("jobs", "--since", "1ns", "--json")); len(got) != 0 {
		t.Errorf("jobs --since 1ns: %d jobs, want none", len(got))
	}
	if out := env.cli("service", "list"); !strings.Contains(out, "1 small") || !strings.Contains(out, "1 vmm") {
		t.Errorf("service list does not name the tariff and module:\n%s", out)
	}
	if out := env.cli("tariff", "list"); !strings.Contains(out, "1 DC One") || !strings.Contains(out, "1 vmm") {
		t.Errorf("tariff list does not name the data center and module:\n%s", out)
	}

	// --follow through a server: a header, then each change under it, column for column.
	env.startServe()
	var out termtest.SyncBuffer
	a := &app{dbPath: env.db, socket: env.socket(), stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.jobs(ctx, jobsFlags{follow: true, limit: 1}) }()
	seen := 0
	termtest.Expect(t, &out, &seen, "TIME ")
	mustCLI(t, "--db", env.db, "--socket", env.socket(), "service", "reboot", "1")
	termtest.Expect(t, &out, &seen, "reboot")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var header, row string
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "TIME "):
			header = l
		case strings.Contains(l, " reboot ") && row == "":
			row = l
		}
	}
	if i := strings.Index(header, "MODULE"); i < 0 || !strings.HasPrefix(row[i:], "1 vmm") {
		t.Errorf("--follow's rows are not under its header:\n%s\n%s", header, row)
	}
}
