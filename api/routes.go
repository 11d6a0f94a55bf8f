package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/webhook"
	"vmmpm/wizard"
)

// OpenAPI is the API's OpenAPI 3 document, served at /api/v1/openapi.json; the tests check every answer
// against it and its operations against queue.Operations.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	auth := func(pattern, role string, h handler) {
		mux.Handle(pattern, s.authed(role, h))
		s.roles[pattern] = role
	}
	open := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, h)
		s.roles[pattern] = ""
	}
	open("GET /api/v1/health", s.health)
	open("GET /api/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	})
	auth("GET /metrics", store.RoleReader, s.metrics)
	auth("POST /api/v1/services", store.RoleOperator, s.createServices)
	auth("GET /api/v1/services", store.RoleReader, s.listServices)
	auth("GET /api/v1/services/{id}", store.RoleReader, s.getService)
	auth("POST /api/v1/services/{id}/operations", store.RoleOperator, s.operate)
	auth("GET /api/v1/jobs", store.RoleReader, s.listJobs)
	auth("GET /api/v1/jobs/{id}", store.RoleReader, s.getJob)
	auth("POST /api/v1/jobs/{id}/cancel", store.RoleOperator, s.jobAction(backend.ActionCancel))
	auth("POST /api/v1/jobs/{id}/retry", store.RoleOperator, s.jobAction(backend.ActionRetry))
	auth("GET /api/v1/tariffs", store.RoleReader, s.listTariffs)
	auth("GET /api/v1/tariffs/{id}", store.RoleReader, s.getTariff)
	auth("POST /api/v1/tariffs", store.RoleAdmin, s.saveTariff)
	auth("PATCH /api/v1/tariffs/{id}", store.RoleAdmin, s.saveTariff)
	auth("GET /api/v1/modules", store.RoleReader, s.listModules)
	auth("GET /api/v1/modules/{id}", store.RoleReader, s.getModule)
	auth("POST /api/v1/modules/{id}/check", store.RoleAdmin, s.checkModule)
	auth("POST /api/v1/modules/{id}/pause", store.RoleAdmin, s.pauseModule(true))
	auth("POST /api/v1/modules/{id}/resume", store.RoleAdmin, s.pauseModule(false))
	return mux
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, health{Status: "ok", Version: s.opt.Version})
}

type health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

func (s *Server) metrics(ctx context.Context, _ *call) (*answer, error) {
	snap, err := s.b.Stats(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := stats.WriteOpenMetrics(&buf, snap); err != nil {
		return nil, err
	}
	return &answer{status: http.StatusOK, raw: buf.Bytes(), ctype: "application/openmetrics-text; version=1.0.0; charset=utf-8"}, nil
}

// ---- services ----

// orderBody is POST /api/v1/services.
type orderBody struct {
	Tariff      json.RawMessage `json:"tariff"` // an id (number or string) or a name
	ClientEmail string          `json:"client_email"`
	ExternalID  *string         `json:"external_id,omitempty"`
	Count       *int            `json:"count,omitempty"`
}

// ordered is the answer to POST /api/v1/services: the tariff and the services made, each with the
// job that opens it.
type ordered struct {
	Tariff   store.Tariff     `json:"tariff"`
	Services []orderedService `json:"services"`
}

type orderedService struct {
	webhook.Service
	Job webhook.Job `json:"job"`
}

func (s *Server) createServices(ctx context.Context, c *call) (*answer, error) {
	var in orderBody
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tariff, err := tariffRef(in.Tariff)
	if err != nil {
		return nil, err
	}
	o := backend.OrderRequest{Tariff: tariff, ClientEmail: in.ClientEmail, Idempotency: c.idem, Count: 1}
	if in.Count != nil {
		if *in.Count < 1 {
			return nil, &apiError{status: http.StatusUnprocessableEntity, code: "invalid", field: "count", msg: fmt.Sprintf("count: must be between 1 and %d", queue.MaxCreate)}
		}
		o.Count = *in.Count
	}
	if in.ExternalID != nil {
		if *in.ExternalID == "" {
			return nil, &apiError{status: http.StatusUnprocessableEntity, code: "invalid", field: "external_id", msg: "external_id: must not be empty (leave it out for none)"}
		}
		o.ExternalID = *in.ExternalID
	}
	p, err := s.b.Order(ctx, o)
	if err != nil {
		return nil, err
	}
	out := ordered{Tariff: p.Tariff, Services: make([]orderedService, len(p.Services))}
	for i, ps := range p.Services {
		out.Services[i] = orderedService{Service: webhook.ServiceOf(&ps.Service), Job: webhook.JobOf(&ps.Job, false)}
	}
	return &answer{status: http.StatusCreated, body: out, replayed: p.Replayed}, nil
}

// tariffRef is the tariff a body names: a JSON number (its id) or a string (its id or its name).
func tariffRef(raw json.RawMessage) (string, error) {
	bad := &apiError{status: http.StatusUnprocessableEntity, code: "invalid", field: "tariff",
		msg: "tariff: must be given, as the tariff's id or its name (see GET /api/v1/tariffs)"}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", bad
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		if strings.TrimSpace(name) == "" {
			return "", bad
		}
		return name, nil
	}
	var id uint64
	if json.Unmarshal(raw, &id) == nil && id > 0 {
		return strconv.FormatUint(id, 10), nil
	}
	return "", bad
}

