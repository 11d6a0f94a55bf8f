package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// jobEvent is an engine event about job id, numbered seq by the engine.
func jobEvent(seq, id uint64) backend.Event {
	return backend.Event{Event: queue.Event{Seq: seq, Kind: queue.JobChanged, ModuleID: 1,
		Job: &store.Job{ID: id, ServiceID: 1, Type: store.OpReboot, State: store.JobQueued}}}
}

// publish feeds the hub engine events numbered from..to.
func publish(h *hub, from, to uint64) {
	for seq := from; seq <= to; seq++ {
		h.publish(jobEvent(seq, seq))
	}
}

func lineSeqs(lines []*line) []uint64 {
	out := make([]uint64, len(lines))
	for i, l := range lines {
		out[i] = l.seq
	}
	return out
}

func wantSeqs(t *testing.T, what string, got []uint64, from, to uint64) {
	t.Helper()
	ok := len(got) == int(to-from+1)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i] == from+uint64(i)
	}
	if !ok {
		t.Errorf("%s: events %v, want %d..%d", what, got, from, to)
	}
}

// TestHubResume: the ring keeps the newest events; a subscriber resuming from N gets what followed
// N while it is kept, else one reset numbered with the newest event.
func TestHubResume(t *testing.T) {
	h := newHub(4, 16)
	backlog, first, ok := h.subscribe(0)
	if !ok || len(backlog) != 0 {
		t.Fatalf("a first subscriber to an empty hub: %v, %v", lineSeqs(backlog), ok)
	}
	h.unsubscribe(first)
	publish(h, 1, 10)
	if got := lineSeqs(h.ring); len(got) != 4 || got[0] != 7 || got[3] != 10 {
		t.Errorf("the ring holds %v, want the newest 4 (7..10)", got)
	}
	for _, c := range []struct {
		since     uint64
		from, to  uint64 // the backlog; 0, 0 for none
		wantReset bool
	}{
		{since: 0},  // a new client: what comes from now on
		{since: 10}, // up to date
		{since: 9, from: 10, to: 10},
		{since: 6, from: 7, to: 10}, // the oldest kept follows it
		{since: 5, wantReset: true}, // 6 is no longer kept
		{since: 1, wantReset: true},
		{since: 11, wantReset: true}, // never sent (another server's number)
		{since: 1 << 40, wantReset: true},
	} {
		backlog, s, ok := h.subscribe(c.since)
		if !ok {
			t.Fatal("subscribe refused on a running hub")
		}
		h.unsubscribe(s)
		switch {
		case c.wantReset:
			if len(backlog) != 1 || !backlog[0].ev.Reset || backlog[0].seq != 10 || !backlog[0].keep {
				t.Errorf("since %d: backlog %v, want one reset numbered 10", c.since, lineSeqs(backlog))
			}
			var ev backend.Event
			if err := json.Unmarshal(backlog[0].bytes(), &ev); err != nil || !ev.Reset || ev.Seq != 10 {
				t.Errorf("since %d: the reset goes on the wire as %q", c.since, backlog[0].bytes())
			}
		case c.from == 0:
			if len(backlog) != 0 {
				t.Errorf("since %d: backlog %v, want none", c.since, lineSeqs(backlog))
			}
		default:
			wantSeqs(t, fmt.Sprintf("since %d", c.since), lineSeqs(backlog), c.from, c.to)
			for _, l := range backlog {
				if l.ev.Reset {
					t.Errorf("since %d: a kept event says reset", c.since)
				}
			}
		}
	}
	if len(h.subs) != 0 {
		t.Errorf("%d subscriptions left after unsubscribing all", len(h.subs))
	}
}

// TestHubEngineReset: when the hub's own feed says events were lost, what it kept before no longer
// joins up: a subscriber from before it is reset.
func TestHubEngineReset(t *testing.T) {
	h := newHub(8, 16)
	publish(h, 1, 5)
	h.publish(backend.Event{Event: queue.Event{Seq: 9}, Reset: true}) // 6..8 never reached the hub
	publish(h, 10, 11)
	if got := lineSeqs(h.ring); len(got) != 3 || got[0] != 9 {
		t.Errorf("the ring holds %v, want 9..11", got)
	}
	backlog, _, _ := h.subscribe(4)
	if len(backlog) != 1 || !backlog[0].ev.Reset || backlog[0].seq != 11 {
		t.Errorf("since 4, from before the feed's gap: %v, want one reset", lineSeqs(backlog))
	}
	backlog, _, _ = h.subscribe(8)
	if len(backlog) != 3 || !backlog[0].ev.Reset || backlog[0].seq != 9 {
		t.Errorf("since 8: %v, want the feed's reset and what followed", lineSeqs(backlog))
	}
}

