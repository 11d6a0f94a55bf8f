package jobs

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/server"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
)

// wireMeter counts the calls a server is sent and the bytes of its answers, on its connections: the
// server itself runs unchanged (peer check and all).
type wireMeter struct {
	net.Listener
	calls, bytes atomic.Int64
}

func (m *wireMeter) Accept() (net.Conn, error) {
	c, err := m.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &meteredConn{UnixConn: c.(*net.UnixConn), m: m}, nil
}

func (m *wireMeter) reset() { m.calls.Store(0); m.bytes.Store(0) }

// meteredConn keeps the *net.UnixConn's SyscallConn, so the server's peer check reads its uid.
type meteredConn struct {
	*net.UnixConn
	m    *wireMeter
	tail []byte // the end of the last read, so a request line split over two reads is counted once
}

// requestLine starts every call; helloLine the liveness pings a client sends during a call that lasts
// (a search under -race), which are not calls the pane makes.
var requestLine, helloLine = []byte("POST /v1/"), []byte("POST /v1/hello ")

func (c *meteredConn) Read(b []byte) (int, error) {
	n, err := c.UnixConn.Read(b)
	data := append(c.tail, b[:n]...)
	c.m.calls.Add(int64(bytes.Count(data, requestLine) - bytes.Count(data, helloLine)))
	c.tail = append([]byte(nil), data[max(len(data)-len(requestLine)+1, 0):]...)
	return n, err
}

func (c *meteredConn) Write(b []byte) (int, error) {
	c.m.bytes.Add(int64(len(b)))
	return c.UnixConn.Write(b)
}

// attachedPane is the jobs pane of a TUI attached over a real Unix socket to a server holding a history
// of 10,000 queued jobs, with 40 rows on screen; the meter sees every call the pane makes.
func attachedPane(t *testing.T) (*Model, *wireMeter) {
	f := uitest.OpenAt(t, uitest.Backlog(t, 10000), uitest.Executor(), false)
	srv, err := server.New(backend.NewLocal(f.DB, f.Secrets, f.Engine, "test"), nil, "test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "vj")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	meter := &wireMeter{Listener: ln}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ctx, meter, time.Second) }()
	t.Cleanup(func() { stop(); <-served })
	c := server.NewClient(sock, "test")
	t.Cleanup(func() { _ = c.Close() })
	sctx := common.New(uitest.Plain(), common.NewData(c, nil))
	sctx.Width, sctx.Height, sctx.Now = uitest.Width, 52, func() time.Time { return uitest.Now }
	m := New(sctx)
	for cmd := m.Activate(); cmd != nil; {
		cmd = m.Update(cmd())
	}
	unfinished := 0
	for i := range m.page.jobs {
		if !store.Finished(m.page.jobs[i].State) {
			unfinished++
		}
	}
	if unfinished < 40 || m.table.VisibleRows() < 40 {
		t.Fatalf("the pane shows %d rows, %d unfinished; want 40 unfinished rows on screen", m.table.VisibleRows(), unfinished)
	}
	return m, meter
}

// TestAttachedRefreshIsOneCall: one refresh of the pane (as the tick makes it when events arrived) is
// one call on the socket, whatever the rows; a search over 10,000 jobs answers one page, not the jobs
// it searched.
func TestAttachedRefreshIsOneCall(t *testing.T) {
	m, meter := attachedPane(t)
	// Over 5,000 unfinished jobs load behind the engine's start; until then places are "unknown".
	for deadline := time.Now().Add(30 * time.Second); m.page.pos[0].key == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the engine never said where the first job waits")
		}
		m.Update(m.fetch(true)())
	}
	meter.reset()
	m.Update(m.fetch(true)())
	if n := meter.calls.Load(); n != 1 {
		t.Errorf("one refresh with %d unfinished rows made %d socket calls, want 1", len(m.page.jobs), n)
	}
	for i, p := range m.page.pos {
		if p.key == "" || p.pos < 1 {
			t.Errorf("row %d's lane position did not come with the page: %+v", i, p)
		}
	}
	page := meter.bytes.Load()

	w := m.current()
	w.filter = "svc 99" // matches services 99, 990…999, 9900…9999: more than a page among 10,000 jobs
	meter.reset()
	got := m.read(w).(pageMsg).page
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.scanned != 10000 || got.total <= len(got.jobs) || len(got.jobs) != w.limit {
		t.Fatalf("search: scanned %d, %d matches, %d on the page; want all 10,000 scanned and a full page", got.scanned, got.total, len(got.jobs))
	}
	for i := range got.jobs {
		if !strings.Contains(backend.LastLine(&got.jobs[i])+" svc "+strconv.FormatUint(got.jobs[i].ServiceID, 10), "svc 99") {
			t.Errorf("job %d (service %d) does not match the filter", got.jobs[i].ID, got.jobs[i].ServiceID)
		}
	}
	if n, b := meter.calls.Load(), meter.bytes.Load(); n != 1 || b > 2*page {
		t.Errorf("a search over 10,000 jobs made %d calls and carried %d bytes; want 1 call and about one page (%d bytes)", n, b, page)
	}
	t.Logf("refresh: 1 call, %d bytes; search over 10,000 jobs: %d call(s), %d bytes", page, meter.calls.Load(), meter.bytes.Load())
}
