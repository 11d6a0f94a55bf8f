package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes the emulator. The zero value is a fast, well-behaved VMmanager.
type Config struct {
	AdminEmail    string           // default "admin@example.com"
	AdminPassword string           // default "demo-password"
	TaskTime      time.Duration    // how long tasks stay running; 0 = complete at the next request (the CLI defaults to 2s)
	Latency       time.Duration    // added to every API answer
	FailRate      float64          // share of mutating /vm/v3 calls answered 500 (with an error object)
	SleepEvery    int              // every Nth served request starts a burst of SleepBurst 503 answers (0 = never)
	SleepBurst    int              // default 3
	TokenTTL      time.Duration    // token lifetime from issue, not sliding (default 1h)
	Seed          int64            // rand seed for fail injection (0 = time-based)
	Now           func() time.Time // optional clock
	IPv4PoolSize  int              // addresses in each seed pool (default DefaultIPv4PoolSize)
	Quirks        []Quirk          // deliberate departures from the record, for testing --deep
	History       bool             // start with VM 1 already deleted and its finished tasks listed
	Trace         bool             // keep every request's time and route (Requests), for benchmarks
	// DeferPending keeps the task of a change sent with defer to a running VM "deferred" until the VM
	// next stops (a stop, or the stop half of a restart); it completes then, with the change.
	DeferPending bool
	// OneTaskPerVM refuses (409) a change of a VM while another of its tasks runs, as a VM busy with a
	// backup or a change started in the panel would be.
	OneTaskPerVM bool
	// SeedVMs is how many VMs nobody ordered exist at start (see Sim.SeedVMs): the VMs a VMmanager in
	// use already holds when vmmpm is adopted.
	SeedVMs int
	// ListLimit, when positive, cuts every list answer to its first ListLimit items, as a VMmanager
	// that pages its lists by default would (a test knob: no public source shows paging either way).
	ListLimit int
}

// DefaultIPv4PoolSize lets one emulator hold 10,000 VMs, each with an address on interface 0 and 1.
const DefaultIPv4PoolSize = 16384

const (
	defaultAdminEmail    = "admin@example.com"
	defaultAdminPassword = "demo-password"
	maxBodyBytes         = 1 << 20
)

// Sim is an in-memory VMmanager 6. One mutex guards everything, so any number of clients may call it.
type Sim struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	rng      *rand.Rand
	failRate float64
	failNext map[string]int
	failHost map[string]bool
	sleeping int // 503 answers still owed
	served   int // requests not answered by the sleep injection, for SleepEvery

	accounts []*account
	tokens   map[string]*token
	clusters []*cluster
	pools    []*pool
	oses     []*osImage
	recipes  []*recipe
	hosts    []*host // index id-1; deleted hosts stay with deleted set
	tasks    []*task // index id-1
	pending  taskHeap
	seq      struct{ token, ip int }

	latency   atomic.Int64 // Config.Latency, or SetLatency's (read without the lock: it is waited before it)
	seeded    int          // VMs SeedVMs made, so the next one is named on from there
	listLimit int          // Config.ListLimit, or SetListLimit's

	loginsOK, loginsFailed int
	traced                 []Request
	requests               map[string]int
	hostsCreated           map[string]int
}

// New returns an emulator holding the seed data of the package comment.
func New(cfg Config) *Sim {
	if cfg.AdminEmail == "" {
		cfg.AdminEmail = defaultAdminEmail
	}
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = defaultAdminPassword
	}
	if cfg.SleepBurst <= 0 {
		cfg.SleepBurst = 3
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.IPv4PoolSize <= 0 {
		cfg.IPv4PoolSize = DefaultIPv4PoolSize
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	s := &Sim{
		cfg:          cfg,
		now:          cfg.Now,
		rng:          rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>32|1)),
		failRate:     clamp01(cfg.FailRate),
		listLimit:    max(0, cfg.ListLimit),
		failNext:     map[string]int{},
		failHost:     map[string]bool{},
		tokens:       map[string]*token{},
		requests:     map[string]int{},
		hostsCreated: map[string]int{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.latency.Store(int64(cfg.Latency))
	s.seed()
	if cfg.History {
		s.seedHistory()
	}
	if cfg.SeedVMs > 0 {
		if _, _, err := s.seedVMs(cfg.SeedVMs); err != nil {
			panic("sim: " + err.Error()) // callers check the count against the pool size first
		}
	}
	return s
}

func clamp01(f float64) float64 { return max(0, min(1, f)) }

// Sleep makes the next n API requests answer 503, as a suspended VMmanager does; 0 wakes it.
func (s *Sim) Sleep(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sleeping = max(0, n)
}

// SetLatency changes Config.Latency for the requests that follow.
func (s *Sim) SetLatency(d time.Duration) { s.latency.Store(int64(max(d, 0))) }

// SetListLimit changes Config.ListLimit (0: lists are not cut).
func (s *Sim) SetListLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listLimit = max(0, n)
}

// SetFailRate changes the share of mutating calls answered 500.
func (s *Sim) SetFailRate(f float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRate = clamp01(f)
}

// FailNext makes the next n calls of a route such as "POST /vm/v3/host" or "POST /vm/v3/host/{id}/start"
// answer 500, whatever the fail rate.
func (s *Sim) FailNext(route string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[route] = max(0, n)
}

