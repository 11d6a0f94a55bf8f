package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"vmmpm/backend"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

// MaxInFlight bounds the calls served at once; more are answered 429 at once, so a client flooding
// the socket cannot starve the others or grow the server's memory.
const MaxInFlight = 64

// Server serves a backend (the Local one holding the database and running the engine) on a socket.
type Server struct {
	backend backend.Backend
	version string
	socket  string
	log     *slog.Logger
	hub     *hub
	slots   chan struct{}
	http    *http.Server
	// stopEvents ends the gathering of the backend's events New started.
	stopEvents context.CancelFunc
	// api and fingerprint say where the HTTPS API answers (SetAPI), for status.
	api, fingerprint string
	// peers counts each process's calls in progress (take).
	peersMu sync.Mutex
	peers   map[int]int
}

// New builds the server for b and starts gathering b's events at once (so start the engine after New:
// nothing it does is missed); the hub keeps the recent ones so a client that reconnects resumes where
// it left off, and numbers them on from where an earlier server stopped (seqs, the database; nil
// numbers from 1). Serve answers calls; the gathering ends when Serve returns.
func New(b backend.Backend, seqs SeqStore, version, socket string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{backend: b, version: version, socket: socket, log: log, slots: make(chan struct{}, MaxInFlight),
		peers: map[int]int{}}
	s.hub = newHub(HubKeep, ClientBuffer)
	s.hub.onError = func(err error) { log.Error("cannot reserve event numbers", "error", err.Error()) }
	if err := s.hub.restore(seqs); err != nil {
		return nil, err
	}
	evCtx, stopEvents := context.WithCancel(context.Background())
	events, err := b.Events(evCtx, 0, false)
	if err != nil {
		stopEvents()
		return nil, err
	}
	s.stopEvents = stopEvents
	go s.hub.run(events)
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ConnContext:       withPeer,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve answers on ln until ctx ends; then it stops
// taking calls, ends the event streams and returns once the calls in progress are answered (at most
// grace).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	defer s.stopEvents()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.hub.shutdown()
	shut, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.http.Shutdown(shut)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = s.http.Close()
		err = nil
	}
	return err
}

type peerKey struct{}    // the connecting process's uid (int), for the peer check
type peerPIDKey struct{} // its pid (int), for its share of the calls in flight

// withPeer records the connecting process's uid and pid as the kernel gives them.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uid, pid, err := peerCred(c)
	if err != nil {
		uid, pid = -1, 0
	}
	return context.WithValue(context.WithValue(ctx, peerKey{}, uid), peerPIDKey{}, pid)
}

// Handler is the HTTP side: the peer and version checks, then the call or the event stream.
func (s *Server) Handler() http.Handler {
	calls := s.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { // a panic in one call ends that call with the crash report's sentence, not the server
			if err := store.Recovered(recover()); err != nil {
				s.log.Error("call panicked", "path", r.URL.Path, "report", err.Error())
				fail(w, http.StatusInternalServerError, err.Error())
			}
		}()
		uid, known := r.Context().Value(peerKey{}).(int)
		if !known {
			uid = -1 // served without withPeer: an unknown peer is not served
		}
		if uid != os.Getuid() && uid != 0 {
			s.log.Warn("refused a connection from another user", "uid", uid)
			fail(w, http.StatusForbidden, fmt.Sprintf("this vmmpm server serves only user %d (and root); "+
				"run vmmpm as that user", os.Getuid()))
			return
		}
		caller := backend.UserCaller(uid, backend.ViaSocket)
		r = r.WithContext(backend.WithCaller(r.Context(), caller))
		w.Header().Set(versionHeader, s.version)
		w.Header().Set(pidHeader, strconv.Itoa(os.Getpid()))
		if v := r.Header.Get(versionHeader); v != s.version {
			fail(w, http.StatusConflict, versionSentence(v, s.version, os.Getpid()))
			return
		}
		if r.URL.Path == eventsPath {
			s.events(w, r)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
		call, known := calls[name]
		switch {
		case !ok || !known:
			fail(w, http.StatusNotFound, fmt.Sprintf("vmmpm has no call %q; client and server may be different builds", r.URL.Path))
			return
		case r.Method != http.MethodPost:
			fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes POST, not %s", r.URL.Path, r.Method))
			return
		}
		// The body is read before a slot is taken, within BodyTimeout: a client that sends headers and
		// stalls holds a connection, never a share of the calls in flight.
		body, status, msg := readBody(w, r)
		if msg != "" {
			fail(w, status, msg)
			return
		}
		pid, _ := r.Context().Value(peerPIDKey{}).(int)
		release, msg := s.take(pid)
		if msg != "" {
			fail(w, http.StatusTooManyRequests, msg)
			return
		}
		defer release()
		if !call.read {
			s.log.Info("call", "name", name, "by", caller.String())
		}
		if call.stream != nil {
			call.stream(r.Context(), body, w)
			return
		}
		status, env := call.serve(r.Context(), body)
		writeJSON(w, status, env)
	})
}

