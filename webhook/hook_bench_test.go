package webhook_test

import (
	"path/filepath"
	"testing"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/webhook"
)

// BenchmarkHook is the outbox hook's work inside the engine's transaction per job write (a job's end
// with its service changed: one service and one job event), rolled back each time so the file stays
// the same: the time the hook adds to every commit.
func BenchmarkHook(b *testing.B) {
	for _, hooked := range []bool{false, true} {
		name := "no-webhook"
		if hooked {
			name = "webhook"
		}
		b.Run(name, func(b *testing.B) { benchHook(b, hooked) })
	}
}

func benchHook(b *testing.B, hooked bool) {
	db, err := store.Open(filepath.Join(b.TempDir(), "hook.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	svc := &store.Service{TariffID: 1, ModuleID: 1, ClientEmail: "client@example.org", Domain: "vps1.example.org",
		Status: store.ServiceActive, VM: store.VM{HostID: 4242, IPv4: []string{"192.0.2.17"}, IPv6: []string{"2001:db8::17"}},
		CreatedAt: at, UpdatedAt: at}
	if err := db.Save(svc); err != nil {
		b.Fatal(err)
	}
	if hooked {
		w := &store.Webhook{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}, CreatedAt: at}
		if err := db.Update(func(tx *store.Tx) error { return store.AddWebhook(tx, w) }); err != nil {
			b.Fatal(err)
		}
	}
	job := &store.Job{ID: 7, ServiceID: svc.ID, ModuleID: 1, Type: store.OpOpen, State: store.JobDone, Attempt: 1, MaxAttempts: 5,
		Args: map[string]string{"os_id": "1"}, By: "token billing-prod", EnqueuedAt: at, StartedAt: at, FinishedAt: at.Add(time.Second)}
	hook := webhook.Hook(func() time.Time { return at })
	writes := []queue.JobWrite{{Job: job, From: store.JobRunning, Others: true}}
	const perTx = 64
	for b.Loop() {
		_ = db.Update(func(tx *store.Tx) error {
			for range perTx {
				if err := store.SetNotified(tx, svc.ID, store.ServiceProcessing); err != nil {
					return err
				}
				if err := hook(tx, writes); err != nil {
					return err
				}
			}
			return errRollback
		})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perTx), "ns/write")
}

type rollback struct{}

func (rollback) Error() string { return "rolled back" }

var errRollback error = rollback{}
