package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"vmmpm/store/bin"
)

// An outbox or delivered value is a format byte, the delivery without its body, then the body as the
// hook wrote it. The head is binary (store/bin) in deliveryBinary and deliveryBinaryFrozen, JSON after
// its uvarint length in the older deliveryFormat and deliveryFrozen: the JSON head was the deliverer's
// largest cost after the HTTP call, and it is written inside the engine's commits. The body is the
// JSON payload (Body) or, in the frozen formats, the event frozen for the deliverer to render (Frozen).
// Values written before any of these are plain JSON.
const (
	deliveryFormat       = 1
	deliveryFrozen       = 2
	deliveryBinary       = 3
	deliveryBinaryFrozen = 4
)

// deliveryHead is a Delivery as JSON without its body: the nil Body here hides the embedded one.
type deliveryHead struct {
	*Delivery
	Body *struct{} `json:"body,omitempty"`
}

func encodeDelivery(d *Delivery) ([]byte, error) {
	format, body := byte(deliveryBinary), []byte(d.Body)
	if d.Frozen != nil {
		format, body = deliveryBinaryFrozen, d.Frozen
	}
	out := make([]byte, 0, 96+len(d.Event)+len(d.LastError)+len(body))
	out = append(out, format)
	for _, n := range []uint64{d.ID, d.Webhook, d.Service, uint64(d.Attempts), uint64(d.LastStatus)} {
		out = bin.AppendUint(out, n)
	}
	for _, s := range []string{d.Event, d.State, d.LastError} {
		out = bin.AppendString(out, s)
	}
	for _, t := range []time.Time{d.CreatedAt, d.NextAt, d.DeliveredAt} {
		out = bin.AppendTime(out, t)
	}
	return append(out, body...), nil
}

// decodeDelivery reads a value encodeDelivery wrote (or an older vmmpm did); the body is copied out of
// v, which bbolt owns.
func decodeDelivery(v []byte, d *Delivery) error {
	if len(v) == 0 {
		return json.Unmarshal(v, d)
	}
	var body []byte
	switch v[0] {
	case deliveryBinary, deliveryBinaryFrozen:
		r := bin.Reader{B: v[1:], Of: "the delivery"}
		*d = Delivery{ID: r.Uint("id"), Webhook: r.Uint("webhook"), Service: r.Uint("service"),
			Attempts: int(r.Uint("attempts")), LastStatus: int(r.Uint("status")),
			Event: r.String("event"), State: r.String("state"), LastError: r.String("error"),
			CreatedAt: r.Time("created"), NextAt: r.Time("next"), DeliveredAt: r.Time("delivered")}
		if r.Err != nil {
			return r.Err
		}
		body = r.B
	case deliveryFormat, deliveryFrozen:
		n, w := binary.Uvarint(v[1:])
		if w <= 0 || n > uint64(len(v)-1-w) {
			return errors.New("its length prefix is out of range")
		}
		start := 1 + w
		if err := json.Unmarshal(v[start:start+int(n)], &deliveryHead{Delivery: d}); err != nil {
			return err
		}
		d.Body, d.Frozen = nil, nil
		body = v[start+int(n):]
	default:
		return json.Unmarshal(v, d)
	}
	switch {
	case len(body) == 0:
	case v[0] == deliveryFrozen || v[0] == deliveryBinaryFrozen:
		d.Frozen = append([]byte(nil), body...)
	default:
		d.Body = append(json.RawMessage(nil), body...)
	}
	return nil
}

func putDelivery(b interface{ Put([]byte, []byte) error }, d *Delivery) error {
	v, err := encodeDelivery(d)
	if err != nil {
		return err
	}
	return b.Put(Key(d.ID), v)
}
