package webhook

import (
	"errors"
	"fmt"
	"time"

	"vmmpm/store"
	"vmmpm/store/bin"
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
		out = bin.AppendBytes(out, svc)
	}
	if j == nil {
		return out
	}
	for _, n := range []uint64{j.ID, j.ServiceID, j.ModuleID, uint64(j.Attempt), uint64(j.MaxAttempts)} {
		out = bin.AppendUint(out, n)
	}
	for _, s := range []string{j.Type, j.State, j.Error, j.By} {
		out = bin.AppendString(out, s)
	}
	args := 0
	for k := range j.Args {
		if k != "password" {
			args++
		}
	}
	out = bin.AppendUint(out, uint64(args))
	for k, v := range j.Args {
		if k != "password" {
			out = bin.AppendString(bin.AppendString(out, k), v)
		}
	}
	for _, t := range []time.Time{j.EnqueuedAt, j.StartedAt, j.FinishedAt} {
		out = bin.AppendTime(out, t)
	}
	return out
}

// thaw is the service and job a frozen event holds (each nil when it has none).
func thaw(b []byte) (*store.Service, *store.Job, error) {
	if len(b) < 2 || b[0] != frozenVersion {
		return nil, nil, errors.New("the frozen event is of an unknown form")
	}
	flags := b[1]
	r := &bin.Reader{B: b[2:], Of: "the frozen event"}
	var s *store.Service
	if flags&frozenService != 0 {
		raw := r.Bytes("service")
		if r.Err != nil {
			return nil, nil, r.Err
		}
		var err error
		if s, err = decodeService(raw); err != nil {
			return nil, nil, fmt.Errorf("the frozen service does not decode: %w", err)
		}
	}
	if flags&frozenJob == 0 {
		return s, nil, nil
	}
	j := &store.Job{ID: r.Uint("job id"), ServiceID: r.Uint("service id"), ModuleID: r.Uint("module id"),
		Attempt: int(r.Uint("attempt")), MaxAttempts: int(r.Uint("attempts")),
		Type: r.String("type"), State: r.String("state"), Error: r.String("error"), By: r.String("by")}
	if n := r.Uint("arguments"); n > 0 && n <= uint64(len(r.B)) {
		j.Args = make(map[string]string, n)
		for range n {
			k := r.String("argument")
			j.Args[k] = r.String("argument")
		}
	} else if n > 0 {
		r.Fail("arguments")
	}
	j.EnqueuedAt, j.StartedAt, j.FinishedAt = r.Time("enqueued"), r.Time("started"), r.Time("finished")
	return s, j, r.Err
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
