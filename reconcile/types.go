// Package reconcile compares what each module's VMmanager cluster holds with vmmpm's records and turns
// the differences into findings (BILLmanager's "autodiscovering"): VMs no service knows, services
// whose VM is gone, more than one VM for one service, and state, resources or owner that differ. A
// scan only reads VMmanager. The actions on findings (import, remove a duplicate, bring state back,
// …) are queued jobs in the service's lane (queue.OpReconcile), so they never race an operation of the
// same service. The package keeps its own buckets in the database: the VMs an admin marked as system,
// and each module's last scan.
//
// No terminal code lives here: `vmmpm reconcile`, the TUI's Reconcile screen and `vmmpm serve`'s
// scheduled scan all call it through backend.Backend.
package reconcile

import (
	"time"

	"vmmpm/queue"
)

// Finding classes: the contract of `vmmpm reconcile --json`.
const (
	UnknownVM   = "unknown_vm"             // a VM no service knows: an import candidate
	MissingVM   = "missing_vm"             // a service whose VM is gone
	DuplicateVM = queue.FindingDuplicateVM // more than one VM for one service
	State       = "state"                  // active but stopped, suspended but running, deleted but still there
	Resources   = "resources"              // CPU, RAM, disk or addresses differ from what the service records
	Owner       = "owner"                  // the VM's account is not the service's client
)

// Classes lists every class in the order findings are shown.
var Classes = []string{UnknownVM, MissingVM, DuplicateVM, State, Resources, Owner}

// Evidence is one compared value on both sides.
type Evidence struct {
	Field     string `json:"field"`
	VMmpm     string `json:"vmmpm"`
	VMmanager string `json:"vmmanager"`
}

// VM is a VM as the scan read it.
type VM struct {
	ID        uint64   `json:"id"`
	Name      string   `json:"name"`
	State     string   `json:"state"`
	CPU       int      `json:"cpu"`
	RAMMiB    int      `json:"ram_mib"`
	DiskMiB   int      `json:"disk_mib"`
	IPv4      []string `json:"ipv4,omitempty"`
	MainIPv4  int      `json:"main_ipv4"`
	IPv6      []string `json:"ipv6,omitempty"`
	AccountID uint64   `json:"account_id"`
	Account   string   `json:"account,omitempty"` // the account's email, when VMmanager listed it
	Cluster   uint64   `json:"cluster_id"`
	// EngineEpoch is the lease epoch of the engine that made it, read from the mark vmmpm puts in
	// the comment of the VMs it creates on a shared database (queue.EpochMark); 0: no mark.
	EngineEpoch int64 `json:"engine_epoch,omitempty"`
}

// Finding is one difference, with what it rests on.
type Finding struct {
	// Key names the finding across scans: the same drift gives the same key.
	Key       string `json:"key"`
	Class     string `json:"class"`
	ModuleID  uint64 `json:"module_id"`
	VMID      uint64 `json:"vm_id,omitempty"`
	ServiceID uint64 `json:"service_id,omitempty"`
	// Summary is one sentence an admin reads.
	Summary  string     `json:"summary"`
	Evidence []Evidence `json:"evidence,omitempty"`
	VM       *VM        `json:"vm,omitempty"`
	// KeepVMID, for a duplicate, is the VM that stays (the one the service records, or the oldest).
	KeepVMID uint64 `json:"keep_vm_id,omitempty"`
	// Actions are what may be done about it, first the usual one.
	Actions []string `json:"actions"`
	// Tariff, for an unknown VM, is the tariff of the module whose sizes match the VM's (0: none or
	// several).
	Tariff uint64 `json:"tariff_id,omitempty"`
}

// Compared says what a module's scan looked at and how.
type Compared struct {
	Services int `json:"services"` // the module's services compared
	Skipped  int `json:"skipped"`  // services left out: an operation of theirs is queued or running, or they are not open yet
	VMs      int `json:"vms"`      // VMs read from the module's cluster
	// HostCount is how many VMs VMmanager says the cluster holds (-1: it does not say), which the
	// list read is checked against.
	HostCount int `json:"host_count"`
	Requests  int `json:"requests"` // requests made to VMmanager (the login aside)
	Pieces    int `json:"pieces"`   // host list reads
	System    int `json:"system"`   // VMs marked as system, not compared
}

