package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Product types and module kinds the wizard offers (spec §3).
const (
	ProductVPS     = "vps"
	KindVMmanager6 = "vmmanager6"
)

// Virtualization types of a VMmanager cluster.
const (
	VirtKVM = "kvm"
	VirtLXD = "lxd"
)

// When a service opened with a recipe counts as active (spec §2).
const (
	RecipeWaitOS     = "os"
	RecipeWaitRecipe = "recipe"
)

// Service statuses (spec §2).
const (
	ServiceOrdered    = "ordered"
	ServiceProcessing = "processing"
	ServiceActive     = "active"
	ServiceSuspended  = "suspended"
	ServiceDeleted    = "deleted"
	ServiceFailed     = "failed"
)

// Job types, the values of the __TYPE__ macro (spec §5).
const (
	OpOpen        = "open"
	OpSuspend     = "suspend"
	OpResume      = "resume"
	OpClose       = "close"
	OpReboot      = "reboot"
	OpReinstall   = "reinstall"
	OpSetPassword = "setpassword"
	OpSetParam    = "setparam"
)

// OpTypes lists every operation type in spec order.
var OpTypes = []string{OpOpen, OpSuspend, OpResume, OpClose, OpReboot, OpReinstall, OpSetPassword, OpSetParam}

// OpReconcile is the job type of reconcile's actions (import a VM, remove a duplicate, bring state
// back, …; Job.Args["action"] says which). It is not one of spec §5's operations: admins start it
// from `vmmpm reconcile`, never as `service OP`.
const OpReconcile = "reconcile"

// JobTypes is every job type: the operations, then reconcile's.
var JobTypes = append(append([]string(nil), OpTypes...), OpReconcile)

// Job states (spec §6).
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobRetrying  = "retrying"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// JobStates lists every job state in lifecycle order.
var JobStates = []string{JobQueued, JobRunning, JobRetrying, JobDone, JobFailed, JobCancelled}

// Finished reports whether a job in state s will not run again on its own.
func Finished(state string) bool {
	return state == JobDone || state == JobFailed || state == JobCancelled
}

// Limits shared by validation here, the wizard and the commands.
const (
	MaxNameLen       = 64
	MaxSort          = 9999
	MaxSessionTTL    = 86400
	MaxQueueCount    = 64
	MaxQueueKeyLen   = 128
	DefaultQueueKey  = "vmm6-__PMID__"
	DefaultTTL       = 3600
	DefaultMaxTries  = 8
	MaxJobLogLines   = 50
	MaxActivationCap = 1000
)

// ValidationError names the field and the rule it broke; commands map it to exit code 2.
type ValidationError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// FieldRecord is the Field of a refusal about the record as a whole; its Rule is then a full sentence.
const FieldRecord = "id"

