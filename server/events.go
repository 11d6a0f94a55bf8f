package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
)

// HubKeep is how many recent events the server keeps for clients that reconnect; ClientBuffer is how
// far one client may fall behind before it is dropped.
var (
	HubKeep      = 16384
	ClientBuffer = 4096
	// Heartbeat is how often an idle stream carries an empty line, so a vanished client is noticed and
	// a client notices a server that stopped answering (after two missed beats).
	Heartbeat = time.Second
	// LightEvery is how long a light stream gathers events into one notice: far below a TUI's repaint
	// tick, and it spares every watcher a read per event when the engine is busy.
	LightEvery = 25 * time.Millisecond
)

// hub fans the engine's events out to the streams, never waiting for one: a client whose buffer is
// full is dropped (it reconnects and resumes from the kept events).
//
// Sequence numbers go on across restarts: the engine numbers its events from 1 in each process, so
// the hub adds a base read from the database. Numbers are reserved ahead in blocks (one small write
// per SeqBlock events) and a new server starts past every number the last one could have sent: a
// client resuming from before a crash gets a Reset, then higher numbers, never a repeat.
type hub struct {
	mu       sync.Mutex
	keep     int
	buf      int
	ring     []*line // the newest events, oldest first
	last     uint64
	subs     map[*sub]struct{}
	closed   bool
	base     uint64      // added to the engine's numbers
	firstSeq uint64      // the first number sent (0: none yet); the engine may have numbered some before
	reserved uint64      // numbers up to this one are reserved durably
	seqs     SeqStore    // where reservations are written; nil: numbers start at 1 and are not kept
	onError  func(error) // a reservation could not be written
}

// SeqStore keeps the hub's reservation of event numbers (the database's meta bucket).
type SeqStore interface {
	Counter(name string) (uint64, error)
	SetCounter(name string, v uint64) error
}

// SeqBlock is how many event numbers one reservation covers.
const SeqBlock = 1 << 16

const seqCounter = "event_seq_reserved"

// restore makes numbering start after everything an earlier server reserved.
func (h *hub) restore(seqs SeqStore) error {
	if seqs == nil {
		return nil
	}
	v, err := seqs.Counter(seqCounter)
	if err != nil {
		return err
	}
	// Numbers start past 1: since=0 asks for what comes from now on, so a watcher that wants all a
	// new server did asks since=FirstEvent-1, which must never be 0.
	v = max(v, 1)
	h.seqs, h.base, h.reserved, h.last = seqs, v, v, v
	return nil
}

type sub struct{ ch chan *line }

// line is one event as it goes on the wire, encoded at most once for every stream, and only when a
// stream writes it whole (light streams mostly write notices).
type line struct {
	seq  uint64
	keep bool // a light stream carries it whole: engine state, module health, reconcile news, a reset
	ev   backend.Event
	once sync.Once
	data []byte // JSON and a newline
}

func newLine(ev backend.Event) *line {
	keep := ev.Reset || ev.Kind == queue.EngineStatus || ev.Kind == queue.ModuleHealth || ev.Kind == queue.ReconcileFound
	return &line{seq: ev.Seq, keep: keep, ev: ev}
}

// bytes is the event for the wire. A job travels with its newest log line only: that is what a stream
// shows, and the whole log (up to 50 lines) would multiply what every client decodes; `get` reads it.
func (l *line) bytes() []byte {
	l.once.Do(func() {
		ev := l.ev
		if j := ev.Job; j != nil && len(j.Log) > 1 {
			short := *j
			short.Log = j.Log[len(j.Log)-1:]
			ev.Job = &short
		}
		b, _ := json.Marshal(ev) // an Event always marshals: plain fields and a store.Job
		l.data = append(b, '\n')
	})
	return l.data
}

// notice is the light stream's line for job and lane events: that n of them happened, up to seq.
func notice(seq uint64, n int) []byte {
	b, _ := json.Marshal(backend.Event{Event: queue.Event{Seq: seq}, Covers: n})
	return append(b, '\n')
}

func newHub(keep, buf int) *hub {
	return &hub{keep: keep, buf: buf, subs: map[*sub]struct{}{}}
}

func (h *hub) run(in <-chan backend.Event) {
	for ev := range in {
		h.publish(ev)
	}
	h.shutdown()
}

