package backendtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// wait bounds every wait for an event: generous, for a loaded machine under -race; a test that
// passes never waits it out.
const wait = 30 * time.Second

// stream is one open Events channel.
type stream struct {
	t      *testing.T
	name   string
	ch     <-chan backend.Event
	cancel context.CancelFunc
	last   uint64 // the Seq of the last event read
}

func openStream(t *testing.T, b backend.Backend, name string, since uint64, light bool) *stream {
	t.Helper()
	c, cancel := context.WithCancel(t.Context())
	ch, err := b.Events(c, since, light)
	if err != nil {
		cancel()
		t.Fatalf("opening %s (since %d): %v", name, since, err)
	}
	s := &stream{t: t, name: name, ch: ch, cancel: cancel}
	t.Cleanup(s.close)
	return s
}

// next is the next event, failing the test when none comes within wait or the stream ends.
func (s *stream) next() backend.Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.ch:
		if !ok {
			s.t.Fatalf("%s ended", s.name)
		}
		s.last = ev.Seq
		return ev
	case <-time.After(wait):
		s.t.Fatalf("%s: no event within %s", s.name, wait)
	}
	panic("unreachable")
}

// until reads events until one matches, and returns it with those read before it.
func (s *stream) until(what string, match func(backend.Event) bool) (backend.Event, []backend.Event) {
	s.t.Helper()
	var before []backend.Event
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-s.ch:
			if !ok {
				s.t.Fatalf("%s ended before %s came; it carried %s", s.name, what, seqs(before))
			}
			s.last = ev.Seq
			if match(ev) {
				return ev, before
			}
			before = append(before, ev)
		case <-deadline:
			s.t.Fatalf("%s: %s did not come within %s; it carried %s", s.name, what, wait, seqs(before))
		}
	}
}

// close ends the stream and waits for its channel to close.
func (s *stream) close() {
	s.cancel()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-s.ch:
			if !ok {
				return
			}
		case <-deadline:
			s.t.Errorf("%s did not close within %s of its context ending", s.name, wait)
			return
		}
	}
}

// jobIs matches the JobChanged event of job id in state.
func jobIs(id uint64, state string) func(backend.Event) bool {
	return func(ev backend.Event) bool {
		return ev.Kind == queue.JobChanged && ev.Job != nil && ev.Job.ID == id && ev.Job.State == state
	}
}

func seqs(evs []backend.Event) string {
	out := "["
	for i, ev := range evs {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprint(ev.Seq)
		if ev.Reset {
			out += "(reset)"
		}
		if ev.Job != nil {
			out += fmt.Sprintf("(job %d %s)", ev.Job.ID, ev.Job.State)
		}
	}
	return out + "]"
}

// eventsWorld is a world whose module runs without queues, so each change of a job is one event,
// and a service that may be rebooted any number of times.
func eventsWorld(t *testing.T, env *Env) (*world, *store.Service) {
	w := newWorld(t, env, false)
	return w, env.AddService(w.tariff.ID, w.module.ID, store.ServiceActive, 1)
}

func (w *world) reboot(t *testing.T, s *store.Service) *store.Job {
	t.Helper()
	j, err := w.b.Enqueue(ctx(t), s.ID, store.OpReboot, nil)
	must(t, err)
	return j
}

// testEvents: a job's changes are seen, numbered in order, the same by every watcher; a stream ends
// with its context.
func testEvents(t *testing.T, env *Env) {
	w, svc := eventsWorld(t, env)
	b := w.b
	first := openStream(t, b, "the first stream", 0, false)
	j := w.reboot(t, svc)
	queued, _ := first.until("the queued reboot", jobIs(j.ID, store.JobQueued))
	if queued.Seq == 0 || queued.Reset || queued.ModuleID != w.module.ID || queued.Job.Type != store.OpReboot {
		t.Errorf("the queued reboot's event is %+v", queued)
	}
	second := openStream(t, b, "the second stream", 0, false)
	must(t, b.Cancel(ctx(t), j.ID))
	c1, _ := first.until("the cancel", jobIs(j.ID, store.JobCancelled))
	c2, _ := second.until("the cancel", jobIs(j.ID, store.JobCancelled))
	if c1.Seq <= queued.Seq || c1.Seq != c2.Seq {
		t.Errorf("the cancel is event %d on one stream and %d on the other, after %d", c1.Seq, c2.Seq, queued.Seq)
	}
	// Who cancelled is the caller, as the answering side saw it: this process's user either way.
	if want := "cancelled by " + backend.UserCaller(os.Getuid(), "").String(); len(c1.Job.Log) == 0 || c1.Job.Log[len(c1.Job.Log)-1].Text != want {
		t.Errorf("the cancel's event ends its log with %+v, want %q", c1.Job.Log, want)
	}
	first.close() // fails the test if the channel stays open
}

