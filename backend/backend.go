// Package backend is the one door every command and the TUI go through to act on vmmpm's data: the
// Backend interface. Two implementations stand behind it: Local, in this process (the database, the
// keyring and, when it runs here, the engine), and server.Client, the same calls over `vmmpm serve`'s
// socket. Callers never know which one they hold.
package backend

import (
	"context"
	"time"

	"vmmpm/lease"
	"vmmpm/queue"
	"vmmpm/reconcile"
	"vmmpm/stats"
	"vmmpm/store"
	"vmmpm/vmm"
	"vmmpm/wizard"
)

// Backend is every operation a command or a screen performs. Errors keep their meaning across the
// socket: errors.Is and errors.As match the same sentinels and types (store.ErrNotFound,
// *store.ValidationError, *wizard.CheckError, vmm.Err*, …) whichever implementation returned them.
type Backend interface {
	// Info says who answers: this process (engine inside or none) or a server.
	Info(ctx context.Context) (Info, error)
	// Status is Info with job counts by state, each module's health and the engine's pause, if any.
	Status(ctx context.Context) (*Status, error)

	// List fills out (a *[]*store.T) with every record of kind (a store bucket name, see KindOf).
	List(ctx context.Context, kind string, out any) error
	// Listing is List for a listing that names what its rows refer to: it also names every data
	// center, department, module and tariff by id, so the listing is one call.
	Listing(ctx context.Context, kind string, out any) (*Names, error)
	// Get fills out (a *store.T) with record id of kind, or returns an error wrapping store.ErrNotFound.
	Get(ctx context.Context, kind string, id uint64, out any) error
	// Save adds (id 0) or replaces a data center, department or tariff under the store's rules and
	// sets r's id. Warnings are sentences the admin should read.
	Save(ctx context.Context, r store.Record) (warnings []string, err error)
	// Delete removes a data center, department, tariff or module (with its password) under the rules.
	Delete(ctx context.Context, kind string, id uint64) (warnings []string, err error)
	// CloseTasks closes every task of ids, or none.
	CloseTasks(ctx context.Context, ids []uint64) error

	// Catalog is what the Add wizard validates against.
	Catalog(ctx context.Context) (*wizard.Catalog, error)
	// CheckIntegration is the wizard's step-3 login: with password, or when it is empty the stored
	// password of module stored (editing), which only the side holding the keyring can read.
	CheckIntegration(ctx context.Context, in wizard.Integration, password string, stored uint64) (*wizard.CheckResult, error)
	// CheckPlacement checks a draft's data center and cluster against the module's live services.
	CheckPlacement(ctx context.Context, d *wizard.Draft) error
	// AddPlacement adds a data center and/or department from the wizard (empty names are skipped).
	AddPlacement(ctx context.Context, dataCenter, department string) (*Placement, error)
	// SaveModule saves a checked draft and its password, both or neither: a new module when d.ID is 0,
	// else over module d.ID (an empty password keeps the stored one).
	SaveModule(ctx context.Context, d *wizard.Draft, password string) (*store.Module, error)
	// AddModule is `module add --spec`: the whole Add flow on the side holding the database and the
	// keyring (validation, the live login, the cluster, the atomic save of module and password).
	AddModule(ctx context.Context, spec *wizard.Spec, password string) (*ModuleAdded, error)
	// SaveTariffSpec is `tariff add --spec` (id 0) and `tariff edit ID --spec`: the spec's fields over
	// the tariff, its data center resolved by name or id, checked against the modules' VMmanager.
	SaveTariffSpec(ctx context.Context, id uint64, spec *wizard.TariffSpec) (*TariffSaved, error)
	// SetModule applies typed changes to module id's settings, logging in first when a live setting
	// changed; the warnings are sentences the admin should read.
	SetModule(ctx context.Context, id uint64, ch *wizard.ModuleChanges) (*store.Module, []string, error)
	// ModuleImages lists what module id's VMmanager offers a tariff (OS images, recipes).
	ModuleImages(ctx context.Context, id uint64) (*wizard.Images, error)
	// CheckModule logs in with the stored password and records the result.
	CheckModule(ctx context.Context, id uint64) (*store.Check, error)
	// DeepCheck runs the deep check against module id's VMmanager and keeps its outcome with the
	// module: read-only, or with o.Write also on a throwaway VM it creates and removes.
	DeepCheck(ctx context.Context, id uint64, o DeepOptions) (*vmm.Report, error)
	// SetPassword checks password live against the module's VMmanager, then keeps it in the keyring.
	SetPassword(ctx context.Context, id uint64, password string) error

	// Jobs lists jobs matching q, oldest first, with the names of the records they refer to.
	Jobs(ctx context.Context, q JobQuery) (*JobList, error)
	// JobsView is one screenful of the jobs pane: the window's jobs with their lane positions, the
	// counts, the module names, and where the pinned job went; a filter runs here, over a bounded
	// number of the newest jobs.
	JobsView(ctx context.Context, q JobsQuery) (*JobsView, error)
	// JobDetail is one job, whole, with its place in its lane.
	JobDetail(ctx context.Context, id uint64) (*JobDetail, error)
	Enqueue(ctx context.Context, serviceID uint64, op string, args map[string]string) (*store.Job, error)
	// CreateServices orders count services of tariff (its id or name, resolved here) for client and
	// queues their opens.
	CreateServices(ctx context.Context, tariff string, count int, client string) (*Ordered, error)
	// Cancel ends a job: one that has not started at once, a running one once the engine has stopped
	// waiting for VMmanager (its record then names the task VMmanager may still run).
	Cancel(ctx context.Context, jobID uint64) error
	// Retry queues a failed job again. A job VMmanager refused for good says so in JobDetail (Refusal):
	// callers ask before they retry one.
	Retry(ctx context.Context, jobID uint64) error

	// PauseModule pauses module id (pause) or resumes it: while paused none of its operations starts,
	// running ones finish and queued ones wait; the pause outlives restarts. The answer is the module's
	// activity after the change.
	PauseModule(ctx context.Context, id uint64, pause bool) (*ModuleActivity, error)
	// ModuleActivity is what of module id runs and waits now, with its pause (module drain's progress).
	ModuleActivity(ctx context.Context, id uint64) (*ModuleActivity, error)

	// Stats is the figures of the lanes view and `vmmpm stats`: lanes, per-module throughput, errors.
	Stats(ctx context.Context) (*stats.Snapshot, error)

	// Reconcile (package reconcile): VMmanager's clusters against the records, and what to do about it.
	// ReconcileScan reads each module's cluster (q.Module's only, when set) and compares; it writes
	// nothing to VMmanager and keeps each module's outcome as its last scan. progress, when set, hears
	// how far it got (attached, the server streams it); cancelling ctx stops the scan.
	ReconcileScan(ctx context.Context, q reconcile.Query, progress func(reconcile.Progress)) (*reconcile.Report, error)
	// ReconcileAct does an action on findings (a.Confirm set: imports and the other changes are queued
	// as jobs in their services' lanes, marks are written) or says what it would do (nothing written).
	ReconcileAct(ctx context.Context, a reconcile.Action) (*reconcile.Acted, error)
	// ReconcileLast is each module's last scan: when, its counts, what could not be read.
	ReconcileLast(ctx context.Context) ([]reconcile.Summary, error)

	// Events streams engine events with Seq greater than since until ctx ends or the stream breaks
	// (the channel is then closed). An Event with Reset set means events were lost: re-read. With light
	// set, job and lane events that arrive together come as one notice (Covers, the last Seq): enough for
	// a watcher that re-reads what it shows (the TUI), and far cheaper to read; engine state and module
	// health events still come whole.
	Events(ctx context.Context, since uint64, light bool) (<-chan Event, error)

	// ---- billing over HTTPS: orders, operations, tokens, webhooks, the audit trail (api.go) ----

	// Order creates services as billing orders them: with billing's own external_id, and once per
	// idempotency key (a repeat gets the first answer again, Replayed set).
	Order(ctx context.Context, o OrderRequest) (*Placed, error)
	// Operate enqueues an operation on a service, once per idempotency key.
	Operate(ctx context.Context, o OperateRequest) (*Operated, error)
	// JobAction cancels or retries a job, once per idempotency key.
	JobAction(ctx context.Context, a JobActionRequest) (*Operated, error)
	// Services is one page of the services matching q (by external_id: one read).
	Services(ctx context.Context, q ServiceQuery) (*ServicePage, error)
	// JobPage is one page of the jobs matching q.
	JobPage(ctx context.Context, q JobPageQuery) (*JobPage, error)
	// AddToken makes an API token; the answer holds the token itself, which is kept nowhere.
	AddToken(ctx context.Context, r TokenRequest) (*TokenAdded, error)
	Tokens(ctx context.Context) ([]store.Token, error)
	RemoveToken(ctx context.Context, name string) error
	// Authenticate is the token whose secret is secret when it is known, unexpired and its role allows
	// role; else an error matching ErrUnauthenticated or ErrForbidden.
	Authenticate(ctx context.Context, secret, role string) (*store.Token, error)
	// AddWebhook adds a webhook with its secret in the keyring (both or neither).
	AddWebhook(ctx context.Context, r WebhookRequest) (*WebhookAdded, error)
	Webhooks(ctx context.Context) ([]store.Webhook, error)
	// RemoveWebhook removes a webhook, its pending deliveries and its secret.
	RemoveWebhook(ctx context.Context, id uint64) error
	// SetWebhookSecret keeps webhook id's signing secret in this side's keyring: how a second host of a
	// shared database gets the secret that webhook add made on another (its deliveries wait until then).
	SetWebhookSecret(ctx context.Context, id uint64, secret string) error
	// TestWebhook queues a webhook.test delivery to one webhook.
	TestWebhook(ctx context.Context, id uint64) (*store.Delivery, error)
	Deliveries(ctx context.Context, q DeliveryQuery) ([]store.Delivery, error)
	Audit(ctx context.Context, q AuditQuery) ([]store.AuditEntry, error)

	// Backup writes a verified copy of the database to r.Path (absolute; backup.go).
	Backup(ctx context.Context, r BackupRequest) (*store.BackupInfo, error)

	// Close releases what the backend holds (the database, the connection).
	Close() error
}