func (e *ValidationError) Error() string {
	if e.Field == FieldRecord {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

func checkName(field, name string) error {
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	if n == 0 {
		return invalid(field, "must not be empty")
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return invalid(field, "must be at most %d characters", MaxNameLen)
	}
	return nil
}

// DataCenter is a BILLmanager data center. A VMmanager 6 module may bind only to one without an external id.
type DataCenter struct {
	ID         uint64 `json:"id"`
	Name       string `json:"name"`
	ExternalID string `json:"external_id"`
}

func (d *DataCenter) Validate() error {
	if err := checkName("name", d.Name); err != nil {
		return err
	}
	if d.ExternalID != "" && strings.TrimSpace(d.ExternalID) == "" {
		return invalid("external_id", "must not be blank (leave it out for none)")
	}
	if utf8.RuneCountInString(d.ExternalID) > MaxNameLen {
		return invalid("external_id", "must be at most %d characters", MaxNameLen)
	}
	return nil
}

// Department receives the tasks a module cannot finish on its own.
type Department struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

func (d *Department) Validate() error { return checkName("name", d.Name) }

// Cluster is the VMmanager cluster a module creates VMs in.
type Cluster struct {
	ID             uint64 `json:"id"`
	Name           string `json:"name"`
	Virtualization string `json:"virtualization"`
}

// Params are the module parameters of spec §4.
type Params struct {
	SessionTTL int    `json:"session_ttl"`
	Queue      bool   `json:"queue"`
	QueueKey   string `json:"queue_key"`
	QueueCount int    `json:"queue_count"`
}

// DefaultParams returns the spec §4 defaults.
func DefaultParams() Params {
	return Params{SessionTTL: DefaultTTL, QueueKey: DefaultQueueKey, QueueCount: 1}
}

// Validate checks ranges; the queue-key template grammar is checked by the queue package.
func (p *Params) Validate() error {
	if p.SessionTTL < 0 || p.SessionTTL > MaxSessionTTL {
		return invalid("session_ttl", "must be between 0 and %d seconds", MaxSessionTTL)
	}
	if p.QueueCount < 1 || p.QueueCount > MaxQueueCount {
		return invalid("queue_count", "must be between 1 and %d", MaxQueueCount)
	}
	if p.Queue && p.QueueKey == "" {
		return invalid("queue_key", "must not be empty when queue is on")
	}
	if len(p.QueueKey) > MaxQueueKeyLen {
		return invalid("queue_key", "must be at most %d characters", MaxQueueKeyLen)
	}
	return nil
}

// Check is the result of the last live login with a module's credentials.
type Check struct {
	At      time.Time `json:"at"`
	OK      bool      `json:"ok"`
	Message string    `json:"message,omitempty"`
}

// DeepCheck is the outcome of a module's deep check: no probe found a mismatch, or the names of those
// that did, and the probes that had nothing to compare.
type DeepCheck struct {
	At           time.Time `json:"at"`
	OK           bool      `json:"ok"`
	Probes       int       `json:"probes"`
	Differs      []string  `json:"differs,omitempty"`
	Inconclusive []string  `json:"inconclusive,omitempty"`
	Write        bool      `json:"write,omitempty"` // the --write probes ran on a throwaway VM
}

// Module is a VMmanager 6 processing module (PMID). It never holds a password: that lives in the keyring.
type Module struct {
	ID                  uint64  `json:"id"`
	Name                string  `json:"name"`
	ProductType         string  `json:"product_type"`
	Kind                string  `json:"kind"`
	URL                 string  `json:"url"`
	Username            string  `json:"username"`
	InsecureTLS         bool    `json:"insecure_tls"`
	DataCenterID        uint64  `json:"datacenter_id"`
	DepartmentID        uint64  `json:"department_id"`
	Sort                int     `json:"sort"`
	Cluster             Cluster `json:"cluster"`
	UseRecipes          bool    `json:"use_recipes"`
	RecipeWait          string  `json:"recipe_wait,omitempty"`
	AdditionalInterface bool    `json:"additional_interface"`
	Enabled             bool    `json:"enabled"`
	ActivationLimit     int     `json:"activation_limit"`
	Params              Params  `json:"params"`
	LastCheck           *Check  `json:"last_check,omitempty"`
	// LastDeep is the last deep check (validate --deep, D on Modules): when, and which probes differed.
	LastDeep *DeepCheck `json:"last_deep,omitempty"`
	// CapacityWarn is the share (percent) of a pool's addresses or of the cluster's CPU, RAM or disk
	// below which the Modules and Lanes screens and vmmpm stats warn; nil is DefaultCapacityWarn, 0 never.
	CapacityWarn *int `json:"capacity_warn,omitempty"`
	// ReconcileEvery is how often `vmmpm serve` runs the module's reconcile scan, as a duration ("6h",
	// "30m"); "0" is off and empty is DefaultReconcileEvery (see ReconcileInterval).
	ReconcileEvery string `json:"reconcile_every,omitempty"`
	// TLSPin is the SHA-256 fingerprint ("AB:CD:…", of the leaf's DER) of the one certificate vmmpm
	// accepts from this module's VMmanager, whoever signed it; checked on every connection. Not a secret.
	TLSPin string `json:"tls_pin,omitempty"`
	// TLSCAFile is a PEM file of the CAs VMmanager's certificate is verified against, read at connect.
	TLSCAFile string `json:"tls_ca_file,omitempty"`
	// AttemptTimeout bounds one attempt per operation type, "open=30m,reinstall=1h" (timeout.go).
	AttemptTimeout string `json:"attempt_timeout,omitempty"`
}

// Limits of Module.ReconcileEvery.
const (
	DefaultReconcileEvery = 6 * time.Hour
	MinReconcileEvery     = time.Minute
	MaxReconcileEvery     = 30 * 24 * time.Hour
)

// ParseReconcileEvery reads a reconcile_every value: 0 (off) or a duration between
// MinReconcileEvery and MaxReconcileEvery.
func ParseReconcileEvery(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, invalid("reconcile_every", "must be a duration such as 6h or 30m, or 0 for off, not %q", s)
	case d == 0:
		return 0, nil
	case d < MinReconcileEvery || d > MaxReconcileEvery:
		return 0, invalid("reconcile_every", "must be 0 (off) or between 1m and 720h, not %s", s)
	}
	return d, nil
}

// ReconcileInterval is how often the module's scan runs (0: never).
func (m *Module) ReconcileInterval() time.Duration {
	if m.ReconcileEvery == "" {
		return DefaultReconcileEvery
	}
	d, err := ParseReconcileEvery(m.ReconcileEvery)
	if err != nil {
		return DefaultReconcileEvery
	}
	return d
}

// DefaultCapacityWarn is the capacity warning threshold of a module that sets none (percent free).
const DefaultCapacityWarn = 10

// CapacityWarnPercent is the module's capacity warning threshold (percent free; 0: never warn).
func (m *Module) CapacityWarnPercent() int {
	if m.CapacityWarn == nil {
		return DefaultCapacityWarn
	}
	return *m.CapacityWarn
}

// Validate checks the record on its own; rules that need other records (unique name, data center
// without external id) are checked by the wizard against the store.
func (m *Module) Validate() error {
	if err := checkName("name", m.Name); err != nil {
		return err
	}
	if m.ProductType != ProductVPS {
		return invalid("product_type", "must be %q", ProductVPS)
	}
	if m.Kind != KindVMmanager6 {
		return invalid("module", "must be %q", KindVMmanager6)
	}
	if m.URL == "" {
		return invalid("url", "must not be empty")
	}
	if m.Username == "" {
		return invalid("username", "must not be empty")
	}
	if m.DataCenterID == 0 {
		return invalid("datacenter", "must be chosen")
	}
	if m.DepartmentID == 0 {
		return invalid("department", "must be chosen")
	}
	if m.Sort < 0 || m.Sort > MaxSort {
		return invalid("sort", "must be between 0 and %d", MaxSort)
	}
	if m.Cluster.ID == 0 {
		return invalid("cluster", "must be chosen")
	}
	if m.Cluster.Virtualization != VirtKVM && m.Cluster.Virtualization != VirtLXD {
		return invalid("cluster", "virtualization must be kvm or lxd")
	}
	if (m.UseRecipes || m.RecipeWait != "") && m.RecipeWait != RecipeWaitOS && m.RecipeWait != RecipeWaitRecipe {
		return invalid("recipe_wait", "must be %q or %q", RecipeWaitOS, RecipeWaitRecipe)
	}
	if m.ActivationLimit < 0 || m.ActivationLimit > MaxActivationCap {
		return invalid("activation_limit", "must be between 0 and %d", MaxActivationCap)
	}
	if m.ReconcileEvery != "" {
		if _, err := ParseReconcileEvery(m.ReconcileEvery); err != nil {
			return err
		}
	}
	if w := m.CapacityWarnPercent(); w < 0 || w > 100 {
		return invalid("capacity_warn", "must be between 0 and 100 (percent free)")
	}
	if _, err := ParseAttemptTimeouts(m.AttemptTimeout); err != nil {
		return err
	}
	return m.Params.Validate()
}

// Tariff is a VPS tariff plan served by an ordered set of modules.
type Tariff struct {
	ID             uint64   `json:"id"`
	Name           string   `json:"name"`
	DataCenterID   uint64   `json:"datacenter_id"`
	ModuleIDs      []uint64 `json:"module_ids"`
	CPU            int      `json:"cpu"`
	RAMMiB         int      `json:"ram_mib"`
	DiskMiB        int      `json:"disk_mib"`
	OSID           uint64   `json:"os_id"`
	RecipeID       uint64   `json:"recipe_id,omitempty"`
	IPv4Count      int      `json:"ipv4_count"`
	DomainTemplate string   `json:"domain_template,omitempty"`
}

// ModuleList is the tariff's module ids as "1,2", the form commands and screens show and read back.
func (t *Tariff) ModuleList() string {
	parts := make([]string, len(t.ModuleIDs))
	for i, id := range t.ModuleIDs {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ",")
}

func (t *Tariff) Validate() error {
	if err := checkName("name", t.Name); err != nil {
		return err
	}
	if t.DataCenterID == 0 {
		return invalid("datacenter", "must be chosen")
	}
	if len(t.ModuleIDs) == 0 {
		return invalid("modules", "must list at least one module")
	}
	seen := map[uint64]bool{}
	for _, id := range t.ModuleIDs {
		if id == 0 || seen[id] {
			return invalid("modules", "must be distinct module ids")
		}
		seen[id] = true
	}
	switch {
	case t.CPU < 1 || t.CPU > 256:
		return invalid("cpu", "must be between 1 and 256")
	case t.RAMMiB < 128 || t.RAMMiB > 4<<20:
		return invalid("ram_mib", "must be between 128 and %d", 4<<20)
	case t.DiskMiB < 1024 || t.DiskMiB > 64<<20:
		return invalid("disk_mib", "must be between 1024 and %d", 64<<20)
	case t.OSID == 0:
		return invalid("os_id", "must be set")
	case t.IPv4Count < 0 || t.IPv4Count > 16:
		return invalid("ipv4_count", "must be between 0 and 16")
	}
	return nil
}

// VM is what VMmanager holds for a service.
type VM struct {
	HostID    uint64   `json:"host_id"`
	AccountID uint64   `json:"account_id"`
	IPv4      []string `json:"ipv4,omitempty"`
	IPv6      []string `json:"ipv6,omitempty"`
	DiskMiB   int      `json:"disk_mib,omitempty"` // as last read from VMmanager; 0 = not read yet
	// CPU and RAMMiB as last read from VMmanager (0 = not read yet: the tariff's sizes count).
	CPU    int `json:"cpu,omitempty"`
	RAMMiB int `json:"ram_mib,omitempty"`
}

// Service is a client's VPS (IID).
type Service struct {
	ID uint64 `json:"id"`
	// ExternalID is the billing system's own id of the service (set when billing orders it over the API).
	ExternalID  string    `json:"external_id,omitempty"`
	TariffID    uint64    `json:"tariff_id"`
	ModuleID    uint64    `json:"module_id,omitempty"`
	ClientEmail string    `json:"client_email"`
	Domain      string    `json:"domain,omitempty"`
	Status      string    `json:"status"`
	VM          VM        `json:"vm"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func (s *Service) Validate() error {
	if s.TariffID == 0 {
		return invalid("tariff", "must be set")
	}
	if !strings.Contains(s.ClientEmail, "@") {
		return invalid("client", "must be an email address")
	}
	switch s.Status {
	case ServiceOrdered, ServiceProcessing, ServiceActive, ServiceSuspended, ServiceDeleted, ServiceFailed:
		return nil
	}
	return invalid("status", "unknown status %q", s.Status)
}

// VMTask identifies a VMmanager task: its consul id and name, as polled via /vm/v3/task.
type VMTask struct {
	ConsulID string `json:"consul_id"`
	Name     string `json:"name"`
}

// LogLine is one timestamped line of a job's bounded log.
type LogLine struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Job is one VPS operation.
type Job struct {
	ID          uint64            `json:"id"`
	ServiceID   uint64            `json:"service_id"`
	ModuleID    uint64            `json:"module_id,omitempty"`
	Type        string            `json:"type"`
	Args        map[string]string `json:"args,omitempty"`
	State       string            `json:"state"`
	QueueKey    string            `json:"queue_key,omitempty"`
	Lane        int               `json:"lane,omitempty"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"max_attempts"`
	NextRunAt   time.Time         `json:"next_run_at,omitzero"`
	VMTask      *VMTask           `json:"vmm_task,omitempty"`
	Error       string            `json:"error,omitempty"`
	Log         []LogLine         `json:"log,omitempty"`
	// By is who asked for the job ("uid 1000 (alice)"); empty for jobs from before vmmpm recorded it.
	By string `json:"by,omitempty"`
	// Refused: the job failed for good on an answer no retry changes (VMmanager refused it), not for
	// want of attempts; retrying it asks first.
	Refused    bool      `json:"refused,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Logf appends a line to the job's log, keeping only the newest MaxJobLogLines.
func (j *Job) Logf(at time.Time, format string, args ...any) {
	j.Log = append(j.Log, LogLine{At: at, Text: fmt.Sprintf(format, args...)})
	if over := len(j.Log) - MaxJobLogLines; over > 0 {
		j.Log = append(j.Log[:0], j.Log[over:]...)
	}
}

func (j *Job) Validate() error {
	if j.ServiceID == 0 {
		return invalid("service", "must be set")
	}
	if !validOp(j.Type) {
		return invalid("type", "unknown operation %q", j.Type)
	}
	for _, s := range JobStates {
		if j.State == s {
			return nil
		}
	}
	return invalid("state", "unknown state %q", j.State)
}

func validOp(t string) bool {
	for _, o := range JobTypes {
		if o == t {
			return true
		}
	}
	return false
}

// Task is work for a department that automation could not finish.
type Task struct {
	ID           uint64    `json:"id"`
	DepartmentID uint64    `json:"department_id"`
	ModuleID     uint64    `json:"module_id,omitempty"`
	ServiceID    uint64    `json:"service_id,omitempty"`
	JobID        uint64    `json:"job_id,omitempty"`
	Title        string    `json:"title"`
	Reason       string    `json:"reason"`
	CreatedAt    time.Time `json:"created_at"`
	ClosedAt     time.Time `json:"closed_at,omitzero"`
}

func (t *Task) Validate() error {
	if t.Title == "" {
		return invalid("title", "must not be empty")
	}
	return nil
}
