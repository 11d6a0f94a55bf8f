package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDeliveryCodec(t *testing.T) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC)
	d := Delivery{ID: 9, Webhook: 2, Event: "service.active", Service: 5, Body: json.RawMessage(`{"type":"service.active","n":[1, 2]}`),
		State: DeliveryPending, CreatedAt: at, Attempts: 3, LastError: "the receiver answered 503"}
	v, err := encodeDelivery(&d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(v), `"body"`) {
		t.Fatalf("the head carries the body too: %q", v)
	}
	var got Delivery
	if err := decodeDelivery(v, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != string(d.Body) || got.ID != 9 || got.Event != d.Event || !got.CreatedAt.Equal(at) || got.LastError != d.LastError {
		t.Fatalf("round trip: %+v, want %+v", got, d)
	}
	v[len(v)-1] = 'X' // the body is a copy, not bbolt's memory
	if got.Body[len(got.Body)-1] != '}' {
		t.Fatal("the decoded body shares the value's memory")
	}

	old, _ := json.Marshal(&d) // a file written before the format
	var fromOld Delivery
	if err := decodeDelivery(old, &fromOld); err != nil || string(fromOld.Body) != `{"type":"service.active","n":[1,2]}` {
		t.Fatalf("old value: %v %q", err, fromOld.Body)
	}

	bad := []byte{deliveryFormat, 0xff, 0xff, 0x7f, '{', '}'}
	if err := decodeDelivery(bad, &got); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("a length past the value: %v", err)
	}

	kept := d
	kept.Body = nil
	v, _ = encodeDelivery(&kept)
	got = Delivery{}
	if err := decodeDelivery(v, &got); err != nil || got.Body != nil {
		t.Fatalf("no body: %v %q", err, got.Body)
	}
}

// TestFrozenDeliveryCodec: a frozen event comes back as Frozen (never as a JSON body, which the socket
// would refuse to carry), and a finished one keeps neither.
func TestFrozenDeliveryCodec(t *testing.T) {
	d := Delivery{ID: 3, Webhook: 1, Event: "job.done", Service: 5, Frozen: []byte{1, 3, 0xff, '"'}, State: DeliveryPending}
	v, err := encodeDelivery(&d)
	if err != nil {
		t.Fatal(err)
	}
	var got Delivery
	if err := decodeDelivery(v, &got); err != nil || got.Body != nil || string(got.Frozen) != string(d.Frozen) || got.Event != d.Event {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Fatalf("a frozen delivery does not marshal: %v", err)
	}
	v[len(v)-1] = 'X'
	if got.Frozen[len(got.Frozen)-1] != '"' {
		t.Fatal("the decoded frozen event shares the value's memory")
	}
}