// TestHubDropsSlowSubscriber: a subscriber whose buffer is full is dropped, never waited for; the
// others go on.
func TestHubDropsSlowSubscriber(t *testing.T) {
	h := newHub(100, 2)
	_, slow, _ := h.subscribe(0)
	_, fast, _ := h.subscribe(0)
	publish(h, 1, 2)
	for range 2 {
		<-fast.ch
	}
	published := make(chan struct{})
	go func() { publish(h, 3, 3); close(published) }() // slow's buffer is full: it goes
	select {
	case <-published:
	case <-time.After(30 * time.Second):
		t.Fatal("publish waited for a subscriber whose buffer is full")
	}
	var got []uint64
	for l := range slow.ch { // what it had, then closed
		got = append(got, l.seq)
	}
	wantSeqs(t, "the slow subscriber", got, 1, 2)
	if l := <-fast.ch; l.seq != 3 {
		t.Errorf("the other subscriber got %d, want 3", l.seq)
	}
	h.unsubscribe(slow) // after the drop: nothing to close twice
	if _, still := h.subs[slow]; still || len(h.subs) != 1 {
		t.Errorf("the hub still has %d subscriptions", len(h.subs))
	}
	// It resumes from the last it read: everything after is kept.
	backlog, _, _ := h.subscribe(2)
	wantSeqs(t, "the dropped subscriber resuming", lineSeqs(backlog), 3, 3)
}

// TestHubShutdown: streams end, and no new one starts.
func TestHubShutdown(t *testing.T) {
	h := newHub(4, 4)
	_, s, _ := h.subscribe(0)
	h.shutdown()
	if _, open := <-s.ch; open {
		t.Error("a subscription is still open after the shutdown")
	}
	if _, _, ok := h.subscribe(0); ok {
		t.Error("subscribe after the shutdown was accepted")
	}
	// The handler says so: 503.
	srv := newServer(t, newFake())
	srv.hub.shutdown()
	hs := httpServe(t, srv, 0)
	if a := request(t, hs.Client(), http.MethodGet, hs.URL+"/v1/events", ``, testVersion); a.status != 503 || !a.says("stopping") {
		t.Errorf("a stream asked of a stopping server: %d %s", a.status, a.raw)
	}
}

// memSeqs is a SeqStore in memory that counts its writes and fails them on demand.
type memSeqs struct {
	mu     sync.Mutex
	v      map[string]uint64
	writes int
	fail   error
}

func (m *memSeqs) Counter(name string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v[name], nil
}

func (m *memSeqs) SetCounter(name string, v uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.v == nil {
		m.v = map[string]uint64{}
	}
	m.v[name] = v
	m.writes++
	return nil
}

// TestHubNumbersAcrossRestarts: numbers are reserved a block at a time, one write per block, and a
// hub that starts where another stopped numbers past all it could have sent.
func TestHubNumbersAcrossRestarts(t *testing.T) {
	seqs := &memSeqs{}
	h1 := newHub(16, 16)
	if err := h1.restore(seqs); err != nil {
		t.Fatal(err)
	}
	publish(h1, 1, 3)
	base := h1.base // a fresh store numbers from 2: since=0 means "from now", so FirstEvent-1 is never 0
	if base != 1 {
		t.Fatalf("a hub on a fresh store adds %d to the engine's numbers, want 1", base)
	}
	if seqs.writes != 1 || seqs.v[seqCounter] != base+1+SeqBlock {
		t.Fatalf("after 3 events: %d writes, reserved %d; want 1 write reserving %d", seqs.writes, seqs.v[seqCounter], base+1+SeqBlock)
	}
	h1.publish(jobEvent(SeqBlock, 4))
	if seqs.writes != 1 {
		t.Errorf("an event inside the reserved block wrote again (%d writes)", seqs.writes)
	}
	h1.publish(jobEvent(SeqBlock+2, 5)) // past the block
	if seqs.writes != 2 || seqs.v[seqCounter] != base+2*SeqBlock+2 {
		t.Errorf("past the block: %d writes, reserved %d", seqs.writes, seqs.v[seqCounter])
	}
	sent := h1.last

	h2 := newHub(16, 16) // the next server, its engine numbering from 1 again
	if err := h2.restore(seqs); err != nil {
		t.Fatal(err)
	}
	backlog, _, _ := h2.subscribe(sent)
	if len(backlog) != 1 || !backlog[0].ev.Reset || backlog[0].seq < sent {
		t.Errorf("resuming from %d, sent before the restart: %v, want one reset", sent, lineSeqs(backlog))
	}
	_, s, _ := h2.subscribe(0)
	publish(h2, 1, 2)
	for range 2 {
		if l := <-s.ch; l.seq <= sent {
			t.Errorf("after the restart an event is numbered %d, not past %d", l.seq, sent)
		}
	}
	if seqs.writes != 3 {
		t.Errorf("the restarted hub's first event wrote %d reservations in all, want 3", seqs.writes)
	}
}