// Modes of Info.
const (
	ModeDirect   = "direct"   // this process holds the database; no engine runs here
	ModeEngine   = "engine"   // this process holds the database and runs the engine
	ModeAttached = "attached" // a `vmmpm serve` answers over its socket
)

// Info describes who answers.
type Info struct {
	Mode    string    `json:"mode"`
	Version string    `json:"version"`
	PID     int       `json:"pid"`
	DB      string    `json:"db"`
	Socket  string    `json:"socket,omitempty"`
	Started time.Time `json:"started"`
	// Secrets says where passwords live (the keyring, or memory only in --demo).
	Secrets string `json:"secrets"`
	// Engine names, in ModeReadOnly, the host whose engine runs the jobs this view reads ("" while
	// no engine holds the lease).
	Engine string `json:"engine,omitempty"`
	// FirstEvent is the number of the first event this server sent (0 in this process): a watcher
	// that finds a new server resumes from just before it and misses nothing the server did.
	FirstEvent uint64 `json:"first_event,omitempty"`
	// API is where vmmpm serve --listen answers the HTTPS API ("https://127.0.0.1:8443"), and
	// Fingerprint the SHA-256 of its certificate, which clients pin ("" without TLS).
	API         string `json:"api,omitempty"`
	Fingerprint string `json:"tls_fingerprint,omitempty"`
}

