package store

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"slices"
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

// TestBinaryDeliveryHead: every field of the head comes back from the binary form (times with their
// zone offset), values of the JSON-head formats an older vmmpm wrote still read, and a value cut
// short anywhere is an error naming the delivery, never a half-read delivery taken as whole.
func TestBinaryDeliveryHead(t *testing.T) {
	zone := time.FixedZone("", 3*3600)
	d := Delivery{ID: 1 << 40, Webhook: 7, Event: "job.failed", Service: 300, Body: json.RawMessage(`{"a":1}`),
		State: DeliveryDelivered, CreatedAt: time.Date(2026, 12, 7, 1, 2, 3, 4, zone), Attempts: 12,
		NextAt: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), LastStatus: 503, LastError: "the receiver answered 503 ü",
		DeliveredAt: time.Date(2026, 12, 9, 5, 6, 7, 8, zone)}
	v, err := encodeDelivery(&d)
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != deliveryBinary {
		t.Fatalf("format %d, want the binary head", v[0])
	}
	var got Delivery
	if err := decodeDelivery(v, &got); err != nil {
		t.Fatal(err)
	}
	same := func(a, b Delivery) bool {
		return a.ID == b.ID && a.Webhook == b.Webhook && a.Event == b.Event && a.Service == b.Service &&
			string(a.Body) == string(b.Body) && a.State == b.State && a.Attempts == b.Attempts &&
			a.LastStatus == b.LastStatus && a.LastError == b.LastError && a.CreatedAt.Equal(b.CreatedAt) &&
			a.NextAt.Equal(b.NextAt) && a.DeliveredAt.Equal(b.DeliveredAt)
	}
	if !same(got, d) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
	}
	if _, off := got.CreatedAt.Zone(); off != 3*3600 {
		t.Fatalf("created_at's offset %d, want +3h (its JSON shows it)", off)
	}

	for _, frozen := range []bool{false, true} { // the JSON-head formats
		old := d
		format, body := byte(deliveryFormat), []byte(old.Body)
		if frozen {
			old.Body, old.Frozen = nil, []byte{1, 2, 3}
			format, body = deliveryFrozen, old.Frozen
		}
		head, _ := json.Marshal(deliveryHead{Delivery: &old})
		legacy := append(binary.AppendUvarint([]byte{format}, uint64(len(head))), head...)
		legacy = append(legacy, body...)
		var back Delivery
		if err := decodeDelivery(legacy, &back); err != nil || !same(back, old) || string(back.Frozen) != string(old.Frozen) {
			t.Fatalf("a JSON-head value (frozen %v): %v\n got %+v\nwant %+v", frozen, err, back, old)
		}
	}

	kept := d
	kept.Body = nil
	v, _ = encodeDelivery(&kept)
	for n := 1; n < len(v); n++ {
		var cut Delivery
		err := decodeDelivery(v[:n], &cut)
		if err == nil || !strings.Contains(err.Error(), "the delivery is cut short") {
			t.Fatalf("a value cut to %d of %d bytes: %v", n, len(v), err)
		}
	}
}

// TestDeliveryCodecCoversEveryField: a field added to Delivery fails here until encodeDelivery and
// decodeDelivery carry it (and this list names it).
func TestDeliveryCodecCoversEveryField(t *testing.T) {
	carried := []string{"ID", "Webhook", "Event", "Service", "Body", "State", "CreatedAt", "Attempts", "NextAt",
		"LastStatus", "LastError", "DeliveredAt", "Frozen"}
	typ := reflect.TypeFor[Delivery]()
	var fields []string
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	if !slices.Equal(fields, carried) {
		t.Fatalf("Delivery's fields are %v; the codec carries %v: add the new one to encodeDelivery, decodeDelivery and this list", fields, carried)
	}
}