// testEventsLight: a light stream covers every job change, as notices when the driver says so.
func testEventsLight(t *testing.T, env *Env) {
	w, svc := eventsWorld(t, env)
	b := w.b
	full := openStream(t, b, "the full stream", 0, false)
	light := openStream(t, b, "the light stream", 0, true)
	var last uint64
	for range 3 {
		j := w.reboot(t, svc)
		ev, _ := full.until("the reboot", jobIs(j.ID, store.JobQueued))
		last = ev.Seq
	}
	covered, before := light.until(fmt.Sprintf("an event up to %d", last), func(ev backend.Event) bool { return ev.Seq >= last })
	for _, ev := range append(before, covered) {
		switch {
		case env.Caps().Light && (ev.Job != nil || ev.Covers < 1):
			t.Errorf("a light stream carried %s (covers %d), want notices (no job, Covers ≥ 1)", seqs([]backend.Event{ev}), ev.Covers)
		case !env.Caps().Light && (ev.Job == nil || ev.Covers != 0):
			t.Errorf("the driver declares no light notices, but the light stream carried %s (covers %d)", seqs([]backend.Event{ev}), ev.Covers)
		}
	}
	if env.Caps().Light {
		n := 0
		for _, ev := range append(before, covered) {
			n += ev.Covers
		}
		if n != 3 || covered.Seq != last {
			t.Errorf("the notices cover %d events up to %d, want 3 up to %d", n, covered.Seq, last)
		}
	}
}

// testEventsResume: a stream opened after event N carries what follows N: without a Reset when
// nothing was lost, with one when N is unknown or (Keep) older than what is kept.
func testEventsResume(t *testing.T, env *Env) {
	w, svc := eventsWorld(t, env)
	b := w.b
	caps := env.Caps()
	s := openStream(t, b, "the first stream", 0, false)
	j := w.reboot(t, svc)
	e1, _ := s.until("the first reboot", jobIs(j.ID, store.JobQueued))
	s.close()

	// Nothing happened in between: the stream goes on where the last left off.
	s = openStream(t, b, "a stream resumed with nothing missed", e1.Seq, false)
	j = w.reboot(t, svc)
	ev := s.next()
	if ev.Reset || ev.Seq != e1.Seq+1 || !jobIs(j.ID, store.JobQueued)(ev) {
		t.Errorf("resumed after %d with nothing missed, the first event is %s, want %d, the reboot, no reset",
			e1.Seq, seqs([]backend.Event{ev}), e1.Seq+1)
	}
	last := ev.Seq
	s.close()

	// A change while no stream is open.
	missed := w.reboot(t, svc)
	s = openStream(t, b, "a stream resumed over a gap", last, false)
	after := w.reboot(t, svc)
	if caps.Keep > 0 {
		// Kept: the missed change comes first, then what followed, with no reset.
		ev = s.next()
		if ev.Reset || ev.Seq != last+1 || !jobIs(missed.ID, store.JobQueued)(ev) {
			t.Errorf("resumed after %d (Keep %d), the first event is %s, want the missed reboot as %d",
				last, caps.Keep, seqs([]backend.Event{ev}), last+1)
		}
		if ev = s.next(); ev.Reset || !jobIs(after.ID, store.JobQueued)(ev) {
			t.Errorf("the event after the missed one is %s, want the next reboot", seqs([]backend.Event{ev}))
		}
	} else {
		// Nothing kept: the first event says what was missed is lost.
		ev = s.next()
		if !ev.Reset {
			t.Errorf("resumed after %d over a missed event (Keep 0), the first event is %s, want a reset",
				last, seqs([]backend.Event{ev}))
		}
		if !jobIs(after.ID, store.JobQueued)(ev) {
			s.until("the reboot after the gap", jobIs(after.ID, store.JobQueued))
		}
	}
	last = s.last
	s.close()

	// A number never sent: a reset, then the events as they come.
	s = openStream(t, b, "a stream resumed from an unknown event", last+1000, false)
	j = w.reboot(t, svc)
	if ev = s.next(); !ev.Reset {
		t.Errorf("resumed from %d, never sent, the first event is %s, want a reset", last+1000, seqs([]backend.Event{ev}))
	}
	if !jobIs(j.ID, store.JobQueued)(ev) {
		s.until("the reboot after the reset", jobIs(j.ID, store.JobQueued))
	}
	s.close()

	if caps.Keep == 0 {
		t.Log("the driver keeps no events (Keep 0): nothing can be too old to resume from")
		return
	}
	if caps.Keep > 1000 {
		t.Logf("Keep is %d: making that many events to outrun it is left to the driver's own tests", caps.Keep)
		return
	}
	// More than Keep events after e1: e1 is too old; the newest few are still there.
	full := openStream(t, b, "the full stream", 0, false)
	for range caps.Keep + 1 {
		j = w.reboot(t, svc)
	}
	end, _ := full.until("the last reboot", jobIs(j.ID, store.JobQueued))
	s = openStream(t, b, "a stream resumed from too long ago", e1.Seq, false)
	j = w.reboot(t, svc)
	if ev = s.next(); !ev.Reset {
		t.Errorf("resumed from %d, more than Keep %d events ago, the first event is %s, want a reset",
			e1.Seq, caps.Keep, seqs([]backend.Event{ev}))
	}
	if !jobIs(j.ID, store.JobQueued)(ev) {
		s.until("the reboot after the reset", jobIs(j.ID, store.JobQueued))
	}
	s.close()
	s = openStream(t, b, "a stream resumed from three events ago", end.Seq-3, false)
	for want := end.Seq - 2; want <= end.Seq; want++ {
		if ev = s.next(); ev.Reset || ev.Seq != want {
			t.Errorf("resumed from %d, the event read is %s, want %d", end.Seq-3, seqs([]backend.Event{ev}), want)
		}
	}
}