func (h *hub) publish(ev backend.Event) {
	ev.Seq += h.base
	if h.seqs != nil && ev.Seq > h.reserved {
		next := ev.Seq + SeqBlock
		if err := h.seqs.SetCounter(seqCounter, next); err != nil && h.onError != nil {
			h.onError(err)
		} else {
			h.reserved = next
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Reset { // the hub itself missed events: whatever it kept no longer joins up
		h.ring = h.ring[:0]
	}
	if len(h.ring) == h.keep {
		copy(h.ring, h.ring[1:])
		h.ring = h.ring[:len(h.ring)-1]
	}
	l := newLine(ev)
	h.ring = append(h.ring, l)
	h.last = ev.Seq
	if h.firstSeq == 0 {
		h.firstSeq = ev.Seq
	}
	for s := range h.subs {
		select {
		case s.ch <- l:
		default: // too slow: drop it rather than wait
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// subscribe returns the kept events after since and a live subscription. When the events after since
// are no longer kept (or since is from before a restart), the backlog is one Reset event.
func (h *hub) subscribe(since uint64) (backlog []*line, s *sub, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, false
	}
	switch {
	case since == 0 || since == h.last:
	case since < h.last && len(h.ring) > 0 && h.ring[0].seq <= since+1:
		i := len(h.ring) - int(h.last-since)
		backlog = append(backlog, h.ring[i:]...)
	default:
		backlog = []*line{newLine(backend.Event{Event: queue.Event{Seq: h.last}, Reset: true})}
	}
	s = &sub{ch: make(chan *line, h.buf)}
	h.subs[s] = struct{}{}
	return backlog, s, true
}

// first is the number of the first event this hub sent (the next one while it has sent none).
func (h *hub) first() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.firstSeq == 0 {
		return h.last + 1
	}
	return h.firstSeq
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}

// events streams newline-delimited JSON events until the client leaves, falls too far behind or the
// server stops.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		fail(w, http.StatusMethodNotAllowed, eventsPath+" takes GET, not "+r.Method)
		return
	}
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "since must be an event sequence number, not "+strconv.Quote(v))
			return
		}
		since = n
	}
	light := r.URL.Query().Get("light") == "1"
	backlog, sub, ok := s.hub.subscribe(since)
	if !ok {
		fail(w, http.StatusServiceUnavailable, "the vmmpm server is stopping")
		return
	}
	defer s.hub.unsubscribe(sub)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	out := &stream{w: bufio.NewWriter(w), light: light}
	out.flusher, _ = w.(http.Flusher)
	if !out.write(backlog) {
		return
	}
	beat := time.NewTicker(Heartbeat)
	defer beat.Stop()
	batch := make([]*line, 0, 256)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			if !out.write(nil) {
				return
			}
		case l, ok := <-sub.ch:
			if !ok {
				return
			}
			batch = append(batch[:0], l)
			if light { // a watcher re-reads on its own tick: gather what comes in LightEvery into one notice
				batch, ok = gather(batch, sub.ch, time.After(LightEvery))
			}
			for n := len(sub.ch); n > 0 && ok; n-- { // take what else is waiting: one write, one flush
				if l, ok = <-sub.ch; ok {
					batch = append(batch, l)
				}
			}
			if !out.write(batch) || !ok {
				return
			}
		}
	}
}

// gather appends what ch delivers until deadline; ok is false when ch was closed.
func gather(batch []*line, ch <-chan *line, deadline <-chan time.Time) ([]*line, bool) {
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				return batch, false
			}
			batch = append(batch, l)
		case <-deadline:
			return batch, true
		}
	}
}

// stream writes batches of events to one client and flushes each; an empty batch is a heartbeat.
type stream struct {
	w       *bufio.Writer
	flusher http.Flusher
	light   bool
}

// write sends batch: whole, or on a light stream as one notice for its job and lane events, with the
// lines a light stream keeps whole in their place.
func (s *stream) write(batch []*line) bool {
	if len(batch) == 0 {
		_, _ = s.w.WriteString("\n")
	}
	covered, last := 0, uint64(0)
	for _, l := range batch {
		if !s.light || l.keep {
			if covered > 0 {
				_, _ = s.w.Write(notice(last, covered))
				covered = 0
			}
			_, _ = s.w.Write(l.bytes())
			continue
		}
		covered, last = covered+1, l.seq
	}
	if covered > 0 {
		_, _ = s.w.Write(notice(last, covered))
	}
	if s.w.Flush() != nil {
		return false
	}
	if s.flusher != nil {
		s.flusher.Flush()
	}
	return true
}
