package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"vmmpm/backend"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

const pidHeader = "X-Vmmpm-Pid"

// errNoServer: nothing listens on the socket (no file, or a file nobody accepts on).
var errNoServer = errors.New("no vmmpm server listens on the socket")

// VersionError is the refusal between a client and a server of different versions.
type VersionError struct {
	Msg string
	PID int
}

func (e *VersionError) Error() string { return e.Msg }

// Client is the Backend over a server's socket. Who calls travels with every call without the client
// saying so: the server reads the peer's uid from the socket (SO_PEERCRED).
type Client struct {
	socket  string
	version string
	http    *http.Client
	// info is the server's answer to the handshake, which Info gives again without asking twice.
	mu   sync.Mutex
	info *backend.Info
	// ended is why the newest event stream ended when the server went silent on it (nil otherwise).
	ended error
}

// NewClient talks to the server on socket, announcing version.
func NewClient(socket, version string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 4,
	}
	return &Client{socket: socket, version: version, http: &http.Client{Transport: tr}}
}

// Dial connects to the server on socket and checks it answers with the same version. It returns
// (nil, nil) when no server listens there.
func Dial(ctx context.Context, socket, version string) (*Client, *backend.Info, error) {
	c := NewClient(socket, version)
	info, err := c.hello(ctx)
	if errors.Is(err, errNoServer) {
		c.Close()
		return nil, nil, nil
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, info, nil
}

// Socket is where the client connects.
func (c *Client) Socket() string { return c.socket }

func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

func (c *Client) hello(ctx context.Context) (*backend.Info, error) {
	var info backend.Info
	if err := c.call(ctx, "hello", noArgs{}, &info); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.info = &info
	c.mu.Unlock()
	return &info, nil
}

// SilentAfter is how long a server may answer nothing before a call in progress, or an event stream,
// gives up on it: a server that runs answers a hello at once, and a stream's heartbeat comes every
// Heartbeat.
var SilentAfter = 3 * time.Second

// call posts args to /v1/name and decodes the result into out (when set and present). A domain
// error comes back as the error it was on the server's side. A call that lasts is watched: when the
// server stops answering a hello on another connection, it gives up with ErrNotAnswering.
func (c *Client) call(ctx context.Context, name string, args, out any) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if name != "hello" {
		stop := c.watch(ctx, cancel)
		defer stop()
	}
	err := c.post(ctx, name, args, out)
	if cause := context.Cause(ctx); errors.Is(cause, backend.ErrNotAnswering) {
		return cause
	}
	return err
}

// watch pings the server with a hello every second from the first second of a call on, and cancels
// the call with a not-answering sentence once none has answered for SilentAfter.
func (c *Client) watch(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		lastOK := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, SilentAfter)
			err := c.post(pctx, "hello", noArgs{}, nil)
			pcancel()
			var ve *VersionError
			if err == nil || errors.As(err, &ve) || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrServerGone) {
				lastOK = time.Now() // any answer means the server runs
			} else if time.Since(lastOK) >= SilentAfter {
				cancel(c.notAnswering(time.Since(lastOK)))
				return
			}
		}
	}()
	return func() { close(done) }
}

// notAnswering is the sentence for a server silent for d.
func (c *Client) notAnswering(d time.Duration) error {
	who := "the vmmpm server"
	c.mu.Lock()
	if c.info != nil {
		who = fmt.Sprintf("the vmmpm server (pid %d)", c.info.PID)
	}
	c.mu.Unlock()
	return &backend.SilentError{For: d, Msg: fmt.Sprintf("%s on %s has answered nothing for %s; it may be stopped "+
		"(kill -CONT its pid) or stuck on its disk; check it with vmmpm status, or restart it", who, c.socket, d.Round(time.Second))}
}