// testEventsReopen: a stream from before a restart of the Backend says Reset; with DurableSeq the
// numbers go on past everything sent before.
func testEventsReopen(t *testing.T, env *Env) {
	w, svc := eventsWorld(t, env)
	s := openStream(t, w.b, "the stream before the restart", 0, false)
	j := w.reboot(t, svc)
	before, _ := s.until("the reboot", jobIs(j.ID, store.JobQueued))
	s.close()

	b := env.Reopen()
	w.b = b
	s = openStream(t, b, "the stream after the restart", before.Seq, false)
	j = w.reboot(t, svc)
	first := s.next()
	if !first.Reset {
		t.Errorf("resumed after a restart from %d, the first event is %s, want a reset", before.Seq, seqs([]backend.Event{first}))
	}
	ev := first
	if !jobIs(j.ID, store.JobQueued)(ev) {
		ev, _ = s.until("the reboot after the restart", jobIs(j.ID, store.JobQueued))
	}
	if !env.Caps().DurableSeq {
		t.Log("the driver declares no DurableSeq: numbers may start again after a restart")
		return
	}
	if first.Seq < before.Seq || ev.Seq <= before.Seq {
		t.Errorf("after a restart the events are numbered %d and %d, not past %d sent before", first.Seq, ev.Seq, before.Seq)
	}
	// And a stream opened after the restart's reset resumes as usual.
	s.close()
	s = openStream(t, b, "a stream resumed after the restart", ev.Seq, false)
	j = w.reboot(t, svc)
	if ev2 := s.next(); ev2.Reset || ev2.Seq != ev.Seq+1 || !jobIs(j.ID, store.JobQueued)(ev2) {
		t.Errorf("resumed from %d after the restart, the first event is %s, want %d", ev.Seq, seqs([]backend.Event{ev2}), ev.Seq+1)
	}
}

// testEngine: with an engine running, an open goes through VMmanager to done, and Status and
// Stats show what the engine did.
func testEngine(t *testing.T, env *Env) {
	env.RunEngine()
	w := newWorld(t, env, false)
	b := w.b
	info, err := b.Info(ctx(t))
	must(t, err)
	wantInfo(t, env, info)
	s := openStream(t, b, "the stream", 0, false)
	svc := env.AddService(w.tariff.ID, 0, store.ServiceOrdered, 0)
	j, err := b.Enqueue(ctx(t), svc.ID, store.OpOpen, nil)
	must(t, err)
	done, before := s.until("the open done", func(ev backend.Event) bool {
		if ev.Kind == queue.JobChanged && ev.Job.ID == j.ID && store.Finished(ev.Job.State) {
			return true
		}
		return false
	})
	if done.Job.State != store.JobDone {
		t.Fatalf("the open ended %s: %s", done.Job.State, done.Job.Error)
	}
	running := false
	for _, ev := range before {
		running = running || jobIs(j.ID, store.JobRunning)(ev)
	}
	if !running {
		t.Errorf("the stream did not show the open running before done: %s", seqs(before))
	}
	if got := load[store.Service](t, b, svc.ID); got.Status != store.ServiceActive || got.VM.HostID == 0 {
		t.Errorf("the opened service is %+v", got)
	}
	if n := env.Sim.Stats().HostsCreated; len(n) != 1 {
		t.Errorf("VMmanager created %v", n)
	}
	st, err := b.Status(ctx(t))
	must(t, err)
	if st.Jobs[store.JobDone] != 1 || st.Counts[w.module.ID].Done != 1 {
		t.Errorf("Status after the open: jobs %v, counts %+v", st.Jobs, st.Counts)
	}
	if len(st.Modules) != 1 || st.Modules[0].Logins == nil || st.Modules[0].Logins.Count < 1 {
		t.Errorf("Status.Modules with an engine running: %+v, want its logins", st.Modules)
	}
	eventually(t, wait, func() (bool, string) {
		sn, err := b.Stats(ctx(t))
		if err != nil || len(sn.Modules) != 1 {
			return false, fmt.Sprintf("%+v, %v", sn, err)
		}
		m := sn.Modules[0]
		return m.Day.Done == 1 && m.Hour.Done == 1 && m.Logins != nil, fmt.Sprintf("module figures %+v", m)
	})
}