// servicePage is the answer to GET /api/v1/services.
type servicePage struct {
	Services []webhook.Service `json:"services"`
	// Next is the after= of the next page, absent on the last.
	Next uint64 `json:"next,omitempty"`
}

func (s *Server) listServices(ctx context.Context, c *call) (*answer, error) {
	q := c.r.URL.Query()
	sq := backend.ServiceQuery{ExternalID: q.Get("external_id"), Status: q.Get("status"), ClientEmail: q.Get("client_email")}
	var err error
	if sq.Limit, err = c.paging(map[string]*uint64{"tariff": &sq.Tariff, "after": &sq.After}); err != nil {
		return nil, err
	}
	p, err := s.b.Services(ctx, sq)
	if err != nil {
		return nil, err
	}
	out := servicePage{Services: make([]webhook.Service, len(p.Services)), Next: p.Next}
	for i := range p.Services {
		out.Services[i] = webhook.ServiceOf(&p.Services[i])
	}
	return &answer{status: http.StatusOK, body: out}, nil
}

func (s *Server) getService(ctx context.Context, c *call) (*answer, error) {
	id, err := c.id()
	if err != nil {
		return nil, err
	}
	svc, err := backend.Load[store.Service](ctx, s.b, id)
	if err != nil {
		return nil, notFound(err, "service", id, "GET /api/v1/services")
	}
	return &answer{status: http.StatusOK, body: webhook.ServiceOf(svc)}, nil
}

// notFound is the 404 of a missing record, naming it and where to look.
func notFound(err error, kind string, id uint64, list string) error {
	if classify(err).status == http.StatusNotFound {
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("there is no %s %d; see %s", kind, id, list)}
	}
	return err
}

// operationBody is POST /api/v1/services/{id}/operations: an operation of queue.Operations and its
// arguments (numbers as JSON numbers or decimal strings, the password as a string).
type operationBody struct {
	Type string                     `json:"type"`
	Args map[string]json.RawMessage `json:"args,omitempty"`
}

// jobAnswer is the answer to an operation or a job action: the job as it was then.
type jobAnswer struct {
	Job webhook.Job `json:"job"`
}

func (s *Server) operate(ctx context.Context, c *call) (*answer, error) {
	id, err := c.id()
	if err != nil {
		return nil, err
	}
	var in operationBody
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	args, err := operationArgs(in)
	if err != nil {
		return nil, err
	}
	op, err := s.b.Operate(ctx, backend.OperateRequest{Service: id, Type: in.Type, Args: args, Idempotency: c.idem})
	if err != nil {
		return nil, notFound(err, "service", id, "GET /api/v1/services")
	}
	return &answer{status: http.StatusAccepted, body: jobAnswer{Job: webhook.JobOf(&op.Job, false)}, replayed: op.Replayed}, nil
}