// FailHost makes every later host_create task of a VM with this name end "fail".
func (s *Sim) FailHost(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failHost[name] = true
}

// call is one API request being answered under the lock.
type call struct {
	s    *Sim
	r    *http.Request
	now  time.Time
	ids  []int
	body []byte
	acct *account
}

// reply is a success answer with a status other than 200.
type reply struct {
	status int
	body   any
}

func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		s.serveControl(w, r)
		return
	}
	body, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if lat := time.Duration(s.latency.Load()); lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	status, out := s.answer(r, body, rerr)
	s.writeJSON(w, status, out)
}

// answer runs the checks in the order a real instance would meet them: asleep, method, route, token,
// injected failure, then the function itself.
func (s *Sim) answer(r *http.Request, body []byte, bodyErr error) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.settle(now)
	ep, ids, pathKnown := matchRoute(r.Method, r.URL.Path)
	key := r.Method + " " + routeName(ep, pathKnown, r.URL.Path)
	s.requests[key]++
	s.trace(now, key)
	if e := s.asleep(); e != nil {
		return e.status, e.body()
	}
	c := &call{s: s, r: r, now: now, ids: ids, body: body}
	res, err := s.dispatch(c, ep, pathKnown, key, bodyErr)
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.body()
	}
	if rp, ok := res.(reply); ok {
		return rp.status, rp.body
	}
	if l, ok := res.(map[string]any); ok && s.listLimit > 0 {
		if items, ok := l["list"].([]any); ok && len(items) > s.listLimit {
			l["list"] = items[:s.listLimit]
		}
	}
	return http.StatusOK, res
}

func (s *Sim) dispatch(c *call, ep *endpoint, pathKnown bool, key string, bodyErr error) (any, error) {
	switch m := c.r.Method; {
	case m != http.MethodGet && m != http.MethodPost && m != http.MethodDelete:
		return nil, errf(http.StatusMethodNotAllowed, codeBadMethod, "method %s is not allowed: VMmanager accepts GET, POST and DELETE", m)
	case ep == nil && pathKnown:
		return nil, errf(http.StatusMethodNotAllowed, codeBadMethod, "method %s is not allowed on %s", m, c.r.URL.Path)
	case ep == nil:
		return nil, errf(http.StatusNotFound, codeNoRoute, "no API function at %s", c.r.URL.Path)
	}
	if bodyErr != nil {
		return nil, errf(http.StatusBadRequest, codeBadJSON, "request body could not be read: %v", bodyErr)
	}
	if err := s.authenticate(c, ep.auth); err != nil {
		return nil, err
	}
	if s.injectFailure(c.r.Method, key) {
		return nil, errf(http.StatusInternalServerError, codeInjected, "internal error (injected by the emulator)")
	}
	if err := s.busy(key, c.ids, c.now); err != nil {
		return nil, err
	}
	return ep.h(c)
}

// asleep answers 503 while a burst lasts; every SleepEvery-th served request starts a new one.
func (s *Sim) asleep() *apiError {
	if s.sleeping == 0 {
		s.served++
		if s.cfg.SleepEvery > 0 && s.served%s.cfg.SleepEvery == 0 {
			s.sleeping = s.cfg.SleepBurst
		}
	}
	if s.sleeping > 0 {
		s.sleeping--
		return errf(http.StatusServiceUnavailable, codeSuspended, "VMmanager is suspended after inactivity; repeat the request")
	}
	return nil
}

func (s *Sim) injectFailure(method, key string) bool {
	if n := s.failNext[key]; n > 0 {
		s.failNext[key] = n - 1
		return true
	}
	mutating := method == http.MethodPost || method == http.MethodDelete
	return mutating && strings.HasPrefix(key[len(method)+1:], "/vm/v3/") && s.failRate > 0 && s.rng.Float64() < s.failRate
}

func (s *Sim) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":5000,"msg":"emulator could not encode its answer"}}` + "\n")
	}
	out := s.renameFields(buf.Bytes())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// decodeBody reads a JSON object into dst; an empty body counts as {} since clients often send none.
// A property dst does not declare is refused with 400 naming it: ISPsystem's WHMCS module notes that
// VMmanager refuses unexpected properties, so request structs list exactly what public sources send.
func (c *call) decodeBody(dst any) error {
	b := bytes.TrimSpace(c.body)
	if len(b) == 0 {
		b = []byte("{}")
	}
	if b[0] != '{' || !json.Valid(b) {
		return errf(http.StatusBadRequest, codeBadJSON, "request body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if name, ok := unknownField(err); ok {
		return badParam(name, "unknown property %q: this function does not take it", name)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return badParam(te.Field, "parameter %s has the wrong type (%s)", te.Field, te.Value)
	}
	if err != nil {
		return badParam("", "request body is invalid: %v", err)
	}
	return nil
}

// unknownField extracts the property name from encoding/json's "json: unknown field \"x\"" error.
func unknownField(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, uerr := strconv.Unquote(rest)
	if uerr != nil {
		name = rest
	}
	return name, true
}

// flexInt accepts a JSON number or a string of digits (PHP clients send both); null or absent is 0.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*f = 0
		return nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "value " + strconv.Quote(s), Type: reflect.TypeFor[int]()}
	}
	*f = flexInt(n)
	return nil
}
