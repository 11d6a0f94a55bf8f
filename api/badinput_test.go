package api

import (
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"vmmpm/store"
)

// TestBadInput: on the TCP listener, malformed JSON, unknown fields (named in the answer), a body over
// the limit, a client sending one byte a second and 500 connections at once are each refused or
// dropped, while other clients are served; afterwards the server's goroutines and heap are back where
// they were.
func TestBadInput(t *testing.T) {
	e := newEnv(t, Options{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxBody: 64 << 10})
	op := e.token("billing-prod", store.RoleOperator)
	other := e.from("127.0.0.2")
	defer other.CloseIdleConnections()
	served := func(what string) {
		t.Helper()
		other.CloseIdleConnections() // a new connection each time, through whatever else is going on
		resp, err := other.Do(authed(t, "GET", e.url+"/api/v1/services", op))
		if err != nil {
			t.Fatalf("%s: another client is not served: %v", what, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: another client got %d", what, resp.StatusCode)
		}
	}
	served("at the start")
	e.client.CloseIdleConnections()
	settle()
	goroutines, heap := runtime.NumGoroutine(), heapInUse()

	r := e.do("POST", "/api/v1/services", op, `{"tariff": "small", "client_email": `)
	if code, _, _ := r.errCode(t); r.status != 400 || code != "bad_json" {
		t.Errorf("malformed JSON: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/services", op, `{"tariff": "small", "client_email": "a@example.com", "colour": "red"}`)
	if code, msg, field := r.errCode(t); r.status != 400 || code != "unknown_field" || field != "colour" || !contains(msg, `"colour"`) {
		t.Errorf("an unknown field: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/services", op, `{"tariff": "small", "client_email": 7}`)
	if code, _, field := r.errCode(t); r.status != 400 || code != "bad_json" || field != "client_email" {
		t.Errorf("a number for a string: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/services/1/operations", op, `{"type": "suspend", "args": {}, "extra": 1}`)
	if _, _, field := r.errCode(t); r.status != 400 || field != "extra" {
		t.Errorf("an unknown field in an operation: %d %s", r.status, r.body)
	}
	big := `{"tariff": "small", "client_email": "` + strings.Repeat("a", 100<<10) + `@example.com"}`
	r = e.do("POST", "/api/v1/services", op, big)
	if code, _, _ := r.errCode(t); r.status != 413 || code != "too_large" {
		t.Errorf("a body over the limit: %d %s", r.status, truncate(r.body))
	}
	served("after the bad bodies")

	// one byte a second: in the headers, then in a body
	slow := func(head string) time.Duration {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(e.url, "https://"), PinnedConfig(e.fp))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		began := time.Now()
		req := head
		for i := 0; ; i++ {
			b := byte('x')
			if i < len(req) {
				b = req[i]
			}
			if _, err := conn.Write([]byte{b}); err != nil {
				return time.Since(began)
			}
			if i == len(req)-1 || i > len(req) && i%2 == 0 { // at the end of what it had to say: is it still open?
				_ = conn.SetReadDeadline(time.Now().Add(time.Second))
				buf := make([]byte, 512)
				if _, err := conn.Read(buf); err != nil && !isTimeout(err) || err == nil {
					return time.Since(began)
				}
			}
			if time.Since(began) > 20*time.Second {
				t.Fatal("a client sending one byte a second is still connected after 20 s")
			}
			if i >= 2 {
				time.Sleep(time.Second)
			}
		}
	}
	var wg sync.WaitGroup
	var headDrop, bodyDrop time.Duration
	wg.Add(2)
	go func() {
		defer wg.Done()
		headDrop = slow("GET /api/v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + op + "\r\n")
	}()
	go func() {
		defer wg.Done()
		bodyDrop = slow("POST /api/v1/services HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthorization: Bearer " + op + "\r\n\r\n")
	}()
	time.Sleep(100 * time.Millisecond)
	served("while two clients trickle")
	wg.Wait()
	t.Logf("dropped a client trickling headers after %s and one trickling a body after %s", headDrop, bodyDrop)

	// 500 connections at once from one address
	var conns []net.Conn
	var refused int
	for range 500 {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "https://"))
		if err != nil {
			refused++
			continue
		}
		conns = append(conns, c)
	}
	served("with 500 connections open")
	closedEarly := 0
	var mu sync.Mutex
	var wg2 sync.WaitGroup
	for _, c := range conns {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			began := time.Now()
			_, err := c.Read(make([]byte, 1))
			if err == nil || isTimeout(err) {
				t.Errorf("a connection was neither refused nor dropped within 15 s (%v)", err)
			}
			if time.Since(began) < 500*time.Millisecond {
				mu.Lock()
				closedEarly++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	t.Logf("500 connections: %d refused at dial, %d closed at once (over the per-address bound), the rest dropped by the handshake timeout", refused, closedEarly)
	if closedEarly < 500-256-refused {
		t.Errorf("only %d of 500 connections were closed at once; the per-address bound is 256", closedEarly)
	}
	served("after the flood")
	other.CloseIdleConnections()
	e.client.CloseIdleConnections()
	waitFor(t, 10*time.Second, "goroutines back where they were", func() bool {
		settle()
		return runtime.NumGoroutine() <= goroutines+2
	})
	if h := heapInUse(); h > heap+8<<20 {
		t.Errorf("heap in use %d MiB after, %d MiB before", h>>20, heap>>20)
	}
	t.Logf("goroutines %d → %d, heap %d KiB → %d KiB", goroutines, runtime.NumGoroutine(), heap>>10, heapInUse()>>10)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func settle() {
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