// operationArgs turns the body's arguments into the engine's strings, by the type queue's table gives
// each; queue.CheckArgs then judges them (names, ranges, what is required) with the CLI's sentences.
func operationArgs(in operationBody) (map[string]string, error) {
	if in.Type == "" {
		return nil, &apiError{status: http.StatusUnprocessableEntity, code: "invalid", field: "type",
			msg: fmt.Sprintf("type: must be given, one of %s", strings.Join(operationNames(), ", "))}
	}
	o, known := queue.OperationOf(in.Type)
	args := map[string]string{}
	for name, raw := range in.Args {
		a, ok := o.Arg(name)
		var str string
		isStr := json.Unmarshal(raw, &str) == nil
		switch {
		case !known || !ok:
			args[name] = string(raw) // CheckArgs names it
		case a.Type == queue.WholeNumber:
			var n json.Number
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			if isStr {
				args[name] = str
			} else if d.Decode(&n) == nil {
				args[name] = n.String()
			} else {
				return nil, &apiError{status: http.StatusUnprocessableEntity, code: "invalid", field: name,
					msg: fmt.Sprintf("%s: must be a whole number between %d and %d", name, a.Min, a.Max)}
			}
		case a.Type == queue.SecretText:
			if !isStr {
				return nil, &apiError{status: http.StatusUnprocessableEntity, code: "invalid", field: name,
					msg: fmt.Sprintf("%s: must be a string", name)}
			}
			args[name] = str
		}
	}
	if err := queue.CheckArgs(in.Type, args); err != nil {
		return nil, err
	}
	return args, nil
}

func operationNames() []string {
	var names []string
	for _, o := range queue.Operations() {
		names = append(names, o.Name)
	}
	return names
}

// ---- jobs ----

// paging reads a list's numeric query parameters into ids, by name, and its limit (at most
// backend.MaxPage).
func (c *call) paging(ids map[string]*uint64) (limit int, err error) {
	for name, dst := range ids {
		if *dst, err = c.query(name); err != nil {
			return 0, err
		}
	}
	n, err := c.query("limit")
	return int(min(n, backend.MaxPage)), err
}

type jobPage struct {
	Jobs []webhook.Job `json:"jobs"`
	Next uint64        `json:"next,omitempty"`
}

func (s *Server) listJobs(ctx context.Context, c *call) (*answer, error) {
	q := backend.JobPageQuery{State: c.r.URL.Query().Get("state")}
	var err error
	if q.Limit, err = c.paging(map[string]*uint64{"service": &q.Service, "after": &q.After}); err != nil {
		return nil, err
	}
	p, err := s.b.JobPage(ctx, q)
	if err != nil {
		return nil, err
	}
	out := jobPage{Jobs: make([]webhook.Job, len(p.Jobs)), Next: p.Next}
	for i := range p.Jobs {
		out.Jobs[i] = webhook.JobOf(&p.Jobs[i], false)
	}
	return &answer{status: http.StatusOK, body: out}, nil
}

func (s *Server) getJob(ctx context.Context, c *call) (*answer, error) {
	id, err := c.id()
	if err != nil {
		return nil, err
	}
	j, err := backend.Load[store.Job](ctx, s.b, id)
	if err != nil {
		return nil, notFound(err, "job", id, "GET /api/v1/jobs")
	}
	return &answer{status: http.StatusOK, body: webhook.JobOf(j, true)}, nil
}

func (s *Server) jobAction(action string) handler {
	return func(ctx context.Context, c *call) (*answer, error) {
		id, err := c.id()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(c.body)) > 0 {
			var none struct{}
			if err := c.decode(&none); err != nil {
				return nil, err
			}
		}
		op, err := s.b.JobAction(ctx, backend.JobActionRequest{Job: id, Action: action, Idempotency: c.idem})
		if err != nil {
			return nil, notFound(err, "job", id, "GET /api/v1/jobs")
		}
		return &answer{status: http.StatusOK, body: jobAnswer{Job: webhook.JobOf(&op.Job, false)}, replayed: op.Replayed}, nil
	}
}

// ---- tariffs and modules ----

type tariffList struct {
	Tariffs []*store.Tariff `json:"tariffs"`
}