// Status is what `vmmpm status` prints.
type Status struct {
	Info
	Server bool                          `json:"server"`
	Jobs   map[string]int                `json:"jobs"`
	Counts map[uint64]queue.ModuleCounts `json:"counts"`
	// Modules is each module's health, by id.
	Modules []ModuleHealth `json:"modules"`
	// Engine is the engine's own state: paused on the disk, jobs waiting for the keyring (zero when it
	// runs normally or no engine runs here).
	Engine queue.Status `json:"engine"`
	// Backups is serve's daily backups (--backup-dir), nil when it takes none.
	Backups *BackupStatus `json:"backups,omitempty"`
	// Keyring is why passwords cannot be read or kept now (a locked keyring, no Secret Service), or "".
	Keyring string `json:"keyring,omitempty"`
	// WebhooksLacking are the webhooks whose signing secret this side's keyring does not give (a
	// second host of a shared database not given it yet), or gives another one than the webhook was
	// added with: their deliveries wait here.
	WebhooksLacking []uint64 `json:"webhooks_lacking_secret,omitempty"`
	// Quarantined is how many unreadable records were put in quarantine (vmmpm check lists them).
	Quarantined int `json:"quarantined,omitempty"`
	// ReconcileLooks is how many services are flagged for a reconcile look (queue.Looks).
	ReconcileLooks int `json:"reconcile_looks,omitempty"`
	// Engines are the engines of a database kept on PostgreSQL (host, pid, version, lanes held, last
	// renewal); absent on a bbolt file.
	Engines []lease.EngineInfo `json:"engines,omitempty"`
}