// post is one call's request and answer.
func (c *Client) post(ctx context.Context, name string, args, out any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://vmmpm"+pathPrefix+name, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(versionHeader, c.version)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&env); err != nil {
		return fmt.Errorf("the vmmpm server on %s gave an unreadable answer (%v); is it the same vmmpm?", c.socket, err)
	}
	if resp.StatusCode == http.StatusConflict && env.Error != nil {
		pid, _ := strconv.Atoi(resp.Header.Get(pidHeader))
		return &VersionError{Msg: env.Error.Message, PID: pid}
	}
	if out != nil && len(env.Result) > 0 {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return fmt.Errorf("the vmmpm server's answer to %s is not what this vmmpm expects: %w", name, err)
		}
	}
	if env.Error != nil {
		return backend.Decode(env.Error)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the vmmpm server answered %s to %s", resp.Status, name)
	}
	return nil
}

// ErrServerGone: the server went away (stopped or crashed) during or before a call.
var ErrServerGone = errors.New("the vmmpm server is not running")

func (c *Client) transportError(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: nothing listens on %s (start it with vmmpm serve): %w", errNoServer, c.socket, ErrServerGone)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &backend.SilentError{Cause: err, Msg: fmt.Sprintf("the vmmpm server on %s did not answer in time; it may be "+
			"stopped (kill -CONT its pid) or stuck on its disk; check it with vmmpm status, or restart it", c.socket)}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("the vmmpm server on %s did not answer (%v); is it still running? (vmmpm status): %w", c.socket, err, ErrServerGone)
}

// Info is the handshake's answer when Dial made one (who answers does not change under a client: a
// restarted server is a new Dial), else a hello now.
func (c *Client) Info(ctx context.Context) (backend.Info, error) {
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	if info != nil {
		return *info, nil
	}
	info, err := c.hello(ctx)
	if err != nil {
		return backend.Info{}, err
	}
	return *info, nil
}

func (c *Client) Status(ctx context.Context) (*backend.Status, error) {
	var st backend.Status
	return &st, c.call(ctx, "status", noArgs{}, &st)
}

func (c *Client) List(ctx context.Context, kind string, out any) error {
	return c.call(ctx, "list", kindArgs{Kind: kind}, out)
}

func (c *Client) Listing(ctx context.Context, kind string, out any) (*backend.Names, error) {
	var res listingAnswer
	if err := c.call(ctx, "listing", kindArgs{Kind: kind}, &res); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(res.Records, out); err != nil {
		return nil, fmt.Errorf("the vmmpm server's answer to listing is not what this vmmpm expects: %w", err)
	}
	return res.Names, nil
}

func (c *Client) Get(ctx context.Context, kind string, id uint64, out any) error {
	return c.call(ctx, "get", recordArgs{Kind: kind, ID: id}, out)
}

func (c *Client) Save(ctx context.Context, r store.Record) ([]string, error) {
	rec, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var res saveResult
	err = c.call(ctx, "save", saveArgs{Kind: string(r.Bucket()), Record: rec}, &res)
	if len(res.Record) > 0 {
		if uerr := json.Unmarshal(res.Record, r); uerr != nil && err == nil {
			err = uerr
		}
	}
	return res.Warnings, err
}

func (c *Client) Delete(ctx context.Context, kind string, id uint64) ([]string, error) {
	var res warningsResult
	err := c.call(ctx, "delete", recordArgs{Kind: kind, ID: id}, &res)
	return res.Warnings, err
}

func (c *Client) CloseTasks(ctx context.Context, ids []uint64) error {
	return c.call(ctx, "close_tasks", idsArgs{IDs: ids}, nil)
}

func (c *Client) Catalog(ctx context.Context) (*wizard.Catalog, error) {
	var cat wizard.Catalog
	return &cat, c.call(ctx, "catalog", noArgs{}, &cat)
}

// SaveModule sends the password over the owner-only socket; the server writes it to the keyring.
func (c *Client) SaveModule(ctx context.Context, d *wizard.Draft, password string) (*store.Module, error) {
	var m *store.Module
	err := c.call(ctx, "save_module", saveModuleArgs{Draft: d, Password: password}, &m)
	return m, err
}

// CheckIntegration logs in from the server's side, where the stored password is.
func (c *Client) CheckIntegration(ctx context.Context, in wizard.Integration, password string, stored uint64) (*wizard.CheckResult, error) {
	var res *wizard.CheckResult
	err := c.call(ctx, "check_integration", checkArgs{Integration: in, Password: password, Stored: stored}, &res)
	return res, err
}