// ModuleReport is one module's scan.
type ModuleReport struct {
	ModuleID uint64    `json:"module_id"`
	Name     string    `json:"name"`
	Cluster  uint64    `json:"cluster_id"`
	At       time.Time `json:"at"`
	Took     float64   `json:"took_seconds"`
	Compared Compared  `json:"compared"`
	// Error is why the module could not be read at all (nothing compared).
	Error string `json:"error,omitempty"`
	// Unreadable are what could not be read, each a sentence; findings that rest on it were left out.
	Unreadable []string `json:"unreadable,omitempty"`
	// Notes are what the admin should know about how the scan read (no failure).
	Notes  []string       `json:"notes,omitempty"`
	Counts map[string]int `json:"counts"`
	// System are the VMs marked as system that the scan saw (listed apart, never findings).
	System []VM `json:"system,omitempty"`
}

// Failed reports a module that could not be read, wholly or in part.
func (m *ModuleReport) Failed() bool { return m.Error != "" || len(m.Unreadable) > 0 }

// Report is a scan of one or more modules.
type Report struct {
	// Flagged are the services flagged for a reconcile look and what this scan made of each.
	Flagged  []Flag         `json:"flagged"`
	Findings []Finding      `json:"findings"`
	Modules  []ModuleReport `json:"modules"`
}

// Failed reports whether some module could not be read.
func (r *Report) Failed() bool {
	for i := range r.Modules {
		if r.Modules[i].Failed() {
			return true
		}
	}
	return false
}

// Query says what to scan.
type Query struct {
	Module uint64 `json:"module_id,omitempty"` // 0: every module
}

// Progress is how far a scan has got.
type Progress struct {
	ModuleID uint64 `json:"module_id"`
	Module   string `json:"module"`
	// Step is what it is doing ("reading accounts", "reading VMs", "comparing", "done").
	Step string `json:"step"`
	// Done and Total count units of work over the whole scan (modules × steps, VMs read); Total grows
	// when a module turns out larger.
	Done    int     `json:"done"`
	Total   int     `json:"total"`
	Elapsed float64 `json:"elapsed_seconds"`
	// Left is the estimate of seconds to go (-1: not known yet).
	Left float64 `json:"left_seconds"`
}

// Fraction is Done/Total in [0, 1].
func (p Progress) Fraction() float64 {
	if p.Total <= 0 {
		return 0
	}
	return min(1, float64(p.Done)/float64(p.Total))
}

// Action is what an admin asks for on findings.
type Action struct {
	Module uint64 `json:"module_id"`
	Action string `json:"action"`
	// Service is the service a service finding is about (missing, duplicate, state, resources, owner).
	Service uint64 `json:"service_id,omitempty"`
	// VMs are the VMs to import or mark, or the duplicate to remove.
	VMs []uint64 `json:"vm_ids,omitempty"`
	// All imports every unknown VM of the module.
	All bool `json:"all,omitempty"`
	// Tariff is the import's tariff, by id or name; empty: the tariff whose sizes match each VM.
	Tariff string `json:"tariff,omitempty"`
	// Confirm: do it. Without it nothing is written anywhere and Acted says what would be done.
	Confirm bool `json:"confirm,omitempty"`
}

// Step is one thing an action does (or would do).
type Step struct {
	ServiceID uint64 `json:"service_id,omitempty"`
	VMID      uint64 `json:"vm_id,omitempty"`
	JobID     uint64 `json:"job_id,omitempty"`
	// Text says what happens, one sentence.
	Text string `json:"text"`
}

// Acted is an action's answer: what was queued (or, unconfirmed, what would be), and what was left
// out and why.
type Acted struct {
	Action    string `json:"action"`
	Confirmed bool   `json:"confirmed"`
	Steps     []Step `json:"steps"`
	Skipped   []Step `json:"skipped,omitempty"`
}

// Summary is a module's last scan as kept in the database: what status and the Modules screen show.
type Summary struct {
	ModuleID   uint64         `json:"module_id"`
	At         time.Time      `json:"at"`
	Counts     map[string]int `json:"counts"`
	Failed     bool           `json:"failed"`
	Error      string         `json:"error,omitempty"`
	Unreadable []string       `json:"unreadable,omitempty"`
	VMs        int            `json:"vms"`
	Services   int            `json:"services"`
	// Scheduled: the scan was serve's, on the module's reconcile_every.
	Scheduled bool `json:"scheduled,omitempty"`
}

// Total is the number of findings.
func (s *Summary) Total() int {
	n := 0
	for _, c := range s.Counts {
		n += c
	}
	return n
}