// BodyTimeout bounds reading a call's body once its headers arrived (ReadHeaderTimeout bounds those).
var BodyTimeout = 10 * time.Second

// readBody reads a call's body within BodyTimeout and MaxBody; on failure it says the status and the
// sentence to answer.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, string) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	var timeout net.Error
	switch {
	case err == nil:
		_ = rc.SetReadDeadline(time.Time{}) // a call may run long; the deadline stays on a failed read,
		return body, 0, ""                  // so net/http's drain of the rest cannot hang
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than %d bytes", MaxBody)
	case errors.As(err, &timeout) && timeout.Timeout():
		return nil, http.StatusRequestTimeout, fmt.Sprintf("the request's body did not arrive within %s", BodyTimeout)
	}
	return nil, http.StatusBadRequest, "the request could not be read: " + err.Error()
}

// PeerShare is how many of the MaxInFlight calls one process may have in progress, so a client that
// floods the socket slows itself, not the others.
const PeerShare = MaxInFlight / 4

// take reserves a call's place: one of the server's MaxInFlight and one of pid's PeerShare (pid 0:
// not known, counted as one peer). It says why when there is none.
func (s *Server) take(pid int) (release func(), refusal string) {
	s.peersMu.Lock()
	if s.peers[pid] >= PeerShare {
		s.peersMu.Unlock()
		return nil, fmt.Sprintf("this process has %d calls in progress on the vmmpm server, its share; wait for them to end", PeerShare)
	}
	s.peers[pid]++
	s.peersMu.Unlock()
	leave := func() {
		s.peersMu.Lock()
		if s.peers[pid]--; s.peers[pid] == 0 {
			delete(s.peers, pid)
		}
		s.peersMu.Unlock()
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots; leave() }, ""
	default:
		leave()
		return nil, "the vmmpm server is answering too many calls at once; try again in a moment"
	}
}

// call is one route: its handler and the Go types of its request and answer (the wire-names test
// walks them).
type call struct {
	serve     func(ctx context.Context, body []byte) (int, *envelope)
	req, resp reflect.Type
	// read: the call changes nothing, so the log does not name it (a TUI reads every second).
	read bool
	// stream, when set, answers instead of serve: newline-delimited JSON, progress lines and then the
	// envelope (reconcile_scan).
	stream func(ctx context.Context, body []byte, w http.ResponseWriter)
}

// reads marks calls that change nothing; the others are logged with their caller.
func reads(c call) call { c.read = true; return c }

// rpc adapts a typed function to a call: strict decoding of the body (unknown fields refused), the
// result and error in the envelope.
func rpc[Req, Resp any](fn func(ctx context.Context, req *Req) (Resp, error)) call {
	return call{req: reflect.TypeFor[Req](), resp: reflect.TypeFor[Resp](), serve: func(ctx context.Context, body []byte) (int, *envelope) {
		req := new(Req)
		if len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(req); err != nil {
				return http.StatusBadRequest, &envelope{Error: &backend.WireError{Message: "the request is not valid JSON for this call: " + err.Error()}}
			}
		}
		resp, err := fn(ctx, req)
		env := &envelope{}
		if b, merr := json.Marshal(resp); merr == nil && string(b) != "null" {
			env.Result = b
		}
		if err != nil {
			env.Error = backend.Encode(err)
			return http.StatusUnprocessableEntity, env
		}
		return http.StatusOK, env
	}}
}

func (s *Server) routes() map[string]call {
	m := s.baseRoutes()
	for name, c := range s.apiRoutes() {
		m[name] = c
	}
	for name, c := range s.backupRoutes() {
		m[name] = c
	}
	for name, c := range s.pauseRoutes() {
		m[name] = c
	}
	return m
}

