// Package webhook tells billing what happened: the outbox hook writes an event for every service status
// and job state change in the transaction of the change itself, and the Deliverer posts each one,
// signed, to the webhooks that asked for it until they answer 2xx. The shapes of the service and job a
// payload carries (Service, Job) are the HTTPS API's too.
package webhook

import (
	"time"

	"vmmpm/store"
)

// Service is a service as billing sees it (in the API's answers and in event payloads): never a password.
type Service struct {
	ID          uint64    `json:"id"`
	ExternalID  string    `json:"external_id,omitempty"`
	Status      string    `json:"status"`
	TariffID    uint64    `json:"tariff_id"`
	ModuleID    uint64    `json:"module_id,omitempty"`
	ClientEmail string    `json:"client_email"`
	Domain      string    `json:"domain,omitempty"`
	VM          VM        `json:"vm"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// VM is the service's VM in VMmanager: its host id (0 before it exists) and addresses.
type VM struct {
	ID   uint64   `json:"id"`
	IPv4 []string `json:"ipv4"`
	IPv6 []string `json:"ipv6"`
}

// ServiceOf is s as billing sees it.
func ServiceOf(s *store.Service) Service {
	v := Service{ID: s.ID, ExternalID: s.ExternalID, Status: s.Status, TariffID: s.TariffID, ModuleID: s.ModuleID,
		ClientEmail: s.ClientEmail, Domain: s.Domain, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		VM: VM{ID: s.VM.HostID, IPv4: s.VM.IPv4, IPv6: s.VM.IPv6}}
	if v.VM.IPv4 == nil {
		v.VM.IPv4 = []string{}
	}
	if v.VM.IPv6 == nil {
		v.VM.IPv6 = []string{}
	}
	return v
}

// Job is a job (one operation on a service) as billing sees it.
type Job struct {
	ID        uint64 `json:"id"`
	ServiceID uint64 `json:"service_id"`
	ModuleID  uint64 `json:"module_id,omitempty"`
	Type      string `json:"type"`
	State     string `json:"state"`
	// Reason is why it failed, is waiting to retry, or was refused; empty when it went well.
	Reason      string            `json:"reason,omitempty"`
	Args        map[string]string `json:"args,omitempty"` // never a password: the engine keeps that in the keyring
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"max_attempts"`
	By          string            `json:"by,omitempty"` // who asked: "token billing-prod", "uid 1000 (alice)"
	EnqueuedAt  time.Time         `json:"enqueued_at"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	FinishedAt  *time.Time        `json:"finished_at,omitempty"`
	Log         []store.LogLine   `json:"log,omitempty"`
}

// JobOf is j as billing sees it; with log set, its log lines too.
func JobOf(j *store.Job, log bool) Job {
	v := Job{ID: j.ID, ServiceID: j.ServiceID, ModuleID: j.ModuleID, Type: j.Type, State: j.State, Reason: j.Error,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, By: j.By, EnqueuedAt: j.EnqueuedAt}
	if len(j.Args) > 0 {
		v.Args = map[string]string{}
		for k, a := range j.Args {
			if k != "password" {
				v.Args[k] = a
			}
		}
	}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt
		v.StartedAt = &t
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		v.FinishedAt = &t
	}
	if log {
		v.Log = j.Log
	}
	return v
}

// Event is the body of a delivery.
type Event struct {
	Type    string    `json:"type"`
	At      time.Time `json:"at"`
	Service *Service  `json:"service,omitempty"`
	Job     *Job      `json:"job,omitempty"`
	// Webhook is set on webhook.test only: the webhook being tested.
	Webhook *Target `json:"webhook,omitempty"`
}

// Target names a webhook in a test event.
type Target struct {
	ID  uint64 `json:"id"`
	URL string `json:"url"`
}
