package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

const testVersion = "test-1"

// fakeBackend answers the few calls a test sets and feeds the hub from events; any other call
// panics (the embedded nil interface), which the test then shows.
type fakeBackend struct {
	backend.Backend
	events      chan backend.Event
	view        func(ctx context.Context) (*backend.JobsView, error)
	get         func(ctx context.Context, kind string, id uint64, out any) error
	checkModule func(ctx context.Context, id uint64) (*store.Check, error)
}

func newFake() *fakeBackend {
	return &fakeBackend{events: make(chan backend.Event)}
}

func (f *fakeBackend) Info(context.Context) (backend.Info, error) {
	return backend.Info{Mode: backend.ModeEngine, Version: testVersion, PID: os.Getpid(), DB: "fake.db"}, nil
}

// Events forwards what the test sends on f.events until ctx ends.
func (f *fakeBackend) Events(ctx context.Context, _ uint64, _ bool) (<-chan backend.Event, error) {
	out := make(chan backend.Event)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-f.events:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (f *fakeBackend) JobsView(ctx context.Context, _ backend.JobsQuery) (*backend.JobsView, error) {
	if f.view != nil {
		return f.view(ctx)
	}
	return &backend.JobsView{Counts: map[uint64]queue.ModuleCounts{1: {Queued: 2}}}, nil
}

func (f *fakeBackend) Get(ctx context.Context, kind string, id uint64, out any) error {
	return f.get(ctx, kind, id, out)
}

func (f *fakeBackend) CheckModule(ctx context.Context, id uint64) (*store.Check, error) {
	return f.checkModule(ctx, id)
}

func (f *fakeBackend) Close() error { return nil }

// newServer is a server for b that does not listen: tests serve its Handler themselves.
func newServer(t *testing.T, b backend.Backend) *Server {
	t.Helper()
	s, err := New(b, nil, testVersion, "/run/test/vmmpm.sock", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// httpServe serves s.Handler() on loopback with the peer recorded as uid, as withPeer records it
// from SO_PEERCRED on the socket; each connection is a process of its own (its own pid).
func httpServe(t *testing.T, s *Server, uid int) *httptest.Server {
	t.Helper()
	hs := httptest.NewUnstartedServer(s.Handler())
	var pids atomic.Int64
	hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(context.WithValue(ctx, peerKey{}, uid), peerPIDKey{}, int(1000+pids.Add(1)))
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

// answer is one HTTP answer, its envelope decoded.
type answer struct {
	status int
	header http.Header
	env    envelope
	raw    string
}

func (a answer) says(text string) bool {
	return a.env.Error != nil && strings.Contains(a.env.Error.Message, text)
}

func request(t *testing.T, hc *http.Client, method, url, body, version string) answer {
	t.Helper()
	a, err := do(t.Context(), hc, method, url, body, version)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// do is request for a goroutine: the failure comes back instead of ending the test.
func do(ctx context.Context, hc *http.Client, method, url, body, version string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if version != "" {
		req.Header.Set(versionHeader, version)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.env); err != nil {
		return a, fmt.Errorf("%s %s answered %d with a body that is not an envelope: %q", method, url, resp.StatusCode, raw)
	}
	return a, nil
}

// TestStatusCodes: every answer the protocol names, each an envelope saying why.
func TestStatusCodes(t *testing.T) {
	f := newFake()
	f.get = func(_ context.Context, kind string, id uint64, out any) error {
		if id == 7 {
			m := out.(*store.Module)
			m.ID, m.Name = 7, "seven"
			return nil
		}
		return &store.ValidationError{Field: "id", Rule: "there is no module " + strconv.FormatUint(id, 10)}
	}
	hs := httpServe(t, newServer(t, f), os.Getuid())
	hc := hs.Client()
	cases := []struct {
		name, method, path, body, version string
		status                            int
		says                              string
	}{
		{"a call", http.MethodPost, "/v1/jobs_view", `{}`, testVersion, 200, ""},
		{"a call without a body", http.MethodPost, "/v1/jobs_view", ``, testVersion, 200, ""},
		{"a record", http.MethodPost, "/v1/get", `{"kind":"modules","id":7}`, testVersion, 200, ""},
		{"malformed JSON", http.MethodPost, "/v1/get", `{"kind":`, testVersion, 400, "not valid JSON"},
		{"an unknown field", http.MethodPost, "/v1/get", `{"kind":"modules","id":1,"extra":true}`, testVersion, 400, `unknown field "extra"`},
		{"a field of the wrong type", http.MethodPost, "/v1/get", `{"kind":"modules","id":"one"}`, testVersion, 400, "not valid JSON"},
		{"an unknown call", http.MethodPost, "/v1/format_disk", `{}`, testVersion, 404, `no call "/v1/format_disk"`},
		{"no call named", http.MethodPost, "/v1/", `{}`, testVersion, 404, "no call"},
		{"another protocol version", http.MethodPost, "/v2/jobs_view", `{}`, testVersion, 404, "no call"},
		{"GET of a call", http.MethodGet, "/v1/jobs_view", ``, testVersion, 405, "takes POST, not GET"},
		{"POST of the events", http.MethodPost, "/v1/events", ``, testVersion, 405, "takes GET, not POST"},
		{"events since a word", http.MethodGet, "/v1/events?since=abc", ``, testVersion, 400, "since must be an event sequence number"},
		{"another version", http.MethodPost, "/v1/jobs_view", `{}`, "9.9.9", 409, "this vmmpm is version 9.9.9 but the server"},
		{"no version", http.MethodPost, "/v1/jobs_view", `{}`, "", 409, "version unknown"},
		{"a rule's refusal", http.MethodPost, "/v1/get", `{"kind":"modules","id":3}`, testVersion, 422, "there is no module 3"},
		{"an unknown kind", http.MethodPost, "/v1/list", `{"kind":"passwords"}`, testVersion, 422, "not a kind of record"},
		{"a body at the limit", http.MethodPost, "/v1/jobs_view", `{}` + strings.Repeat(" ", MaxBody-2), testVersion, 200, ""},
		{"a body over the limit", http.MethodPost, "/v1/jobs_view", `{}` + strings.Repeat(" ", MaxBody-1), testVersion, 413, "larger than 1048576 bytes"},
	}
	for _, c := range cases {
		a := request(t, hc, c.method, hs.URL+c.path, c.body, c.version)
		switch {
		case a.status != c.status:
			t.Errorf("%s: answered %d %s, want %d", c.name, a.status, a.raw, c.status)
		case c.status == 200 && (a.env.Error != nil || len(a.env.Result) == 0):
			t.Errorf("%s: 200 with %s, want a result and no error", c.name, a.raw)
		case c.status != 200 && !a.says(c.says):
			t.Errorf("%s: %d %s, want an error saying %q", c.name, a.status, a.raw, c.says)
		}
		if got := a.header.Get(versionHeader); got != testVersion {
			t.Errorf("%s: the answer's %s is %q", c.name, versionHeader, got)
		}
		if got := a.header.Get(pidHeader); got != strconv.Itoa(os.Getpid()) {
			t.Errorf("%s: the answer's %s is %q", c.name, pidHeader, got)
		}
		if ct := a.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
	}
	// The refusal carries its rule, for errors.As on the client.
	a := request(t, hc, http.MethodPost, hs.URL+"/v1/get", `{"kind":"modules","id":3}`, testVersion)
	if v := a.env.Error.Validation; v == nil || v.Field != "id" || v.Rule != "there is no module 3" {
		t.Errorf("the refusal's validation is %+v", v)
	}
}

// TestAnswerWithResultAndError: a failed check still reports the check, and the client returns
// both, the error matching what it matched on the server.
func TestAnswerWithResultAndError(t *testing.T) {
	f := newFake()
	f.checkModule = func(context.Context, uint64) (*store.Check, error) {
		chk := &store.Check{At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Message: "VMmanager refused the email or password"}
		return chk, &wizard.CheckError{Cause: wizard.CauseBadCredentials, Err: vmm.ErrBadCredentials}
	}
	c := serveLocal(t, f, nil, testVersion)
	chk, err := c.CheckModule(t.Context(), 1)
	if chk == nil || chk.OK || chk.Message != "VMmanager refused the email or password" || chk.At.Year() != 2025 {
		t.Errorf("the client got the check %+v", chk)
	}
	var ce *wizard.CheckError
	if !errors.Is(err, vmm.ErrBadCredentials) || !errors.As(err, &ce) || ce.Cause != wizard.CauseBadCredentials {
		t.Errorf("the client got the error %v (%T)", err, err)
	}
}

// TestPeerCheck: only the server's own uid and root are served; a peer the server could not
// identify is not either.
func TestPeerCheck(t *testing.T) {
	s := newServer(t, newFake())
	for _, c := range []struct {
		name   string
		uid    int
		status int
	}{
		{"this user", os.Getuid(), 200},
		{"root", 0, 200},
		{"another user", os.Getuid() + 1, 403},
		{"a peer that could not be read", -1, 403},
	} {
		hs := httpServe(t, s, c.uid)
		// The wrong version too: the peer is checked first, so another user learns nothing else.
		for _, version := range []string{testVersion, "9.9.9"} {
			a := request(t, hs.Client(), http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, version)
			want := c.status
			if want == 200 && version != testVersion {
				want = 409
			}
			if a.status != want {
				t.Errorf("%s, version %s: answered %d %s, want %d", c.name, version, a.status, a.raw, want)
			}
			if want == 403 && !a.says("this vmmpm server serves only user "+strconv.Itoa(os.Getuid())+" (and root)") {
				t.Errorf("%s: the refusal says %s", c.name, a.raw)
			}
		}
		// The event stream is behind the same check.
		if a := request(t, hs.Client(), http.MethodGet, hs.URL+"/v1/events?since=abc", ``, testVersion); c.status == 403 && a.status != 403 {
			t.Errorf("%s: the event stream answered %d", c.name, a.status)
		}
	}

	// withPeer itself: a connection that is not a Unix socket has no peer credentials.
	tcp := httptest.NewUnstartedServer(s.Handler())
	tcp.Config.ConnContext = withPeer
	tcp.Start()
	t.Cleanup(tcp.Close)
	if a := request(t, tcp.Client(), http.MethodPost, tcp.URL+"/v1/jobs_view", `{}`, testVersion); a.status != 403 {
		t.Errorf("a TCP peer (no SO_PEERCRED): answered %d %s, want 403", a.status, a.raw)
	}
	// And a Handler served where no peer was recorded at all refuses rather than serve everyone.
	bare := httptest.NewServer(s.Handler())
	t.Cleanup(bare.Close)
	if a := request(t, bare.Client(), http.MethodPost, bare.URL+"/v1/jobs_view", `{}`, testVersion); a.status != 403 {
		t.Errorf("no peer recorded: answered %d %s, want 403", a.status, a.raw)
	}
}

// TestPeerOverSocket: over the real socket withPeer reads this process's uid, which is served.
func TestPeerOverSocket(t *testing.T) {
	c := serveLocal(t, newFake(), nil, testVersion)
	v, err := c.JobsView(t.Context(), backend.JobsQuery{})
	if err != nil || v.Counts[1].Queued != 2 {
		t.Fatalf("a call over the socket as this user: %v, %v", v, err)
	}
}

// blockingFake is a backend whose jobs_view calls say they entered, then hold until release closes.
func blockingFake(room int) (f *fakeBackend, entered chan struct{}, release chan struct{}) {
	f = newFake()
	entered, release = make(chan struct{}, room), make(chan struct{})
	f.view = func(ctx context.Context) (*backend.JobsView, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &backend.JobsView{}, nil
	}
	return f, entered, release
}

// TestTooManyInFlight: past MaxInFlight calls in progress the next is answered 429 at once; event
// streams do not count; once calls end, calls are served again.
func TestTooManyInFlight(t *testing.T) {
	f, entered, release := blockingFake(MaxInFlight + 1)
	hs := httpServe(t, newServer(t, f), os.Getuid())
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: MaxInFlight + 2}}
	t.Cleanup(hc.CloseIdleConnections)
	var wg sync.WaitGroup
	statuses := make(chan string, MaxInFlight)
	for range MaxInFlight {
		wg.Go(func() {
			a, err := do(t.Context(), hc, http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, testVersion)
			if err == nil && a.status != 200 {
				err = fmt.Errorf("answered %d %s", a.status, a.raw)
			}
			if err != nil {
				statuses <- err.Error()
			}
		})
	}
	deadline := time.After(30 * time.Second)
	for range MaxInFlight {
		select {
		case <-entered:
		case <-deadline:
			t.Fatalf("the %d calls did not all reach the backend within 30 s", MaxInFlight)
		}
	}
	began := time.Now()
	a := request(t, hc, http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, testVersion)
	if a.status != http.StatusTooManyRequests || !a.says("too many calls at once") {
		t.Errorf("call %d: answered %d %s, want 429", MaxInFlight+1, a.status, a.raw)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the 429 took %s: it should not wait for a slot", d)
	}
	if len(entered) != 0 {
		t.Error("the refused call reached the backend")
	}
	// A stream opens while every call slot is taken.
	sctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, hs.URL+"/v1/events", nil)
	req.Header.Set(versionHeader, testVersion)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("an event stream with every call slot taken: %v, %v", resp, err)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	cancel()

	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		t.Errorf("a call in flight: %s, want 200", s)
	}
	if a := request(t, hc, http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, testVersion); a.status != 200 {
		t.Errorf("after the calls ended: %d %s", a.status, a.raw)
	}
}

// TestPeerShare: one process with PeerShare calls in progress gets 429 for the next, saying it is its
// share, while another process is still served.
func TestPeerShare(t *testing.T) {
	f, entered, release := blockingFake(PeerShare + 1)
	s := newServer(t, f)
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(context.WithValue(ctx, peerKey{}, os.Getuid()), peerPIDKey{}, 4242)
	}
	hs.Start()
	t.Cleanup(hs.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: PeerShare + 2}}
	t.Cleanup(hc.CloseIdleConnections)
	var wg sync.WaitGroup
	for range PeerShare {
		wg.Go(func() { _, _ = do(t.Context(), hc, http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, testVersion) })
	}
	for range PeerShare {
		select {
		case <-entered:
		case <-time.After(30 * time.Second):
			t.Fatalf("the %d calls did not all reach the backend", PeerShare)
		}
	}
	a := request(t, hc, http.MethodPost, hs.URL+"/v1/jobs_view", `{}`, testVersion)
	if a.status != http.StatusTooManyRequests || !a.says("its share") {
		t.Errorf("call %d of one process: %d %s, want 429 naming its share", PeerShare+1, a.status, a.raw)
	}
	other := httpServe(t, s, os.Getuid())     // another process, same server
	go func() { <-entered; close(release) }() // its call got in beside the first's: let all end
	if a := request(t, other.Client(), http.MethodPost, other.URL+"/v1/jobs_view", `{}`, testVersion); a.status != 200 {
		t.Errorf("another process, while the first held its share: %d %s, want 200", a.status, a.raw)
	}
	wg.Wait()
}