// ModuleHealth is one module's state as the engine sees it.
type ModuleHealth struct {
	ID        uint64       `json:"id"`
	Name      string       `json:"name"`
	Enabled   bool         `json:"enabled"`
	Healthy   bool         `json:"healthy"`
	Health    string       `json:"health,omitempty"`
	LastCheck *store.Check `json:"last_check,omitempty"`
	// Logins is the engine's logins to the module's VMmanager in the current session period; absent
	// when no engine runs in the answering process (see stats.Module.Logins).
	Logins *stats.Logins `json:"logins,omitempty"`
	// Reconcile is the module's last reconcile scan, if any.
	Reconcile *reconcile.Summary `json:"reconcile,omitempty"`
	// Paused is the module's pause (module pause), if any.
	Paused *queue.ModulePause `json:"paused,omitempty"`
}

// Placement is what AddPlacement made: the new ids (0 when not asked) and the catalog after it.
type Placement struct {
	DataCenterID uint64          `json:"datacenter_id"`
	DepartmentID uint64          `json:"department_id"`
	Catalog      *wizard.Catalog `json:"catalog"`
}

// JobQuery filters Jobs; zero fields match everything.
type JobQuery struct {
	State  string `json:"state,omitempty"`
	Module uint64 `json:"module,omitempty"`
	// Since keeps jobs enqueued at or after it; Limit keeps only the newest Limit of those that match.
	Since time.Time `json:"since,omitzero"`
	Limit int       `json:"limit,omitempty"`
}

// Match reports whether j passes the filter (Limit aside).
func (q JobQuery) Match(j *store.Job) bool {
	return (q.State == "" || j.State == q.State) && (q.Module == 0 || j.ModuleID == q.Module) &&
		(q.Since.IsZero() || !j.EnqueuedAt.Before(q.Since))
}

// Names names the records listings refer to, by id.
type Names struct {
	DataCenters map[uint64]string `json:"datacenters"`
	Departments map[uint64]string `json:"departments"`
	Modules     map[uint64]string `json:"modules"`
	Tariffs     map[uint64]string `json:"tariffs"`
}

// JobList is Jobs' answer.
type JobList struct {
	Jobs  []*store.Job `json:"jobs"`
	Names *Names       `json:"names"`
}

// Ordered is what CreateServices made: the tariff it resolved and the services, opens queued.
type Ordered struct {
	Tariff   *store.Tariff   `json:"tariff"`
	Services []store.Service `json:"services"`
}

// LanePos is an unfinished job's queue key and how many jobs are ahead of it in its lane (-1: the job
// is finished, or its place is not known yet).
type LanePos struct {
	Lane  string `json:"lane"`
	Ahead int    `json:"ahead"`
}

// Event is an engine event as a client sees it.
type Event struct {
	queue.Event
	// Reset: events before this one were lost (the client was too slow, or the server restarted
	// beyond what it keeps); re-read counts and pages instead of trusting a tally.
	Reset bool `json:"reset,omitempty"`
	// Covers, on a light stream, is a notice standing for that many job and lane events up to Seq.
	Covers int `json:"covers,omitempty"`
}

// KindOf is the kind name of record type P, as List, Get and Delete take it.
func KindOf[T any, P record[T]]() string {
	return string(P(new(T)).Bucket())
}

// All lists every record of type T through b.
func All[T any, P record[T]](ctx context.Context, b Backend) ([]P, error) {
	var out []P
	err := b.List(ctx, KindOf[T, P](), &out)
	return out, err
}

// Load reads record id of type T through b.
func Load[T any, P record[T]](ctx context.Context, b Backend, id uint64) (P, error) {
	out := P(new(T))
	if err := b.Get(ctx, KindOf[T, P](), id, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeepOptions are the deep check's choices. Write runs the --write probes: a throwaway VM on the
// module's cluster through every operation the engine uses, removed at the end (for a staging VMmanager).
type DeepOptions struct {
	Write bool `json:"write,omitempty"`
}
