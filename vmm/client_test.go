package vmm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

const (
	adminEmail = "admin@example.com"
	adminPass  = "demo-password"
)

// startSim serves a fresh emulator on loopback.
func startSim(t testing.TB, cfg sim.Config) (*sim.Sim, *httptest.Server) {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	s := sim.New(cfg)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// newClient is an admin client with a long session unless edit says otherwise.
func newClient(t testing.TB, url string, edit func(*vmm.Config)) *vmm.Client {
	t.Helper()
	cfg := vmm.Config{URL: url, Email: adminEmail, Password: adminPass, SessionTTL: time.Hour, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := vmm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRefusesBadConfig(t *testing.T) {
	if _, err := vmm.New(vmm.Config{URL: "https://vm.example.com/path", Email: adminEmail}); !errors.Is(err, vmm.ErrBadURL) {
		t.Fatalf("path: %v", err)
	}
	if _, err := vmm.New(vmm.Config{URL: "vm.example.com"}); !errors.Is(err, vmm.ErrInvalid) {
		t.Fatalf("no email: %v", err)
	}
	c, err := vmm.New(vmm.Config{URL: "vm.example.com/", Email: adminEmail})
	if err != nil || c.URL() != "https://vm.example.com" {
		t.Fatalf("URL() = %v, %v", c, err)
	}
}

func TestCheckAdmin(t *testing.T) {
	s, srv := startSim(t, sim.Config{})
	c := newClient(t, srv.URL, nil)
	if err := c.CheckAdmin(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAdmin(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// CheckAdmin always tests the credentials with a fresh login, even with a cached token.
	if c.Logins() != 2 || s.Stats().LoginsOK != 2 {
		t.Fatalf("logins: client %d, sim %d; want 2", c.Logins(), s.Stats().LoginsOK)
	}
	if n := s.Stats().Requests["GET /vm/v3/account"]; n != 2 {
		t.Fatalf("account lookups = %d, want 2", n)
	}
}

func TestBadCredentials(t *testing.T) {
	const wrong = "Wr0ng-S3cret!"
	s, srv := startSim(t, sim.Config{})
	var logBuf bytes.Buffer
	c := newClient(t, srv.URL, func(cfg *vmm.Config) {
		cfg.Password = wrong
		cfg.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	err := c.CheckAdmin(ctxT(t))
	var ae *vmm.APIError
	switch {
	case !errors.Is(err, vmm.ErrBadCredentials) || !errors.Is(err, vmm.ErrUnauthorized):
		t.Fatalf("want bad credentials, got %v", err)
	case !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code == 0:
		t.Fatalf("want the error object decoded, got %#v", err)
	case vmm.Transient(err):
		t.Fatal("bad credentials must not be retried")
	}
	d := vmm.Describe(err)
	for _, text := range []string{err.Error(), d, logBuf.String()} {
		if strings.Contains(text, wrong) {
			t.Fatalf("password leaked: %q", text)
		}
	}
	if !strings.Contains(d, "email or password") {
		t.Fatalf("Describe = %q", d)
	}
	if !strings.Contains(logBuf.String(), "status=401") {
		t.Fatalf("debug log lacks the request line: %q", logBuf.String())
	}
	if c.Logins() != 0 || s.Stats().LoginsFailed != 1 {
		t.Fatalf("logins ok %d, failed %d", c.Logins(), s.Stats().LoginsFailed)
	}
}

func TestAccountsAndNotAdmin(t *testing.T) {
	_, srv := startSim(t, sim.Config{})
	admin := newClient(t, srv.URL, nil)
	ctx := ctxT(t)
	const user = "a+b@example.com" // '+' must survive the where= encoding
	if a, err := admin.FindAccount(ctx, user); err != nil || a != nil {
		t.Fatalf("FindAccount before create = %+v, %v; want nil, nil", a, err)
	}
	id, err := admin.CreateAccount(ctx, user, "user-pass-1")
	if err != nil || id == 0 {
		t.Fatalf("CreateAccount = %d, %v", id, err)
	}
	a, err := admin.FindAccount(ctx, user)
	if err != nil || a == nil || a.ID != id || a.Email != user || a.IsAdmin() || !slices.Contains(a.Roles, "@user") {
		t.Fatalf("FindAccount = %+v, %v", a, err)
	}
	if _, err := admin.CreateAccount(ctx, user, "again"); !isAPIStatus(err, 400) || vmm.Transient(err) {
		t.Fatalf("duplicate account: %v", err)
	}
	if _, err := admin.CreateAccount(ctx, "", "x"); !errors.Is(err, vmm.ErrInvalid) {
		t.Fatalf("empty email: %v", err)
	}
	u := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.Email, cfg.Password = user, "user-pass-1" })
	err = u.CheckAdmin(ctx)
	if !errors.Is(err, vmm.ErrNotAdmin) || errors.Is(err, vmm.ErrUnauthorized) || vmm.Transient(err) {
		t.Fatalf("user CheckAdmin = %v", err)
	}
	if d := vmm.Describe(err); !strings.Contains(d, "@admin") || !strings.Contains(d, user) {
		t.Fatalf("Describe = %q", d)
	}
	// The emulator refuses admin functions to a customer: 403 is ErrForbidden.
	if _, err := u.Clusters(ctx); !errors.Is(err, vmm.ErrForbidden) {
		t.Fatalf("user Clusters = %v", err)
	}
}

func isAPIStatus(err error, status int) bool {
	var ae *vmm.APIError
	return errors.As(err, &ae) && ae.Status == status
}

func TestCatalog(t *testing.T) {
	_, srv := startSim(t, sim.Config{})
	c := newClient(t, srv.URL, nil)
	ctx := ctxT(t)
	cls, err := c.Clusters(ctx)
	if err != nil || len(cls) != 2 {
		t.Fatalf("Clusters = %+v, %v", cls, err)
	}
	kvm, lxd := cls[0], cls[1]
	if kvm.ID != 1 || kvm.Name != "kvm-main" || kvm.Virtualization != "kvm" || !slices.Equal(kvm.Interfaces, []int{0, 1}) || !kvm.HasAdditionalInterface() {
		t.Errorf("kvm cluster = %+v", kvm)
	}
	if lxd.ID != 2 || lxd.Virtualization != "lxd" || !slices.Equal(lxd.Interfaces, []int{0}) || lxd.HasAdditionalInterface() {
		t.Errorf("lxd cluster = %+v", lxd)
	}
	pools, err := c.IPPools(ctx)
	if err != nil || len(pools) == 0 {
		t.Fatalf("IPPools = %+v, %v", pools, err)
	}
	onKVM := map[int]bool{}
	for _, p := range pools {
		for _, pc := range p.Clusters {
			if pc.ID == 1 {
				onKVM[pc.Interface] = true
			}
		}
	}
	if !onKVM[0] || !onKVM[1] {
		t.Errorf("pools do not cover kvm interfaces 0 and 1: %+v", pools)
	}
	oses, err := c.OSList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uint64]vmm.OS{}
	for _, o := range oses {
		byID[o.ID] = o
	}
	if !slices.Equal(byID[1].Clusters, []uint64{1, 2}) || !slices.Equal(byID[3].Clusters, []uint64{2}) || byID[1].Name == "" {
		t.Errorf("OS list = %+v", oses)
	}
	recipes, err := c.Recipes(ctx)
	if err != nil || len(recipes) < 2 || recipes[0].ID != 1 || recipes[1].ID != 2 || recipes[0].Name == "" {
		t.Errorf("Recipes = %+v, %v", recipes, err)
	}
	if c.Logins() != 1 {
		t.Errorf("four calls with a 1h session cost %d logins, want 1", c.Logins())
	}
}

// fastTasks is an emulator whose tasks stay "running" briefly, so polling is exercised.
var fastTasks = sim.Config{TaskTime: 30 * time.Millisecond}

const poll = 5 * time.Millisecond

func TestHostLifecycle(t *testing.T) {
	s, srv := startSim(t, fastTasks)
	c := newClient(t, srv.URL, nil)
	ctx := ctxT(t)
	acc, err := c.CreateAccount(ctx, "client@example.com", "client-pass")
	if err != nil {
		t.Fatal(err)
	}
	spec := vmm.HostSpec{Name: "svc-1", Cluster: 1, OS: 1, Account: acc, Password: "root-pass-1", CPU: 1,
		RAMMiB: 1024, DiskMiB: 10240, IPv4Count: 1, RecipeID: 1, AdditionalInterface: true, Domain: "svc-1.example.com",
		Comment: "vmmpm service 1, engine epoch 2"}
	cr, err := c.CreateHost(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if cr.HostID == 0 || cr.Task.Name != vmm.TaskHostCreate || cr.RecipeTask == nil || cr.RecipeTask.Name != "" {
		t.Fatalf("Created = %+v", cr)
	}
	if st, err := c.Task(ctx, cr.Task); err != nil || st == vmm.TaskComplete || st == vmm.TaskFail {
		t.Fatalf("fresh task status = %q, %v; want in progress", st, err)
	}
	mustWait(t, c, cr.Task)
	mustWait(t, c, *cr.RecipeTask)
	h, err := c.Host(ctx, cr.HostID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "svc-1" || h.State != "active" || h.CPU != 1 || h.RAMMiB != 1024 || h.DiskMiB != 10240 ||
		h.DiskID == 0 || len(h.IPv4) != 2 || h.Account != acc || h.Cluster != 1 || h.OS != 1 || h.Comment != spec.Comment {
		t.Fatalf("Host = %+v (two IPv4: main and additional interface, the comment sent)", h)
	}
	if f, err := c.FindHostByName(ctx, "svc-1"); err != nil || f == nil || f.ID != h.ID {
		t.Fatalf("FindHostByName = %+v, %v", f, err)
	}
	if f, err := c.FindHostByName(ctx, "svc-404"); err != nil || f != nil {
		t.Fatalf("FindHostByName(missing) = %+v, %v", f, err)
	}

	step(t, c, h.ID, "stopped", func() (vmm.TaskRef, error) { return c.StopHost(ctx, h.ID) }, vmm.TaskHostStop)
	step(t, c, h.ID, "active", func() (vmm.TaskRef, error) { return c.StartHost(ctx, h.ID) }, vmm.TaskHostStart)
	step(t, c, h.ID, "active", func() (vmm.TaskRef, error) { return c.RestartHost(ctx, h.ID) }, vmm.TaskHostStart)
	step(t, c, h.ID, "active", func() (vmm.TaskRef, error) { return c.SetResources(ctx, h.ID, 2, 2048, false) }, vmm.TaskHostParams)
	step(t, c, h.ID, "active", func() (vmm.TaskRef, error) { return c.ResizeDisk(ctx, h.DiskID, 20480, false) }, vmm.TaskDiskResize)
	step(t, c, h.ID, "active", func() (vmm.TaskRef, error) { return c.ReinstallHost(ctx, h.ID, 2, 2, "root-pass-2") }, vmm.TaskHostReinstall)
	pt, err := c.SetPassword(ctx, h.ID, "root-pass-3")
	if err != nil || pt == nil || pt.ConsulID == "" || pt.Name != "" {
		t.Fatalf("SetPassword = %+v, %v", pt, err)
	}
	mustWait(t, c, *pt)
	h2, err := c.Host(ctx, h.ID)
	if err != nil || h2.CPU != 2 || h2.RAMMiB != 2048 || h2.DiskMiB != 20480 || h2.OS != 2 {
		t.Fatalf("after changes Host = %+v, %v", h2, err)
	}
	if _, err := c.ResizeDisk(ctx, h.DiskID, 10240, false); !isAPIStatus(err, 400) || vmm.Transient(err) {
		t.Fatalf("shrinking the disk: %v", err)
	}
	del, err := c.DeleteHost(ctx, h.ID)
	if err != nil || del.Name != vmm.TaskHostDelete {
		t.Fatalf("DeleteHost = %+v, %v", del, err)
	}
	mustWait(t, c, del)
	if _, err := c.Host(ctx, h.ID); !errors.Is(err, vmm.ErrNotFound) || vmm.Transient(err) {
		t.Fatalf("Host after delete: %v", err)
	}
	if _, err := c.StartHost(ctx, h.ID); !errors.Is(err, vmm.ErrNotFound) || !isAPIStatus(err, 404) {
		t.Fatalf("StartHost after delete: %v", err)
	}
	if n := s.Stats().HostsCreated["svc-1"]; n != 1 {
		t.Fatalf("sim created svc-1 %d times", n)
	}
}

func step(t *testing.T, c *vmm.Client, id uint64, state string, do func() (vmm.TaskRef, error), name string) {
	t.Helper()
	ref, err := do()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if ref.Name != name || ref.ConsulID == "" {
		t.Fatalf("task ref = %+v, want name %s", ref, name)
	}
	mustWait(t, c, ref)
	h, err := c.Host(context.Background(), id)
	if err != nil || h.State != state {
		t.Fatalf("after %s: host %+v, %v; want state %s", name, h, err, state)
	}
}

func mustWait(t *testing.T, c *vmm.Client, ref vmm.TaskRef) {
	t.Helper()
	if err := c.WaitTask(ctxT(t), ref, poll); err != nil {
		t.Fatalf("WaitTask(%+v): %v", ref, err)
	}
	if st, err := c.Task(ctxT(t), ref); err != nil || st != vmm.TaskComplete {
		t.Fatalf("Task(%+v) after wait = %q, %v", ref, st, err)
	}
}

func TestCreateHostRefusals(t *testing.T) {
	_, srv := startSim(t, fastTasks)
	c := newClient(t, srv.URL, nil)
	ctx := ctxT(t)
	base := vmm.HostSpec{Name: "svc-2", Cluster: 1, OS: 1, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120}
	cases := map[string]struct {
		edit func(*vmm.HostSpec)
		want func(error) bool
	}{
		"unknown OS":         {func(s *vmm.HostSpec) { s.OS = 99 }, func(e error) bool { return isAPIStatus(e, 400) }},
		"LXD-only OS on KVM": {func(s *vmm.HostSpec) { s.OS = 3 }, func(e error) bool { return isAPIStatus(e, 400) }},
		"unknown cluster":    {func(s *vmm.HostSpec) { s.Cluster = 9 }, func(e error) bool { return isAPIStatus(e, 400) }},
		"beyond capacity":    {func(s *vmm.HostSpec) { s.CPU = 100000 }, func(e error) bool { return isAPIStatus(e, 400) }},
		"second NIC on LXD":  {func(s *vmm.HostSpec) { s.Cluster, s.AdditionalInterface = 2, true }, func(e error) bool { return errors.Is(e, vmm.ErrInvalid) }},
		"no password":        {func(s *vmm.HostSpec) { s.Password = "" }, func(e error) bool { return errors.Is(e, vmm.ErrInvalid) }},
	}
	for name, tc := range cases {
		s := base
		tc.edit(&s)
		_, err := c.CreateHost(ctx, s)
		if !tc.want(err) || vmm.Transient(err) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestTaskFailure(t *testing.T) {
	s, srv := startSim(t, fastTasks)
	c := newClient(t, srv.URL, nil)
	s.FailHost("svc-doomed")
	cr, err := c.CreateHost(ctxT(t), vmm.HostSpec{Name: "svc-doomed", Cluster: 2, OS: 3, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120})
	if err != nil {
		t.Fatal(err)
	}
	err = c.WaitTask(ctxT(t), cr.Task, poll)
	var te *vmm.TaskError
	if !errors.Is(err, vmm.ErrTaskFailed) || !errors.As(err, &te) || te.Task != cr.Task || vmm.Transient(err) {
		t.Fatalf("WaitTask = %v", err)
	}
	if st, _ := c.Task(ctxT(t), cr.Task); st != vmm.TaskFail {
		t.Fatalf("status = %q", st)
	}
	if _, err := c.Task(ctxT(t), vmm.TaskRef{ConsulID: "999999", Name: "host_create"}); !errors.Is(err, vmm.ErrNotFound) {
		t.Fatalf("unknown task: %v", err)
	}
}

func TestSleepingVMmanagerIsRetried(t *testing.T) {
	s, srv := startSim(t, sim.Config{})
	c := newClient(t, srv.URL, nil)
	s.Sleep(4) // the login and the call both meet 503s
	if _, err := c.Clusters(ctxT(t)); err != nil {
		t.Fatalf("503 burst not absorbed: %v", err)
	}
	if c.Logins() != 1 {
		t.Fatalf("logins = %d", c.Logins())
	}
	// A burst longer than the retry budget ends in ErrUnavailable, which is transient.
	short := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.RetryFor = 250 * time.Millisecond })
	s.Sleep(1000)
	_, err := short.Clusters(ctxT(t))
	if !errors.Is(err, vmm.ErrUnavailable) || !vmm.Transient(err) || !strings.Contains(vmm.Describe(err), "503") {
		t.Fatalf("long sleep: %v", err)
	}
	// Cancelling the context stops the retries at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Clusters(ctx); !errors.Is(err, context.Canceled) || vmm.Transient(err) {
		t.Fatalf("cancelled: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	s.Sleep(0)
}

func TestSleepEveryBursts(t *testing.T) {
	s, srv := startSim(t, sim.Config{SleepEvery: 5, SleepBurst: 2})
	c := newClient(t, srv.URL, nil)
	for i := range 30 {
		if _, err := c.OSList(ctxT(t)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	st := s.Stats()
	if st.Requests["GET /vm/v3/os"] <= 30 {
		t.Fatalf("no 503 was met and retried: %v", st.Requests)
	}
}

// A token that expires on the server mid-run costs exactly one new login, however many callers meet it.
func TestTokenExpiryCostsOneLogin(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, srv := startSim(t, sim.Config{TokenTTL: time.Minute, Now: clock})
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.SessionTTL = 24 * time.Hour })
	ctx := ctxT(t)
	for range 5 {
		if _, err := c.Recipes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = now.Add(2 * time.Minute) // the server forgets the token; the client still trusts it
	mu.Unlock()
	runConcurrently(t, 20, func() error { _, err := c.Recipes(ctx); return err })
	for range 5 {
		if _, err := c.Recipes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Stats().LoginsOK; got != 2 || c.Logins() != 2 {
		t.Fatalf("logins: sim %d, client %d; want 2 (first + one renewal)", got, c.Logins())
	}
	// The renewal came within the session period, so the period counts both.
	if p := c.LoginPeriod(time.Now()); p.Logins != 2 || p.End.Sub(p.Start) < 24*time.Hour {
		t.Fatalf("login period %+v, want 2 logins over a period extended by the renewal", p)
	}
}

func TestSessionPeriodEnds(t *testing.T) {
	s, srv := startSim(t, sim.Config{})
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.SessionTTL = 40 * time.Millisecond })
	if p := c.LoginPeriod(time.Now()); p != (vmm.LoginPeriod{}) {
		t.Fatalf("login period before any login: %+v", p)
	}
	for range 3 {
		if _, err := c.Recipes(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	first := c.LoginPeriod(time.Now())
	if first.Logins < 1 || first.Logins > c.Logins() || !first.End.After(first.Start) {
		t.Fatalf("login period %+v after %d logins", first, c.Logins())
	}
	time.Sleep(60 * time.Millisecond)
	if p := c.LoginPeriod(time.Now()); p != (vmm.LoginPeriod{}) {
		t.Fatalf("login period after it ended: %+v", p)
	}
	if _, err := c.Recipes(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if p := c.LoginPeriod(time.Now()); p.Logins != 1 || !p.Start.After(first.Start) {
		t.Fatalf("the login after the period ended began a new one: %+v (the first %+v)", p, first)
	}
	// No 401 was needed: the client renews on its own when the period ends.
	if c.Logins() < 2 || s.Stats().LoginsOK != c.Logins() || s.Stats().Requests["GET /vm/v3/recipe"] != 4 {
		t.Fatalf("logins %d, stats %+v", c.Logins(), s.Stats())
	}
}

// A caller that stops waiting does not cut the login short: VMmanager opens the session either way, so
// the client finishes it, counts it and keeps the token for the next caller.
func TestLoginOutlivesItsStarter(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	// The emulator grants the session at once; its answer arrives 50 ms later.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/auth/") {
			time.Sleep(50 * time.Millisecond)
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil)
	short, cancel := context.WithTimeout(ctxT(t), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Clusters(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a caller out of time: %v", err)
	}
	if _, err := c.Clusters(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().LoginsOK; got != 1 || c.Logins() != 1 || c.LoginPeriod(time.Now()).Logins != 1 {
		t.Fatalf("logins: sim %d, client %d, period %+v; want 1", got, c.Logins(), c.LoginPeriod(time.Now()))
	}
}

func TestColdCacheOneLogin(t *testing.T) {
	s, srv := startSim(t, sim.Config{Latency: 20 * time.Millisecond})
	c := newClient(t, srv.URL, nil)
	runConcurrently(t, 50, func() error { _, err := c.Clusters(ctxT(t)); return err })
	if got := s.Stats().LoginsOK; got != 1 || c.Logins() != 1 {
		t.Fatalf("50 concurrent calls on a cold cache: sim %d logins, client %d; want 1", got, c.Logins())
	}
	if n := s.Stats().Requests["GET /vm/v3/cluster"]; n != 50 {
		t.Fatalf("cluster calls = %d", n)
	}
}

func TestColdCacheBadPasswordOneAttempt(t *testing.T) {
	s, srv := startSim(t, sim.Config{Latency: 20 * time.Millisecond})
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.Password = "nope" })
	var mu sync.Mutex
	fails := 0
	runConcurrently(t, 20, func() error {
		if _, err := c.Clusters(ctxT(t)); errors.Is(err, vmm.ErrBadCredentials) {
			mu.Lock()
			fails++
			mu.Unlock()
			return nil
		} else {
			return err
		}
	})
	// Callers that arrive while a login is in flight share its answer; later ones try again.
	if fails != 20 || s.Stats().LoginsFailed >= 20 {
		t.Fatalf("fails %d, login attempts %d", fails, s.Stats().LoginsFailed)
	}
}

func runConcurrently(t *testing.T, n int, f func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			errs <- f()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSessionTTLZeroLogsInPerOperation(t *testing.T) {
	s, srv := startSim(t, fastTasks)
	c := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.SessionTTL = 0 })
	ctx := ctxT(t)
	for range 3 {
		if _, err := c.Clusters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c.Logins() != 3 {
		t.Fatalf("3 operations with TTL 0 cost %d logins", c.Logins())
	}
	cr, err := c.CreateHost(ctx, vmm.HostSpec{Name: "svc-ttl0", Cluster: 1, OS: 1, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120})
	if err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Requests["GET /vm/v3/task"]
	if err := c.WaitTask(ctx, cr.Task, poll); err != nil {
		t.Fatal(err)
	}
	polls := s.Stats().Requests["GET /vm/v3/task"] - before
	if polls < 2 || c.Logins() != 5 {
		t.Fatalf("WaitTask polled %d times and brought logins to %d; want one login for the whole wait (5)", polls, c.Logins())
	}
	if s.Stats().LoginsOK != c.Logins() {
		t.Fatalf("sim counted %d logins, client %d", s.Stats().LoginsOK, c.Logins())
	}
	// No session is kept: the logins are counted over an hour begun by the first one.
	if p := c.LoginPeriod(time.Now()); p.Logins != 5 || p.End.Sub(p.Start) != vmm.NoSessionPeriod {
		t.Fatalf("login period %+v, want 5 logins over %s", p, vmm.NoSessionPeriod)
	}
}

func TestTLS(t *testing.T) {
	srv := quietTLSServer(t, sim.New(sim.Config{Seed: 1}))
	c := newClient(t, srv.URL, nil)
	err := c.CheckAdmin(ctxT(t))
	var te *vmm.TLSError
	if !errors.Is(err, vmm.ErrTLS) || !errors.As(err, &te) || te.Kind != "untrusted" || vmm.Transient(err) {
		t.Fatalf("self-signed: %v", err)
	}
	if d := vmm.Describe(err); !strings.Contains(d, "self-signed") || !strings.Contains(d, "skip TLS verification") {
		t.Fatalf("Describe = %q", d)
	}
	ok := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.InsecureTLS = true })
	if err := ok.CheckAdmin(ctxT(t)); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	// https to a plain HTTP port is a TLS failure of its own kind.
	_, plain := startSim(t, sim.Config{})
	err = newClient(t, strings.Replace(plain.URL, "http://", "https://", 1), nil).Login(ctxT(t))
	if !errors.As(err, &te) || te.Kind != "http" || !strings.Contains(vmm.Describe(err), "http://") {
		t.Fatalf("https to http: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = newClient(t, "http://"+addr, nil).CheckAdmin(ctxT(t))
	var ne *vmm.NetError
	if !errors.Is(err, vmm.ErrUnreachable) || !errors.As(err, &ne) || ne.Kind != "refused" || !vmm.Transient(err) {
		t.Fatalf("closed port: %v", err)
	}
	if d := vmm.Describe(err); !strings.Contains(d, addr) || !strings.Contains(d, "refused") {
		t.Fatalf("Describe = %q", d)
	}
	err = newClient(t, "https://vmmanager.invalid", nil).Login(ctxT(t))
	if !errors.As(err, &ne) || ne.Kind != "dns" || !strings.Contains(vmm.Describe(err), "could not be resolved") {
		t.Fatalf("unknown host: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	_, srv := startSim(t, sim.Config{Latency: 500 * time.Millisecond})
	err := newClient(t, srv.URL, func(cfg *vmm.Config) { cfg.Timeout = 50 * time.Millisecond }).Login(ctxT(t))
	var ne *vmm.NetError
	if !errors.As(err, &ne) || ne.Kind != "timeout" || !vmm.Transient(err) {
		t.Fatalf("slow VMmanager: %v", err)
	}
}

func TestNotVMmanager(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	err := newClient(t, web.URL, nil).Login(ctxT(t))
	if !errors.Is(err, vmm.ErrBadAnswer) || errors.Is(err, vmm.ErrBadCredentials) || !strings.Contains(vmm.Describe(err), "VMmanager 6") {
		t.Fatalf("plain web server: %v", err)
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":1,"confirmed":true}`))
	}))
	t.Cleanup(empty.Close)
	c := newClient(t, empty.URL, nil)
	if err := c.Login(ctxT(t)); !errors.Is(err, vmm.ErrBadAnswer) || !strings.Contains(err.Error(), "without a token") || c.Logins() != 0 {
		t.Fatalf("login answer without token: %v", err)
	}
	redirect := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/", http.StatusMovedPermanently))
	t.Cleanup(redirect.Close)
	err = newClient(t, redirect.URL, nil).Login(ctxT(t))
	if !errors.Is(err, vmm.ErrBadAnswer) || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Fatalf("redirect: %v", err)
	}
}

func TestInjectedFailureIsTransient(t *testing.T) {
	s, srv := startSim(t, sim.Config{})
	c := newClient(t, srv.URL, nil)
	s.FailNext("POST /vm/v3/host", 1)
	_, err := c.CreateHost(ctxT(t), vmm.HostSpec{Name: "svc-x", Cluster: 1, OS: 1, Password: "p", CPU: 1, RAMMiB: 512, DiskMiB: 5120})
	if !isAPIStatus(err, 500) || !vmm.Transient(err) || !strings.Contains(vmm.Describe(err), "internal error") {
		t.Fatalf("injected 500: %v", err)
	}
}

// quietTLSServer is httptest.NewTLSServer without the log line for each refused handshake.
func quietTLSServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
