package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"vmmpm/backend"
	"vmmpm/store"
)

// TestIdempotentCreates: 200 orders from 50 concurrent clients, each sent again with the same
// Idempotency-Key (half of them at the same moment as the first), and 10 keys sent once more with
// another body: exactly 200 services and 200 open jobs, every repeat answered byte for byte like its
// first call, every other body refused with a sentence.
func TestIdempotentCreates(t *testing.T) {
	e := newEnv(t, Options{})
	op := e.token("billing-prod", store.RoleOperator)
	const orders, clients = 200, 50
	type result struct {
		first, again reply
	}
	results := make([]result, orders)
	var wg sync.WaitGroup
	for c := range clients {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: PinnedConfig(e.fp)}}
		defer client.CloseIdleConnections()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < orders; i += clients {
				body := fmt.Sprintf(`{"tariff": "small", "client_email": "c%d@example.com", "external_id": "whmcs-%d"}`, i, i)
				key := fmt.Sprintf("order-%d", i)
				send := func() reply {
					r, err := e.send(client, "POST", "/api/v1/services", op, body, HeaderIdempotencyKey, key)
					if err != nil {
						t.Error(err)
					}
					return r
				}
				if i%2 == 0 { // the retry races the first call
					var inner sync.WaitGroup
					inner.Add(1)
					go func() { defer inner.Done(); results[i].again = send() }()
					results[i].first = send()
					inner.Wait()
				} else {
					results[i].first = send()
					results[i].again = send()
				}
			}
		}()
	}
	wg.Wait()
	replays := 0
	for i, r := range results {
		if r.first.status != 201 || r.again.status != 201 {
			t.Fatalf("order %d: %d then %d: %s / %s", i, r.first.status, r.again.status, r.first.body, r.again.body)
		}
		if !bytes.Equal(r.first.body, r.again.body) {
			t.Errorf("order %d: the repeat's answer differs from the first:\n%s\n%s", i, r.first.body, r.again.body)
		}
		if r.first.header.Get(HeaderReplayed) != "" {
			replays++
		}
		if r.again.header.Get(HeaderReplayed) != "" {
			replays++
		}
	}
	if replays != orders {
		t.Errorf("%d answers say they are replays, want %d", replays, orders)
	}
	for i := range 10 {
		r := e.do("POST", "/api/v1/services", op, fmt.Sprintf(`{"tariff": "small", "client_email": "other%d@example.com"}`, i),
			HeaderIdempotencyKey, fmt.Sprintf("order-%d", i))
		if code, msg, _ := r.errCode(t); r.status != 422 || code != "idempotency_key_reused" || !contains(msg, "was first used") || !contains(msg, "send a new key") {
			t.Errorf("the same key with another body: %d %s", r.status, r.body)
		}
	}
	ctx := context.Background()
	svcs, err := backend.All[store.Service](ctx, e.eng)
	must(t, err)
	jobs, err := e.eng.Jobs(ctx, backend.JobQuery{})
	must(t, err)
	opens := 0
	for _, j := range jobs.Jobs {
		if j.Type == store.OpOpen {
			opens++
		}
	}
	if len(svcs) != orders || opens != orders {
		t.Errorf("%d services and %d open jobs, want %d of each", len(svcs), opens, orders)
	}
	ext := map[string]bool{}
	for _, s := range svcs {
		ext[s.ExternalID] = true
	}
	if len(ext) != orders {
		t.Errorf("%d distinct external ids over %d services", len(ext), len(svcs))
	}
	// a second order of one external id under a new key is refused: billing looks it up instead
	r := e.do("POST", "/api/v1/services", op, `{"tariff": "small", "client_email": "c1@example.com", "external_id": "whmcs-1"}`, HeaderIdempotencyKey, "new")
	if code, msg, field := r.errCode(t); r.status != 422 || code != "invalid" || field != "external_id" || !contains(msg, "?external_id=whmcs-1") {
		t.Errorf("a second order of whmcs-1: %d %s", r.status, r.body)
	}
	// operations and job actions are idempotent too
	var o ordered
	results[3].first.decode(t, &o)
	path := fmt.Sprintf("/api/v1/services/%d/operations", o.Services[0].ID)
	a := e.do("POST", path, op, `{"type": "reboot"}`, HeaderIdempotencyKey, "reboot-1")
	b := e.do("POST", path, op, `{"type": "reboot"}`, HeaderIdempotencyKey, "reboot-1")
	if a.status != 202 || !bytes.Equal(a.body, b.body) || b.header.Get(HeaderReplayed) != "true" {
		t.Errorf("a repeated operation: %d %s / %d %s", a.status, a.body, b.status, b.body)
	}
	var ja jobAnswer
	a.decode(t, &ja)
	cancel := fmt.Sprintf("/api/v1/jobs/%d/cancel", ja.Job.ID)
	c1 := e.do("POST", cancel, op, nil, HeaderIdempotencyKey, "cancel-1")
	c2 := e.do("POST", cancel, op, nil, HeaderIdempotencyKey, "cancel-1")
	if c1.status == 200 && (!bytes.Equal(c1.body, c2.body) || c2.header.Get(HeaderReplayed) != "true") {
		t.Errorf("a repeated cancel: %d %s / %d %s", c1.status, c1.body, c2.status, c2.body)
	}
	if c1.status != 200 && c1.status != 409 { // the reboot may have started already
		t.Errorf("cancel: %d %s", c1.status, c1.body)
	}
}

// send is do with another client (one of several concurrent billing processes).
func (e *env) send(client *http.Client, method, path, token string, body any, hdr ...string) (reply, error) {
	return e.tryWith(client, method, path, token, body, hdr...)
}