// TestHubReservationFails: a reservation that cannot be written is reported and tried again with
// the next event; the events still flow.
func TestHubReservationFails(t *testing.T) {
	seqs := &memSeqs{fail: errors.New("disk full")}
	h := newHub(16, 16)
	if err := h.restore(seqs); err != nil {
		t.Fatal(err)
	}
	var reported []error
	h.onError = func(err error) { reported = append(reported, err) }
	_, s, _ := h.subscribe(0)
	publish(h, 1, 2)
	if len(reported) != 2 || seqs.writes != 0 {
		t.Errorf("two events with the store failing: %d reported, %d written", len(reported), seqs.writes)
	}
	if l := <-s.ch; l.seq != h.base+1 {
		t.Errorf("the first event is %d, want %d", l.seq, h.base+1)
	}
	seqs.mu.Lock()
	seqs.fail = nil
	seqs.mu.Unlock()
	publish(h, 3, 4)
	if len(reported) != 2 || seqs.writes != 1 || seqs.v[seqCounter] != h.base+3+SeqBlock {
		t.Errorf("once the store works: %d reported, %d written, reserved %d", len(reported), seqs.writes, seqs.v[seqCounter])
	}
}

// unixHTTP is an HTTP client for the socket.
func unixHTTP(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// openRaw opens the event stream as bytes.
func openRaw(t *testing.T, sock, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://vmmpm"+eventsPath+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(versionHeader, testVersion)
	hc := unixHTTP(sock)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close(); hc.CloseIdleConnections() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("the event stream answered %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

// send hands the fake's engine an event, failing the test if the server does not take it.
func (f *fakeBackend) send(t *testing.T, ev backend.Event) {
	t.Helper()
	select {
	case f.events <- ev:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not take event %d within 30 s: the engine would be held", ev.Seq)
	}
}

// TestEventsHeartbeat: an idle stream carries an empty line every Heartbeat.
func TestEventsHeartbeat(t *testing.T) {
	setVar(t, &Heartbeat, 20*time.Millisecond)
	c := serveLocal(t, newFake(), nil, testVersion)
	sc := bufio.NewScanner(openRaw(t, c.Socket(), "").Body)
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(30 * time.Second)
	for n := 0; n < 4; n++ { // the first write, then heartbeats
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			if l != "" {
				t.Fatalf("an idle stream carried %q", l)
			}
		case <-deadline:
			t.Fatalf("only %d empty lines within 30 s with a %s heartbeat", n, Heartbeat)
		}
	}
}

// TestEventsOnTheWire: a job travels with its newest log line only; a light stream gathers job
// events into notices and keeps engine and module events whole, in their place.
func TestEventsOnTheWire(t *testing.T) {
	f := newFake()
	c := serveLocal(t, f, nil, testVersion)
	full, err := c.Events(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	light, err := c.Events(t.Context(), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	long := jobEvent(1, 1)
	for i := range store.MaxJobLogLines {
		long.Job.Logf(time.Now(), "line %d", i)
	}
	f.send(t, long)
	for seq := uint64(2); seq <= 4; seq++ {
		f.send(t, jobEvent(seq, seq))
	}
	f.send(t, backend.Event{Event: queue.Event{Seq: 5, Kind: queue.EngineStatus, Status: &queue.Status{Paused: true, PauseReason: "disk full"}}})
	f.send(t, backend.Event{Event: queue.Event{Seq: 6, Kind: queue.ModuleHealth, ModuleID: 1, Health: "VMmanager refused"}})
	f.send(t, jobEvent(7, 7))
	f.send(t, jobEvent(8, 8))

	read := func(ch <-chan backend.Event, what string, until uint64) []backend.Event {
		t.Helper()
		var out []backend.Event
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatalf("the %s stream ended", what)
				}
				out = append(out, ev)
				if ev.Seq >= until {
					return out
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the %s stream did not reach %d: %+v", what, until, out)
			}
		}
	}
	evs := read(full, "full", 8)
	if len(evs) != 8 || evs[0].Job == nil || len(evs[0].Job.Log) != 1 ||
		evs[0].Job.Log[0].Text != fmt.Sprintf("line %d", store.MaxJobLogLines-1) {
		t.Fatalf("the full stream: %+v", evs)
	}
	covered := 0
	var whole []uint64
	for _, ev := range read(light, "light", 8) {
		switch {
		case ev.Covers > 0:
			if ev.Job != nil || (ev.Seq > 4 && ev.Seq < 7) {
				t.Errorf("a notice %+v", ev)
			}
			if len(whole) == 0 && ev.Seq > 4 || len(whole) == 2 && ev.Seq < 7 {
				t.Errorf("the notice up to %d is out of place around the whole events %v", ev.Seq, whole)
			}
			covered += ev.Covers
		case ev.Kind == queue.EngineStatus && ev.Status != nil && ev.Status.PauseReason == "disk full",
			ev.Kind == queue.ModuleHealth && ev.Health == "VMmanager refused":
			whole = append(whole, ev.Seq)
		default:
			t.Errorf("the light stream carried %+v", ev)
		}
	}
	if covered != 6 || len(whole) != 2 || whole[0] != 5 || whole[1] != 6 {
		t.Errorf("the light stream covered %d job events and carried %v whole; want 6, and 5 and 6", covered, whole)
	}
}

// TestEventsSlowClientDropped: a client that stops reading is dropped once its buffer is full; the
// engine is never held and the other clients go on; the dropped one reads what it was sent, and
// resumes from there without a gap.
func TestEventsSlowClientDropped(t *testing.T) {
	setVar(t, &ClientBuffer, 4)
	f := newFake()
	c := serveLocal(t, f, nil, testVersion)
	fast, err := c.Events(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	slow := openRaw(t, c.Socket(), "?since=0") // never read until the end
	// Events of 16 KiB each: a few fill the socket's buffers, the rest the client's buffer.
	const n = 400
	text := strings.Repeat("x", 16<<10)
	for seq := uint64(1); seq <= n; seq++ {
		ev := jobEvent(seq, seq)
		ev.Job.Logf(time.Now(), "%s", text)
		f.send(t, ev)
		select { // pace on the fast client, so only the slow one falls behind
		case got := <-fast:
			if got.Seq != seq {
				t.Fatalf("the fast client got %d, want %d", got.Seq, seq)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the fast client did not get event %d", seq)
		}
	}
	subs := func() int { c.srv.hub.mu.Lock(); defer c.srv.hub.mu.Unlock(); return len(c.srv.hub.subs) }
	if got := subs(); got != 1 {
		t.Errorf("after %d events the hub has %d subscribers, want only the fast one", n, got)
	}
	// The slow client reads what was written and queued for it, then the end of its stream.
	var got []uint64
	sc := bufio.NewScanner(slow.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev backend.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Seq)
	}
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("the dropped client read %d events before its stream ended, want some but not all %d", len(got), n)
	}
	wantSeqs(t, "the dropped client", got, 1, uint64(len(got)))
	// It resumes from the last it read: the rest is kept.
	resumed, err := c.Events(t.Context(), got[len(got)-1], false)
	if err != nil {
		t.Fatal(err)
	}
	for want := got[len(got)-1] + 1; want <= n; want++ {
		select {
		case ev := <-resumed:
			if ev.Reset || ev.Seq != want {
				t.Fatalf("resumed from %d, the client read %d (reset %v), want %d", got[len(got)-1], ev.Seq, ev.Reset, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("resumed from %d, event %d did not come", got[len(got)-1], want)
		}
	}
	t.Logf("the slow client read %d of %d events before it was dropped", len(got), n)
}

// TestEventsEndWithTheServer: stopping the server ends every stream, and the client then says the
// server is gone.
func TestEventsEndWithTheServer(t *testing.T) {
	c := serveLocal(t, newFake(), nil, testVersion)
	ch, err := c.Events(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- c.Close() }()
	select {
	case _, open := <-ch:
		if open {
			t.Error("the stream carried an event as the server stopped")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end when the server stopped")
	}
	if err := <-stopped; err != nil {
		t.Errorf("stopping the server: %v", err)
	}
	if _, err := c.Events(t.Context(), 0, false); !errors.Is(err, ErrServerGone) {
		t.Errorf("a stream asked of a stopped server: %v, want ErrServerGone", err)
	}
}

// TestStreamEndedSaysSilence: a server that answered the stream and then says nothing (stopped, its
// disk hung) ends the stream after two missed heartbeats, and StreamEnded names the silence, so a
// watcher can say so at once; a stream the server closed ends with no such reason.
func TestStreamEndedSaysSilence(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then silence, as from a SIGSTOPped server
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	c := NewClient(sock, testVersion)
	t.Cleanup(func() { _ = c.Close() })
	ch, err := c.Events(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for range ch {
		t.Fatal("the silent server's stream carried an event")
	}
	if !errors.Is(c.StreamEnded(), backend.ErrNotAnswering) {
		t.Fatalf("after the silence StreamEnded = %v, want the not-answering sentence", c.StreamEnded())
	}
	t.Logf("the stream ended %s after it began", time.Since(began).Truncate(time.Millisecond))

	c2 := serveLocal(t, newFake(), nil, testVersion)
	ch, err = c2.Events(t.Context(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c2.Close() }()
	for range ch {
	}
	if err := c2.StreamEnded(); err != nil {
		t.Errorf("a stream the server closed: StreamEnded = %v, want nil", err)
	}
}
