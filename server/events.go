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
	// Heartbeat is how often an idle stream carries an empty line, so a vanished client is noticed.
	Heartbeat = 5 * time.Second
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
	ring     []line // the newest events, oldest first
	last     uint64
	subs     map[*sub]struct{}
	closed   bool
	base     uint64      // added to the engine's numbers
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
	h.seqs, h.base, h.reserved, h.last = seqs, v, v, v
	return nil
}

type sub struct{ ch chan line }

// line is one event as it goes on the wire, encoded once for every stream.
type line struct {
	seq  uint64
	data []byte // JSON and a newline
}

// encode writes ev for the wire. A job travels with its newest log line only: that is what a stream
// shows, and the whole log (up to 50 lines) would multiply what every client decodes; `get` reads it.
func encode(ev backend.Event) line {
	if j := ev.Job; j != nil && len(j.Log) > 1 {
		short := *j
		short.Log = j.Log[len(j.Log)-1:]
		ev.Job = &short
	}
	b, _ := json.Marshal(ev) // an Event always marshals: plain fields and a store.Job
	return line{seq: ev.Seq, data: append(b, '\n')}
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
	l := encode(ev)
	h.ring = append(h.ring, l)
	h.last = ev.Seq
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
func (h *hub) subscribe(since uint64) (backlog []line, s *sub, ok bool) {
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
		backlog = []line{encode(backend.Event{Event: queue.Event{Seq: h.last}, Reset: true})}
	}
	s = &sub{ch: make(chan line, h.buf)}
	h.subs[s] = struct{}{}
	return backlog, s, true
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
	backlog, sub, ok := s.hub.subscribe(since)
	if !ok {
		fail(w, http.StatusServiceUnavailable, "the vmmpm server is stopping")
		return
	}
	defer s.hub.unsubscribe(sub)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	bw := bufio.NewWriter(w)
	flush := func() bool {
		if bw.Flush() != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for _, l := range backlog {
		if _, err := bw.Write(l.data); err != nil {
			return
		}
	}
	if !flush() {
		return
	}
	beat := time.NewTicker(Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			if _, err := bw.WriteString("\n"); err != nil || !flush() {
				return
			}
		case l, ok := <-sub.ch:
			if !ok {
				return
			}
			if _, err := bw.Write(l.data); err != nil {
				return
			}
			for n := len(sub.ch); n > 0; n-- { // write what else is waiting before one flush
				l, ok := <-sub.ch
				if !ok {
					flush()
					return
				}
				if _, err := bw.Write(l.data); err != nil {
					return
				}
			}
			if !flush() {
				return
			}
		}
	}
}
