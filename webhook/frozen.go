package webhook

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"vmmpm/store"
)

// A frozen event is what the outbox hook keeps of an event inside the engine's commit: the service's
// record exactly as that commit stored it, and the fields of the job a payload shows in a compact
// binary form. The commit neither decodes the service nor marshals a payload (that took most of the
// hook's time, inside the one writer's critical section); Body builds the payload when it is sent, and
// builds the same bytes on every retry.
const frozenVersion = 1

const (
	frozenService = 1 << iota
	frozenJob
)

// freeze is the frozen form of an event about service record svc (nil: none) and job j (nil: none).
// A job's password argument is left out: it lives in the keyring, never in the file.
func freeze(svc []byte, j *store.Job) []byte {
	out := make([]byte, 0, 128+len(svc))
	flags := byte(0)
	if svc != nil {
		flags |= frozenService
	}
	if j != nil {
		flags |= frozenJob
	}
	out = append(out, frozenVersion, flags)
	if svc != nil {
		out = appendBytes(out, svc)
	}
	if j == nil {
		return out
	}
	for _, n := range []uint64{j.ID, j.ServiceID, j.ModuleID, uint64(j.Attempt), uint64(j.MaxAttempts)} {
		out = binary.AppendUvarint(out, n)
	}
	for _, s := range []string{j.Type, j.State, j.Error, j.By} {
		out = appendBytes(out, []byte(s))
	}
	args := 0
	for k := range j.Args {
		if k != "password" {
			args++
		}
	}
	out = binary.AppendUvarint(out, uint64(args))
	for k, v := range j.Args {
		if k != "password" {
			out = appendBytes(appendBytes(out, []byte(k)), []byte(v))
		}
	}
	for _, t := range []time.Time{j.EnqueuedAt, j.StartedAt, j.FinishedAt} {
		out = appendTime(out, t)
	}
	return out
}

func appendBytes(out, b []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(b))), b...)
}

// appendTime keeps t's instant and zone offset (what its JSON shows), after a length byte; a zero time
// is that byte alone.
func appendTime(out []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(out, 0)
	}
	at := len(out)
	out = append(out, 0)
	b, err := t.AppendBinary(out)
	if err != nil { // an offset the binary form cannot hold: the same instant in UTC
		b, _ = t.UTC().AppendBinary(out)
	}
	b[at] = byte(len(b) - at - 1)
	return b
}

// thawed reads a frozen event back.
type thawed struct {
	b   []byte
	err error
}

func (r *thawed) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("the frozen event is cut short in its %s", what)
	}
	r.b = nil
}

func (r *thawed) uint(what string) uint64 {
	n, w := binary.Uvarint(r.b)
	if w <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[w:]
	return n
}

func (r *thawed) bytes(what string) []byte {
	n := r.uint(what)
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *thawed) time(what string) time.Time {
	if len(r.b) == 0 {
		r.fail(what)
		return time.Time{}
	}
	n := int(r.b[0])
	if n == 0 {
		r.b = r.b[1:]
		return time.Time{}
	}
	if n >= len(r.b) {
		r.fail(what)
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary(r.b[1 : 1+n]); err != nil {
		r.fail(what)
	}
	r.b = r.b[1+n:]
	return t
}

// thaw is the service and job a frozen event holds (each nil when it has none).
func thaw(b []byte) (*store.Service, *store.Job, error) {
	if len(b) < 2 || b[0] != frozenVersion {
		return nil, nil, errors.New("the frozen event is of an unknown form")
	}
	flags := b[1]
	r := &thawed{b: b[2:]}
	var s *store.Service
	if flags&frozenService != 0 {
		raw := r.bytes("service")
		if r.err != nil {
			return nil, nil, r.err
		}
		var err error
		if s, err = decodeService(raw); err != nil {
			return nil, nil, fmt.Errorf("the frozen service does not decode: %w", err)
		}
	}
	if flags&frozenJob == 0 {
		return s, nil, nil
	}
	j := &store.Job{ID: r.uint("job id"), ServiceID: r.uint("service id"), ModuleID: r.uint("module id"),
		Attempt: int(r.uint("attempt")), MaxAttempts: int(r.uint("attempts")),
		Type: string(r.bytes("type")), State: string(r.bytes("state")), Error: string(r.bytes("error")), By: string(r.bytes("by"))}
	if n := r.uint("arguments"); n > 0 && n <= uint64(len(r.b)) {
		j.Args = make(map[string]string, n)
		for range n {
			k := string(r.bytes("argument"))
			j.Args[k] = string(r.bytes("argument"))
		}
	} else if n > 0 {
		r.fail("arguments")
	}
	j.EnqueuedAt, j.StartedAt, j.FinishedAt = r.time("enqueued"), r.time("started"), r.time("finished")
	return s, j, r.err
}

// Body is the payload delivery dl carries: the body it was written with, or the event built from what
// the hook froze.
func Body(dl *store.Delivery) ([]byte, error) {
	if dl.Frozen == nil {
		return dl.Body, nil
	}
	s, j, err := thaw(dl.Frozen)
	if err != nil {
		return nil, err
	}
	e := event(dl.Event, dl.CreatedAt, s, j)
	return marshalEvent(&e)
}

// event is the payload of event ev at at about service s and job j (either nil).
func event(ev string, at time.Time, s *store.Service, j *store.Job) Event {
	body := Event{Type: ev, At: at}
	if s != nil {
		v := ServiceOf(s)
		body.Service = &v
	}
	if j != nil {
		v := JobOf(j, false)
		body.Job = &v
	}
	return body
}
