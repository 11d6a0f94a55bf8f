package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"vmmpm/backend"
	"vmmpm/store"
)

// HeaderIdempotencyKey is the header every POST may carry: the same key with the same body gets the
// first answer again and changes nothing more.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderReplayed is set on an answer given again for a repeated idempotency key.
const HeaderReplayed = "Idempotent-Replayed"

// call is one authenticated request as a handler sees it.
type call struct {
	r     *http.Request
	body  []byte
	idem  *backend.Idempotency
	token *store.Token
}

// id is the path's {id}, or a refusal naming it.
func (c *call) id() (uint64, error) {
	v := c.r.PathValue("id")
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("%q is not an id: ids are whole numbers from 1", v)}
	}
	return id, nil
}

// decode reads the body strictly into v: malformed JSON and unknown fields are refused, naming them.
func (c *call) decode(v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return &apiError{status: http.StatusBadRequest, code: "bad_json", msg: "the request has no JSON body; send one (see /api/v1/openapi.json)"}
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return nil
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ := strconv.Unquote(name)
		return &apiError{status: http.StatusBadRequest, code: "unknown_field", field: field,
			msg: fmt.Sprintf("the request has a field %s this call does not take; remove it (see /api/v1/openapi.json)", name)}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &apiError{status: http.StatusBadRequest, code: "bad_json", field: te.Field,
			msg: fmt.Sprintf("the request's field %q must be %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)}
	}
	return &apiError{status: http.StatusBadRequest, code: "bad_json", msg: "the request is not valid JSON (" + err.Error() + "); send one JSON object"}
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "a whole number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "map", k == "struct":
		return "an object"
	case k == "slice":
		return "an array"
	}
	return "a " + k
}

// query is a query parameter as a whole number (0 when absent), or a refusal naming it.
func (c *call) query(name string) (uint64, error) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, &apiError{status: http.StatusBadRequest, code: "bad_query", field: name, msg: fmt.Sprintf("the query parameter %s must be a whole number, not %q", name, v)}
	}
	return n, nil
}

// answer is what a handler returns: the status and the JSON body (or raw, for /metrics).
type answer struct {
	status   int
	body     any
	raw      []byte
	ctype    string
	replayed bool
}

type handler func(ctx context.Context, c *call) (*answer, error)

// apiError is an answer that is an error: a status, a stable code, the sentence, and the field it is
// about (when one is).
type apiError struct {
	status int
	code   string
	msg    string
	field  string
	retry  time.Duration // Retry-After, for 429
}

func (e *apiError) Error() string { return e.msg }

// errorBody is the one JSON object every error answer is.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// classify maps a backend error to its answer: the same sentence the CLI prints, and a stable code.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	e := &apiError{status: http.StatusConflict, code: "refused", msg: err.Error()}
	var ve *store.ValidationError
	switch {
	case errors.Is(err, backend.ErrUnauthenticated):
		e.status, e.code = http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, backend.ErrForbidden):
		e.status, e.code = http.StatusForbidden, "forbidden"
	case errors.Is(err, backend.ErrIdempotencyReused):
		e.status, e.code = http.StatusUnprocessableEntity, "idempotency_key_reused"
	case errors.Is(err, store.ErrNotFound):
		e.status, e.code = http.StatusNotFound, "not_found"
	case errors.As(err, &ve):
		e.status, e.code = http.StatusUnprocessableEntity, "invalid"
		if ve.Field != store.FieldRecord {
			e.field = ve.Field
		}
		if strings.Contains(ve.Rule, "does not exist") {
			e.status, e.code = http.StatusNotFound, "not_found"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.status, e.code = http.StatusServiceUnavailable, "unavailable"
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vmmpm"`)
	}
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.retry+time.Second-1)/time.Second)))
	}
	writeJSON(w, e.status, errorBody{Error: errorDetail{Code: e.code, Message: e.msg, Field: e.field}})
}

// Handler is the API: /api/v1/… and /metrics; anything else is a 404 in the same JSON.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.unrouted(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// unrouted answers a path no route has (404) or a method its route does not take (405).
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found",
			msg: fmt.Sprintf("there is no %s; the API's paths are in /api/v1/openapi.json", r.URL.Path)})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
		msg: fmt.Sprintf("%s takes %s, not %s", r.URL.Path, strings.Join(allow, " or "), r.Method)})
}

// authed wraps h: the token and its role, the in-flight bound, the body with its limit, the
// idempotency key; then h's answer or error as JSON. A refusal writes nothing anywhere.
func (s *Server) authed(role string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			writeError(w, &apiError{status: http.StatusTooManyRequests, code: "busy", retry: time.Second,
				msg: "the vmmpm server is answering too many calls at once; try again in a moment"})
			return
		}
		addr := remoteAddr(r)
		now := s.opt.Now()
		if wait := s.fails.blocked(addr, now); wait > 0 {
			writeError(w, &apiError{status: http.StatusTooManyRequests, code: "rate_limited", retry: wait,
				msg: fmt.Sprintf("too many failed authentications from %s; wait %s before trying again", addr, wait.Round(time.Second))})
			return
		}
		t, err := s.authenticate(r, role)
		if err != nil {
			ae := classify(err)
			if ae.status == http.StatusUnauthorized {
				s.fails.add(addr, now)
				s.log.Warn("refused an API call without a valid token", "addr", addr, "method", r.Method, "path", r.URL.Path)
			}
			writeError(w, ae)
			return
		}
		c := &call{r: r, token: t}
		ctx := backend.WithCaller(r.Context(), backend.TokenCaller(t.Name))
		if r.Method != http.MethodGet {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxBody))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large",
						msg: fmt.Sprintf("the request body is larger than %d bytes; send less", s.opt.MaxBody)})
					return
				}
				writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request",
					msg: "the request body could not be read (" + err.Error() + "); send it again"})
				return
			}
			c.body = body
			if key := r.Header.Get(HeaderIdempotencyKey); key != "" {
				sum := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\n" + string(body)))
				c.idem = &backend.Idempotency{Key: key, Request: hex.EncodeToString(sum[:]), Call: r.Method + " " + r.URL.Path}
			}
		}
		a, err := h(ctx, c)
		if err != nil {
			ae := classify(err)
			if r.Method != http.MethodGet {
				s.log.Info("api call refused", "by", "token "+t.Name, "method", r.Method, "path", r.URL.Path, "status", ae.status, "code", ae.code)
			}
			writeError(w, ae)
			return
		}
		if r.Method != http.MethodGet {
			s.log.Info("api call", "by", "token "+t.Name, "method", r.Method, "path", r.URL.Path, "status", a.status, "replayed", a.replayed)
		}
		if a.replayed {
			w.Header().Set(HeaderReplayed, "true")
		}
		if a.raw != nil {
			w.Header().Set("Content-Type", a.ctype)
			w.WriteHeader(a.status)
			_, _ = w.Write(a.raw)
			return
		}
		writeJSON(w, a.status, a.body)
	})
}

// authenticate checks the Bearer token against role.
func (s *Server) authenticate(r *http.Request, role string) (*store.Token, error) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return nil, &apiError{status: http.StatusUnauthorized, code: "unauthorized",
			msg: "this call needs a token: send Authorization: Bearer TOKEN (make one with vmmpm token add NAME --role " + role + ")"}
	}
	return s.b.Authenticate(r.Context(), strings.TrimSpace(secret), role)
}

func remoteAddr(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndex(host, ":"); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