func (c *Client) CheckPlacement(ctx context.Context, d *wizard.Draft) error {
	return c.call(ctx, "check_placement", d, nil)
}

func (c *Client) AddPlacement(ctx context.Context, dataCenter, department string) (*backend.Placement, error) {
	var p *backend.Placement
	err := c.call(ctx, "add_placement", placementArgs{DataCenter: dataCenter, Department: department}, &p)
	return p, err
}

func (c *Client) ModuleImages(ctx context.Context, id uint64) (*wizard.Images, error) {
	var im *wizard.Images
	err := c.call(ctx, "module_images", idArgs{ID: id}, &im)
	return im, err
}

func (c *Client) SetModule(ctx context.Context, id uint64, ch *wizard.ModuleChanges) (*store.Module, []string, error) {
	var res moduleResult
	err := c.call(ctx, "set_module", setModuleArgs{ID: id, Changes: ch}, &res)
	return res.Module, res.Warnings, err
}

func (c *Client) CheckModule(ctx context.Context, id uint64) (*store.Check, error) {
	var chk *store.Check
	err := c.call(ctx, "check_module", idArgs{ID: id}, &chk)
	return chk, err
}

func (c *Client) DeepCheck(ctx context.Context, id uint64, o backend.DeepOptions) (*vmm.Report, error) {
	var rep *vmm.Report
	err := c.call(ctx, "deep_check", deepArgs{ID: id, DeepOptions: o}, &rep)
	return rep, err
}

func (c *Client) SetPassword(ctx context.Context, id uint64, password string) error {
	return c.call(ctx, "set_password", passwordArgs{ID: id, Password: password}, nil)
}

func (c *Client) Jobs(ctx context.Context, q backend.JobQuery) (*backend.JobList, error) {
	var jl backend.JobList
	if err := c.call(ctx, "jobs", q, &jl); err != nil {
		return nil, err
	}
	return &jl, nil
}

func (c *Client) JobsView(ctx context.Context, q backend.JobsQuery) (*backend.JobsView, error) {
	var v backend.JobsView
	return &v, c.call(ctx, "jobs_view", q, &v)
}

func (c *Client) JobDetail(ctx context.Context, id uint64) (*backend.JobDetail, error) {
	var d backend.JobDetail
	return &d, c.call(ctx, "job_detail", idArgs{ID: id}, &d)
}

func (c *Client) Stats(ctx context.Context) (*stats.Snapshot, error) {
	var s stats.Snapshot
	return &s, c.call(ctx, "stats", noArgs{}, &s)
}

func (c *Client) Enqueue(ctx context.Context, serviceID uint64, op string, args map[string]string) (*store.Job, error) {
	var j *store.Job
	err := c.call(ctx, "enqueue", enqueueArgs{Service: serviceID, Op: op, Args: args}, &j)
	return j, err
}

func (c *Client) CreateServices(ctx context.Context, tariff string, count int, client string) (*backend.Ordered, error) {
	var o *backend.Ordered
	err := c.call(ctx, "create_services", createArgs{Tariff: tariff, Count: count, Client: client}, &o)
	return o, err
}

func (c *Client) Cancel(ctx context.Context, jobID uint64) error {
	return c.call(ctx, "cancel", idArgs{ID: jobID}, nil)
}

func (c *Client) Retry(ctx context.Context, jobID uint64) error {
	return c.call(ctx, "retry", idArgs{ID: jobID}, nil)
}

