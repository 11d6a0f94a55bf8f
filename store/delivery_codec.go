package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// An outbox or delivered value is a format byte, the uvarint length of the delivery's JSON without
// its body, that JSON, then the body as the hook wrote it: deliveryFormat when that is the JSON payload
// (Body), deliveryFrozen when it is the event frozen for the deliverer to render (Frozen). Kept as a
// JSON-in-JSON field, the body was compacted and checked again on every write and read, inside the
// engine's commits.
const (
	deliveryFormat = 1
	deliveryFrozen = 2
)

// deliveryHead is a Delivery as JSON without its body: the nil Body here hides the embedded one.
type deliveryHead struct {
	*Delivery
	Body *struct{} `json:"body,omitempty"`
}

func encodeDelivery(d *Delivery) ([]byte, error) {
	head, err := json.Marshal(deliveryHead{Delivery: d})
	if err != nil {
		return nil, err
	}
	format, body := byte(deliveryFormat), []byte(d.Body)
	if d.Frozen != nil {
		format, body = deliveryFrozen, d.Frozen
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(head)+len(body))
	out = append(out, format)
	out = binary.AppendUvarint(out, uint64(len(head)))
	out = append(out, head...)
	return append(out, body...), nil
}

// decodeDelivery reads a value encodeDelivery wrote, or the plain JSON of a file written before it;
// the body is copied out of v, which bbolt owns.
func decodeDelivery(v []byte, d *Delivery) error {
	if len(v) == 0 || v[0] != deliveryFormat && v[0] != deliveryFrozen {
		return json.Unmarshal(v, d)
	}
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || n > uint64(len(v)-1-w) {
		return errors.New("its length prefix is out of range")
	}
	start := 1 + w
	if err := json.Unmarshal(v[start:start+int(n)], &deliveryHead{Delivery: d}); err != nil {
		return err
	}
	d.Body, d.Frozen = nil, nil
	body := v[start+int(n):]
	switch {
	case len(body) == 0:
	case v[0] == deliveryFrozen:
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