func (s *Server) baseRoutes() map[string]call {
	b := s.backend
	return map[string]call{
		"hello": reads(rpc(func(ctx context.Context, _ *noArgs) (backend.Info, error) { return s.info(ctx) })),
		"status": reads(rpc(func(ctx context.Context, _ *noArgs) (*backend.Status, error) {
			st, err := b.Status(ctx)
			if err == nil {
				st.Info, err = s.info(ctx)
				st.Server = true
			}
			return st, err
		})),
		"list": reads(rpc(func(ctx context.Context, a *kindArgs) (any, error) {
			out := backend.NewList(a.Kind)
			if out == nil {
				return nil, unknownKind(a.Kind)
			}
			return out, b.List(ctx, a.Kind, out)
		})),
		"listing": reads(rpc(func(ctx context.Context, a *kindArgs) (*listingResult, error) {
			out := backend.NewList(a.Kind)
			if out == nil {
				return nil, unknownKind(a.Kind)
			}
			names, err := b.Listing(ctx, a.Kind, out)
			return &listingResult{Records: out, Names: names}, err
		})),
		"get": reads(rpc(func(ctx context.Context, a *recordArgs) (store.Record, error) {
			r := backend.NewRecord(a.Kind)
			if r == nil {
				return nil, unknownKind(a.Kind)
			}
			return r, b.Get(ctx, a.Kind, a.ID, r)
		})),
		"save": rpc(func(ctx context.Context, a *saveArgs) (*saveResult, error) {
			r := backend.NewRecord(a.Kind)
			if r == nil {
				return nil, unknownKind(a.Kind)
			}
			if err := json.Unmarshal(a.Record, r); err != nil {
				return nil, fmt.Errorf("the record is not a valid %s: %w", a.Kind, err)
			}
			warnings, err := b.Save(ctx, r)
			rec, _ := json.Marshal(r)
			return &saveResult{Record: rec, Warnings: warnings}, err
		}),
		"delete": rpc(func(ctx context.Context, a *recordArgs) (warningsResult, error) {
			w, err := b.Delete(ctx, a.Kind, a.ID)
			return warningsResult{Warnings: w}, err
		}),
		"close_tasks": rpc(func(ctx context.Context, a *idsArgs) (any, error) { return nil, b.CloseTasks(ctx, a.IDs) }),
		"catalog":     reads(rpc(func(ctx context.Context, _ *noArgs) (any, error) { return b.Catalog(ctx) })),
		"save_module": rpc(func(ctx context.Context, a *saveModuleArgs) (*store.Module, error) {
			if a.Draft == nil {
				return nil, errors.New("the request has no draft module")
			}
			return b.SaveModule(ctx, a.Draft, a.Password)
		}),
		"add_module": rpc(func(ctx context.Context, a *addModuleArgs) (*backend.ModuleAdded, error) {
			return b.AddModule(ctx, a.Spec, a.Password)
		}),
		"save_tariff_spec": rpc(func(ctx context.Context, a *tariffSpecArgs) (*backend.TariffSaved, error) {
			return b.SaveTariffSpec(ctx, a.ID, a.Spec)
		}),
		"check_integration": reads(rpc(func(ctx context.Context, a *checkArgs) (*wizard.CheckResult, error) {
			return b.CheckIntegration(ctx, a.Integration, a.Password, a.Stored)
		})),
		"check_placement": reads(rpc(func(ctx context.Context, d *wizard.Draft) (any, error) { return nil, b.CheckPlacement(ctx, d) })),
		"add_placement": rpc(func(ctx context.Context, a *placementArgs) (*backend.Placement, error) {
			return b.AddPlacement(ctx, a.DataCenter, a.Department)
		}),
		"module_images": reads(rpc(func(ctx context.Context, a *idArgs) (*wizard.Images, error) { return b.ModuleImages(ctx, a.ID) })),
		"set_module": rpc(func(ctx context.Context, a *setModuleArgs) (*moduleResult, error) {
			m, w, err := b.SetModule(ctx, a.ID, a.Changes)
			return &moduleResult{Module: m, Warnings: w}, err
		}),
		"check_module": rpc(func(ctx context.Context, a *idArgs) (*store.Check, error) { return b.CheckModule(ctx, a.ID) }),
		"deep_check": rpc(func(ctx context.Context, a *deepArgs) (*vmm.Report, error) {
			return b.DeepCheck(ctx, a.ID, a.DeepOptions)
		}),
		"set_password": rpc(func(ctx context.Context, a *passwordArgs) (any, error) {
			return nil, b.SetPassword(ctx, a.ID, a.Password)
		}),
		"jobs":       reads(rpc(func(ctx context.Context, q *backend.JobQuery) (*backend.JobList, error) { return b.Jobs(ctx, *q) })),
		"jobs_view":  reads(rpc(func(ctx context.Context, q *backend.JobsQuery) (*backend.JobsView, error) { return b.JobsView(ctx, *q) })),
		"job_detail": reads(rpc(func(ctx context.Context, a *idArgs) (*backend.JobDetail, error) { return b.JobDetail(ctx, a.ID) })),
		"enqueue": rpc(func(ctx context.Context, a *enqueueArgs) (*store.Job, error) {
			return b.Enqueue(ctx, a.Service, a.Op, a.Args)
		}),
		"create_services": rpc(func(ctx context.Context, a *createArgs) (*backend.Ordered, error) {
			return b.CreateServices(ctx, a.Tariff, a.Count, a.Client)
		}),
		"cancel": rpc(func(ctx context.Context, a *idArgs) (any, error) { return nil, b.Cancel(ctx, a.ID) }),
		"retry":  rpc(func(ctx context.Context, a *idArgs) (any, error) { return nil, b.Retry(ctx, a.ID) }),
		"stats":  reads(rpc(func(ctx context.Context, _ *noArgs) (*stats.Snapshot, error) { return b.Stats(ctx) })),
		// A scan writes only its outcome to the database, and reads VMmanager: logged, as it may be long.
		"reconcile_scan": streamed(func(ctx context.Context, q *reconcile.Query, progress func(reconcile.Progress)) (*reconcile.Report, error) {
			return b.ReconcileScan(ctx, *q, progress)
		}),
		"reconcile_act": rpc(func(ctx context.Context, a *reconcile.Action) (*reconcile.Acted, error) {
			return b.ReconcileAct(ctx, *a)
		}),
		"reconcile_last": reads(rpc(func(ctx context.Context, _ *noArgs) ([]reconcile.Summary, error) {
			return b.ReconcileLast(ctx)
		})),
	}
}