// Events opens the server's event stream after since. The channel closes when ctx ends or the stream
// breaks (server stopped, or this client fell too far behind); reopen it with the last Seq seen.
func (c *Client) Events(ctx context.Context, since uint64, light bool) (<-chan backend.Event, error) {
	url := "http://vmmpm" + eventsPath + "?since=" + strconv.FormatUint(since, 10)
	if light {
		url += "&light=1"
	}
	// The stream's own context: cancelled when its answer does not begin within SilentAfter, or when
	// it then stays silent past two heartbeats (a stopped server keeps the connection but says nothing).
	sctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, url, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	req.Header.Set(versionHeader, c.version)
	quiet := 2 * Heartbeat // a running server answers the stream's headers at once and beats every Heartbeat
	silent := time.AfterFunc(quiet, func() { cancel(c.notAnswering(quiet)) })
	resp, err := c.http.Do(req)
	silent.Stop()
	if err != nil {
		defer cancel(nil)
		if cause := context.Cause(sctx); errors.Is(cause, backend.ErrNotAnswering) {
			return nil, cause
		}
		return nil, c.transportError(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel(nil)
		defer resp.Body.Close()
		var env envelope
		if json.NewDecoder(resp.Body).Decode(&env) == nil && env.Error != nil {
			return nil, backend.Decode(env.Error)
		}
		return nil, fmt.Errorf("the vmmpm server answered %s to the event stream", resp.Status)
	}
	out := make(chan backend.Event, 256)
	silent = time.AfterFunc(quiet, func() { cancel(c.notAnswering(quiet)) })
	go func() {
		defer close(out)
		defer cancel(nil)
		defer func() { c.streamEnded(context.Cause(sctx)) }() // before out closes: the reader asks next
		defer silent.Stop()
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			silent.Reset(quiet)
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue // heartbeat
			}
			var ev backend.Event
			if json.Unmarshal(line, &ev) != nil {
				return
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// StreamEnded says why the newest event stream ended: the sentence naming a server that went silent
// on it, or nil (it ended by its context, or the server closed it). A watcher asks once the channel
// closes, so it can say "not answering" at once instead of after its next attempt also times out.
func (c *Client) StreamEnded() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

func (c *Client) streamEnded(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = nil
	if errors.Is(cause, backend.ErrNotAnswering) {
		c.ended = cause
	}
}

func (c *Client) ReconcileAct(ctx context.Context, a reconcile.Action) (*reconcile.Acted, error) {
	var out *reconcile.Acted
	err := c.call(ctx, "reconcile_act", a, &out)
	return out, err
}

func (c *Client) ReconcileLast(ctx context.Context) ([]reconcile.Summary, error) {
	var out []reconcile.Summary
	err := c.call(ctx, "reconcile_last", noArgs{}, &out)
	return out, err
}

// ReconcileScan reads the streamed answer: progress lines as they come, then the result. Cancelling
// ctx closes the connection, which stops the scan on the server.
func (c *Client) ReconcileScan(ctx context.Context, q reconcile.Query, progress func(reconcile.Progress)) (*reconcile.Report, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://vmmpm"+pathPrefix+"reconcile_scan", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set(versionHeader, c.version)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var env envelope
		if json.NewDecoder(resp.Body).Decode(&env) == nil && env.Error != nil {
			if resp.StatusCode == http.StatusConflict {
				pid, _ := strconv.Atoi(resp.Header.Get(pidHeader))
				return nil, &VersionError{Msg: env.Error.Message, PID: pid}
			}
			return nil, backend.Decode(env.Error)
		}
		return nil, fmt.Errorf("the vmmpm server answered %s to reconcile_scan", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var line struct {
			Progress *reconcile.Progress `json:"progress"`
			envelope
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("the vmmpm server on %s gave an unreadable answer (%v); is it the same vmmpm?", c.socket, err)
		}
		if line.Progress != nil {
			if progress != nil {
				progress(*line.Progress)
			}
			continue
		}
		var rep *reconcile.Report
		if len(line.Result) > 0 {
			if err := json.Unmarshal(line.Result, &rep); err != nil {
				return nil, fmt.Errorf("the vmmpm server's answer to reconcile_scan is not what this vmmpm expects: %w", err)
			}
		}
		if line.Error != nil {
			return rep, backend.Decode(line.Error)
		}
		return rep, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := sc.Err(); err != nil {
		return nil, c.transportError(err)
	}
	return nil, fmt.Errorf("the vmmpm server on %s ended the scan without an answer; is it still running? (vmmpm status): %w", c.socket, ErrServerGone)
}

var _ backend.Backend = (*Client)(nil)