// TestStalledBodiesHoldNoSlot: more clients than MaxInFlight send their headers and then stall the
// body; a call beside them is answered at once, and the stalled ones are cut off after BodyTimeout.
func TestStalledBodiesHoldNoSlot(t *testing.T) {
	old := BodyTimeout
	BodyTimeout = 2 * time.Second
	t.Cleanup(func() { BodyTimeout = old })
	c := serveLocal(t, newFake(), nil, testVersion)
	var stalled []net.Conn
	for range MaxInFlight + 8 {
		conn, err := net.Dial("unix", c.Socket())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if _, err := io.WriteString(conn, "POST /v1/jobs_view HTTP/1.1\r\nHost: vmmpm\r\nX-Vmmpm-Version: "+testVersion+
			"\r\nContent-Length: 100\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, conn)
	}
	began := time.Now()
	if _, err := c.JobsView(t.Context(), backend.JobsQuery{}); err != nil {
		t.Fatalf("a call beside %d stalled bodies: %v", len(stalled), err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("a call beside stalled bodies took %s", d)
	}
	for _, conn := range stalled[:4] {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		answer, _ := io.ReadAll(conn)
		if !strings.Contains(string(answer), "408") || !strings.Contains(string(answer), "did not arrive within") {
			t.Errorf("a stalled body was answered %q, want 408 saying so", answer)
		}
	}
}

// TestHeaderTimeout: a client that never finishes its request headers is cut off after the
// server's ReadHeaderTimeout, and others are served meanwhile.
func TestHeaderTimeout(t *testing.T) {
	t.Parallel()
	c := serveLocal(t, newFake(), nil, testVersion)
	conn, err := net.Dial("unix", c.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/jobs_view HTTP/1.1\r\nHost: vmmpm\r\nX-Vmmpm-Version: "+testVersion+"\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, err := io.ReadAll(conn)
		closed <- err
	}()
	if _, err := c.JobsView(t.Context(), backend.JobsQuery{}); err != nil {
		t.Errorf("a call beside the stalled one: %v", err)
	}
	select {
	case err := <-closed:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the server kept the stalled connection open for 60 s")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the stalled connection was not closed")
	}
	if d := time.Since(began); d < c.srv.http.ReadHeaderTimeout-500*time.Millisecond {
		t.Errorf("the stalled connection was closed after %s, before ReadHeaderTimeout (%s)", d, c.srv.http.ReadHeaderTimeout)
	}
}

// TestClientErrors: no server, a server of another version, a server gone.
func TestClientErrors(t *testing.T) {
	dir, err := os.MkdirTemp("", "vs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	missing := filepath.Join(dir, "none.sock")
	c, info, err := Dial(t.Context(), missing, testVersion)
	if c != nil || info != nil || err != nil {
		t.Errorf("Dial with no server: %v, %v, %v; want nothing at all", c, info, err)
	}
	_, err = NewClient(missing, testVersion).JobsView(t.Context(), backend.JobsQuery{})
	if !errors.Is(err, ErrServerGone) {
		t.Errorf("a call with no server: %v, want ErrServerGone", err)
	}

	s := serveLocal(t, newFake(), nil, testVersion)
	_, _, err = Dial(t.Context(), s.Socket(), "0.0.1")
	var ve *VersionError
	if !errors.As(err, &ve) || ve.PID != os.Getpid() || !strings.Contains(ve.Msg, "version 0.0.1 but the server") {
		t.Errorf("Dial of another version: %v (%T)", err, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobsView(t.Context(), backend.JobsQuery{}); !errors.Is(err, ErrServerGone) {
		t.Errorf("a call after the server stopped: %v, want ErrServerGone", err)
	}
	if _, err := os.Stat(s.Socket()); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after the server stopped: %v", err)
	}
}

// TestListenKeepsAFolderItDidNotMake: a socket folder Listen makes is 0700; one that was there (the
// database's) keeps its mode.
func TestListenKeepsAFolderItDidNotMake(t *testing.T) {
	dir, err := os.MkdirTemp("", "vl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sock string
		want os.FileMode
	}{{filepath.Join(dir, "s.sock"), 0o755}, {filepath.Join(dir, "new", "s.sock"), 0o700}} {
		ln, err := Listen(c.sock)
		if err != nil {
			t.Fatal(err)
		}
		_ = ln.Close()
		if st, err := os.Stat(filepath.Dir(c.sock)); err != nil || st.Mode().Perm() != c.want {
			t.Errorf("%s after Listen: %v %v, want %v", filepath.Dir(c.sock), st.Mode().Perm(), err, c.want)
		}
	}
}