// streamLine is one line of a streamed answer: progress, or at the end the envelope.
type streamLine struct {
	Progress *reconcile.Progress `json:"progress,omitempty"`
	envelope
}

// streamed adapts a call with progress to a streamed route: the body decoded strictly, a line per
// progress report (flushed at once), and the result and error as the last line.
func streamed[Req, Resp any, P any](fn func(ctx context.Context, req *Req, progress func(P)) (Resp, error)) call {
	c := call{req: reflect.TypeFor[Req](), resp: reflect.TypeFor[streamLine]()}
	c.stream = func(ctx context.Context, body []byte, w http.ResponseWriter) {
		req := new(Req)
		if len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(req); err != nil {
				writeJSON(w, http.StatusBadRequest, &envelope{Error: &backend.WireError{Message: "the request is not valid JSON for this call: " + err.Error()}})
				return
			}
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		enc := json.NewEncoder(w)
		var mu sync.Mutex
		resp, err := fn(ctx, req, func(p P) {
			mu.Lock()
			defer mu.Unlock()
			line := map[string]any{"progress": p}
			if enc.Encode(line) == nil && flusher != nil {
				flusher.Flush()
			}
		})
		env := &envelope{}
		if b, merr := json.Marshal(resp); merr == nil && string(b) != "null" {
			env.Result = b
		}
		if err != nil {
			env.Error = backend.Encode(err)
		}
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(env)
	}
	return c
}

func (s *Server) info(ctx context.Context) (backend.Info, error) {
	info, err := s.backend.Info(ctx)
	info.Mode, info.Socket, info.Version = backend.ModeAttached, s.socket, s.version
	info.FirstEvent = s.hub.first()
	info.API, info.Fingerprint = s.api, s.fingerprint
	return info, err
}

func unknownKind(kind string) error {
	return &store.ValidationError{Field: store.FieldRecord, Rule: fmt.Sprintf("%q is not a kind of record vmmpm keeps", kind)}
}

// versionSentence is the refusal both sides give when their versions differ.
func versionSentence(client, server string, pid int) string {
	if client == "" {
		client = "unknown"
	}
	return fmt.Sprintf("this vmmpm is version %s but the server (pid %d) is version %s; use the same version for both "+
		"(restart vmmpm serve after an upgrade)", client, pid, server)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, &envelope{Error: &backend.WireError{Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
