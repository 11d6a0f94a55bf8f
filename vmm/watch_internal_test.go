package vmm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The watcher's goroutine ends once nobody waits, and a later Await starts it again.
func TestWatcherStopsWhenIdle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == loginPath {
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":1,"token":"t","expires_at":"","confirmed":true}`))
			return
		}
		_, _ = w.Write([]byte(`{"last_notify":0,"list":[{"id":1,"consul_id":7,"name":"host_start","status":"complete"}]}`))
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, Email: "a@example.com", Password: "p", SessionTTL: time.Hour, PollEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if err := c.Await(ctx, TaskRef{ConsulID: "7", Name: TaskHostStart}); err != nil {
			t.Fatal(err)
		}
		for {
			c.watch.mu.Lock()
			running := c.watch.running
			c.watch.mu.Unlock()
			if !running {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("the watcher still runs with nobody waiting")
			case <-time.After(time.Millisecond):
			}
		}
	}
}
