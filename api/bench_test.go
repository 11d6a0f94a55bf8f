package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
)

// BenchmarkConcurrentOrders: 50 concurrent billing clients (each with its own keep-alive connection)
// order services over loopback TLS, each call with its own Idempotency-Key and external_id, while the
// engine runs the opens: at once (open=0s, a no-op executor: the engine's commits compete with the
// orders' the most) or taking a second each (open=1s, still far quicker than a VMmanager). The baseline is the same orders from 50 goroutines
// calling the backend in this process (no HTTP, no TLS, no token check), in the same run; ratio =
// API calls/s ÷ in-process calls/s.
func BenchmarkConcurrentOrders(b *testing.B) {
	for _, latency := range []time.Duration{0, time.Second} {
		b.Run("open="+latency.String(), func(b *testing.B) { benchOrders(b, latency) })
	}
}

func benchOrders(b *testing.B, latency time.Duration) {
	exec := queue.ExecutorFunc(func(ctx context.Context, _ *queue.Op) (queue.Result, error) {
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-ctx.Done():
				return queue.Result{}, ctx.Err()
			}
		}
		return queue.Result{}, nil
	})
	e := newEnvWith(b, Options{}, exec)
	op := e.token("billing-prod", store.RoleOperator)
	const clients, perClient = 50, 40
	var api, local []time.Duration
	var apiWall, localWall time.Duration
	round := 0
	for b.Loop() {
		round++
		lat, wall := runClients(clients, perClient, func(c, i int) error {
			return nil
		}, func(c int) func(i int) error {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: PinnedConfig(e.fp)}}
			return func(i int) error {
				key := fmt.Sprintf("r%d-c%d-%d", round, c, i)
				body := fmt.Sprintf(`{"tariff": "small", "client_email": "c%d@example.com", "external_id": "api-%s"}`, c, key)
				req, _ := http.NewRequest("POST", e.url+"/api/v1/services", bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+op)
				req.Header.Set(HeaderIdempotencyKey, key)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					return fmt.Errorf("order: %d", resp.StatusCode)
				}
				return nil
			}
		})
		api, apiWall = append(api, lat...), apiWall+wall
		ctx := backend.WithCaller(context.Background(), backend.TokenCaller("billing-prod"))
		lat, wall = runClients(clients, perClient, nil, func(c int) func(i int) error {
			return func(i int) error {
				key := fmt.Sprintf("l%d-c%d-%d", round, c, i)
				_, err := e.eng.Order(ctx, backend.OrderRequest{Tariff: "small", ClientEmail: fmt.Sprintf("c%d@example.com", c),
					ExternalID: "local-" + key, Idempotency: &backend.Idempotency{Key: key, Request: key, Call: "bench"}})
				return err
			}
		})
		local, localWall = append(local, lat...), localWall+wall
	}
	n := float64(b.N * clients * perClient)
	b.ReportMetric(pct(api, 50), "p50-ms")
	b.ReportMetric(pct(api, 99), "p99-ms")
	b.ReportMetric(n/apiWall.Seconds(), "calls/s")
	b.ReportMetric(pct(local, 99), "local-p99-ms")
	b.ReportMetric(n/localWall.Seconds(), "local-calls/s")
	b.ReportMetric(localWall.Seconds()/apiWall.Seconds(), "ratio")
}

// runClients runs perClient calls on each of clients goroutines and returns each call's latency and the
// wall time of the lot.
func runClients(clients, perClient int, _ func(c, i int) error, mk func(c int) func(i int) error) ([]time.Duration, time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		call := mk(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, perClient)
			for i := range perClient {
				t0 := time.Now()
				if err := call(i); err != nil {
					panic(err)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, time.Since(start)
}

// pct is the p-th percentile of d, in milliseconds.
func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return float64(s[min(len(s)-1, len(s)*p/100)].Microseconds()) / 1000
}
