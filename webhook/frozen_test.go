package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"vmmpm/store"
)

// trickyService has strings a naive status scan would trip on.
func trickyService(at time.Time) *store.Service {
	return &store.Service{ExternalID: `ext "status":"deleted" \ end`, TariffID: 1, ModuleID: 2,
		ClientEmail: "клиент@example.org", Domain: `"status":"suspended",`, Status: store.ServiceActive,
		VM: store.VM{HostID: 4242, IPv4: []string{"192.0.2.17"}, IPv6: []string{"2001:db8::17"}}, CreatedAt: at, UpdatedAt: at}
}

// TestFrozenPayloadIsTheCommitsSnapshot: an event frozen in a commit is sent as the payload the old
// hook built at that commit (the service as it was then, even after later changes), byte for byte, and
// the job's password argument is in neither the file nor the payload.
func TestFrozenPayloadIsTheCommitsSnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vmmpm.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.FixedZone("MSK", 3*3600))
	svc := trickyService(at)
	if err := db.Save(svc); err != nil {
		t.Fatal(err)
	}
	w := &store.Webhook{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}, CreatedAt: at}
	j := &store.Job{ID: 7, ServiceID: svc.ID, ModuleID: 2, Type: store.OpOpen, State: store.JobDone, Attempt: 2, MaxAttempts: 5,
		Error: "a \"quoted\" reason", Args: map[string]string{"os_id": "1", "password": "hunter2-never-stored"}, By: "token billing-prod",
		EnqueuedAt: at, StartedAt: at.Add(time.Second), FinishedAt: at.Add(2 * time.Second)}
	want, _ := json.Marshal(event("service.active", at, svc, j))
	err = db.Update(func(tx *store.Tx) error {
		if err := store.AddWebhook(tx, w); err != nil {
			return err
		}
		raw, status := serviceAt(tx, svc.ID)
		if status != store.ServiceActive {
			t.Errorf("the status read from the record is %q", status)
		}
		_, err := store.AddFrozenDeliveries(tx, []*store.Webhook{w}, "service.active", svc.ID, freeze(raw, j), at)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status, svc.VM.IPv4 = store.ServiceSuspended, nil // a later commit changes the service
	if err := db.Save(svc); err != nil {
		t.Fatal(err)
	}
	var got []byte
	err = db.View(func(tx *store.Tx) error {
		return store.PendingDeliveries(tx, 0, func(dl *store.Delivery) bool {
			if dl.Body != nil || dl.Frozen == nil {
				t.Errorf("the delivery has body %q, frozen %q", dl.Body, dl.Frozen)
			}
			got, err = Body(dl)
			return false
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("payload\n%s\nwant\n%s", got, want)
	}
	if bytes.Contains(got, []byte("hunter2")) {
		t.Fatal("the payload carries the password")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if file, _ := os.ReadFile(path); bytes.Contains(file, []byte("hunter2")) {
		t.Fatal("the database file carries the password")
	}
}

// TestStatusOfAgreesWithTheDecoder: the scan finds what decoding finds, or leaves it to the decoder.
func TestStatusOfAgreesWithTheDecoder(t *testing.T) {
	at := time.Now()
	for _, s := range []*store.Service{trickyService(at), {TariffID: 1, ClientEmail: "a@b", Status: store.ServiceOrdered},
		{TariffID: 1, ClientEmail: `"status":"x"@b`, Domain: `\"status\":\"y\"`, Status: store.ServiceFailed}} {
		raw, _ := json.Marshal(s)
		if got, ok := statusOf(raw); !ok || got != s.Status {
			t.Errorf("statusOf(%s) = %q, %v; want %q", raw, got, ok, s.Status)
		}
	}
	if _, ok := statusOf([]byte(`{"status":"a\"b"}`)); ok {
		t.Error("a status with an escape is taken from the scan")
	}
	if _, ok := statusOf([]byte(`{"id":1}`)); ok {
		t.Error("a record without a status gives one")
	}
}

// TestThawRefusesCutEvents: every prefix of a frozen event is refused with a sentence, never a panic.
func TestThawRefusesCutEvents(t *testing.T) {
	at := time.Now()
	raw, _ := json.Marshal(trickyService(at))
	j := &store.Job{ID: 1, ServiceID: 1, Type: store.OpOpen, State: store.JobRunning, Args: map[string]string{"a": "b"}, EnqueuedAt: at, StartedAt: at}
	full := freeze(raw, j)
	if _, got, err := thaw(full); err != nil || got.Args["a"] != "b" || !got.StartedAt.Equal(at) || !got.FinishedAt.IsZero() {
		t.Fatalf("the whole event: %+v, %v", got, err)
	}
	for n := range len(full) {
		if _, _, err := thaw(full[:n]); err == nil {
			t.Fatalf("a frozen event cut to %d of %d bytes thaws", n, len(full))
		}
	}
	if s, got, err := thaw(freeze(nil, nil)); err != nil || s != nil || got != nil {
		t.Fatalf("an empty event: %v %v %v", s, got, err)
	}
}