func (s *Server) listTariffs(ctx context.Context, _ *call) (*answer, error) {
	return listRecords[store.Tariff](ctx, s.b, func(ts []*store.Tariff) any { return tariffList{Tariffs: ts} })
}

func (s *Server) getTariff(ctx context.Context, c *call) (*answer, error) {
	return getRecord[store.Tariff](ctx, s.b, c, "tariff", "GET /api/v1/tariffs")
}

// listRecords answers every record of kind T, wrapped for its key (never null: an empty list is []).
func listRecords[T any, P interface {
	*T
	store.Record
}](ctx context.Context, b backend.Backend, wrap func([]P) any) (*answer, error) {
	rows, err := backend.All[T, P](ctx, b)
	if err != nil {
		return nil, err
	}
	if rows == nil {
		rows = []P{}
	}
	return &answer{status: http.StatusOK, body: wrap(rows)}, nil
}

// getRecord answers the record of kind T the path's id names, or the not-found sentence pointing at list.
func getRecord[T any, P interface {
	*T
	store.Record
}](ctx context.Context, b backend.Backend, c *call, what, list string) (*answer, error) {
	id, err := c.id()
	if err != nil {
		return nil, err
	}
	r, err := backend.Load[T, P](ctx, b, id)
	if err != nil {
		return nil, notFound(err, what, id, list)
	}
	return &answer{status: http.StatusOK, body: r}, nil
}

// tariffSaved is the answer to a tariff's creation or change.
type tariffSaved struct {
	Tariff   *store.Tariff `json:"tariff"`
	Warnings []string      `json:"warnings"`
}

func (s *Server) saveTariff(ctx context.Context, c *call) (*answer, error) {
	var id uint64
	status := http.StatusCreated
	if c.r.PathValue("id") != "" {
		var err error
		if id, err = c.id(); err != nil {
			return nil, err
		}
		status = http.StatusOK
	}
	var spec wizard.TariffSpec
	if err := c.decode(&spec); err != nil {
		return nil, err
	}
	saved, err := s.b.SaveTariffSpec(ctx, id, &spec)
	if err != nil {
		return nil, notFound(err, "tariff", id, "GET /api/v1/tariffs")
	}
	w := saved.Warnings
	if w == nil {
		w = []string{}
	}
	return &answer{status: status, body: tariffSaved{Tariff: saved.Tariff, Warnings: w}}, nil
}

// module is a module as the API shows it: its record, which never holds a password.
type moduleList struct {
	Modules []*store.Module `json:"modules"`
}

func (s *Server) listModules(ctx context.Context, _ *call) (*answer, error) {
	return listRecords[store.Module](ctx, s.b, func(ms []*store.Module) any { return moduleList{Modules: ms} })
}

func (s *Server) getModule(ctx context.Context, c *call) (*answer, error) {
	return getRecord[store.Module](ctx, s.b, c, "module", "GET /api/v1/modules")
}

// bodiless is the id of a POST that takes no body (an empty one, or {}).
func (c *call) bodiless() (uint64, error) {
	id, err := c.id()
	if err != nil {
		return 0, err
	}
	if len(bytes.TrimSpace(c.body)) > 0 {
		var none struct{}
		if err := c.decode(&none); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// pauseModule is POST /api/v1/modules/{id}/pause and /resume: the module's activity after it.
func (s *Server) pauseModule(pause bool) handler {
	return func(ctx context.Context, c *call) (*answer, error) {
		id, err := c.bodiless()
		if err != nil {
			return nil, err
		}
		act, err := s.b.PauseModule(ctx, id, pause)
		if err != nil {
			return nil, notFound(err, "module", id, "GET /api/v1/modules")
		}
		return &answer{status: http.StatusOK, body: act}, nil
	}
}

func (s *Server) checkModule(ctx context.Context, c *call) (*answer, error) {
	id, err := c.bodiless()
	if err != nil {
		return nil, err
	}
	chk, err := s.b.CheckModule(ctx, id)
	if err != nil && chk == nil {
		return nil, notFound(err, "module", id, "GET /api/v1/modules")
	}
	return &answer{status: http.StatusOK, body: chk}, nil
}
