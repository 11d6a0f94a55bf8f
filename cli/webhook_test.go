package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vmmpm/store"
	"vmmpm/webhook"
)

// The webhook receiver a test runs as a separate process: this test binary with envReceiver set.
const (
	envReceiver       = "VMMPM_TEST_RECEIVER"        // the file it appends each accepted delivery to
	envReceiverSecret = "VMMPM_TEST_RECEIVER_SECRET" // the secret it checks signatures with
)

// received is one line of the receiver's file.
type received struct {
	ID       uint64          `json:"id"`
	Event    string          `json:"event"`
	Verified bool            `json:"verified"`
	Body     json.RawMessage `json:"body"`
}

// runReceiver is the receiver: it prints where it listens, checks each delivery's signature, fails the
// first answer to every fourth delivery id, and appends what it accepts to its file.
func runReceiver() int {
	f, err := os.OpenFile(os.Getenv(envReceiver), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	secret := os.Getenv(envReceiverSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	var mu sync.Mutex
	tried := map[uint64]int{}
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, _ := strconv.ParseUint(r.Header.Get(webhook.HeaderDelivery), 10, 64)
		ok := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 10*time.Minute) == nil
		mu.Lock()
		defer mu.Unlock()
		if tried[id]++; tried[id] == 1 && id%4 == 0 {
			http.Error(w, "try again later", http.StatusInternalServerError)
			return
		}
		line, _ := json.Marshal(received{ID: id, Event: r.Header.Get(webhook.HeaderEvent), Verified: ok, Body: body})
		if _, err := f.Write(append(line, '\n')); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// startReceiver runs the receiver process and returns its URL and its file.
func startReceiver(t *testing.T, secret string) (url, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "received.jsonl")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envReceiver+"="+file, envReceiverSecret+"="+secret)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on ") {
		t.Fatalf("the receiver said %q (%v)", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "listening on ")), file
}

func readReceived(t *testing.T, file string) []received {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []received
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var r received
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("a receiver line is not JSON: %v: %s", err, l)
		}
		out = append(out, r)
	}
	return out
}

// kill stops the server with SIGKILL: no shutdown, no last writes.
func (p *serveProc) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.done
	p.done <- err
}

// TestWebhooksThroughKills: a webhook receiver as a separate process, failing its first answer to every
// fourth delivery; vmmpm serve is killed with SIGKILL 10 times while 100 services open. Every event
// arrives at least once, each signature verifies, and after dropping repeated delivery ids the receiver
// holds exactly the events of the run, each service's in order.
func TestWebhooksThroughKills(t *testing.T) {
	env := newEngineEnv(t, 300*time.Millisecond)
	env.cli("tariff", "add", "--spec", env.spec)
	const secret = "a-receiver-secret-of-some-length"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, file := startReceiver(t, secret)
	out := env.cli("webhook", "add", url+"/hook", "--events", "service.*,job.done,job.failed", "--secret-file", secretFile)
	if !strings.Contains(out, "added webhook 1") || strings.Contains(out, secret) {
		t.Fatalf("webhook add: %s", out)
	}
	t.Cleanup(func() { _ = store.NewKeyring().Delete(store.WebhookSecretID(1)) })
	srv := env.startServe()
	sock := []string{"--db", env.db, "--socket", env.socket()}
	const n = 100
	mustCLI(t, append(sock, "service", "create", "--client", "client@example.com", "--tariff", "small", "--count", strconv.Itoa(n))...)
	for kill := range 10 {
		target := (kill + 1) * 25
		deadline := time.Now().Add(60 * time.Second)
		for len(readReceived(t, file)) < target {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: the receiver has %d events, waiting for %d", kill+1, len(readReceived(t, file)), target)
			}
			time.Sleep(20 * time.Millisecond)
		}
		srv.kill()
		srv = env.startServe()
	}
	want := []string{"service.processing", "service.active", "job.done"}
	deadline := time.Now().Add(120 * time.Second)
	var got []received
	unique := func() []received {
		seen := map[uint64]bool{}
		var u []received
		for _, r := range got {
			if !seen[r.ID] {
				seen[r.ID] = true
				u = append(u, r)
			}
		}
		return u
	}
	for got = readReceived(t, file); len(unique()) < n*len(want); got = readReceived(t, file) {
		if time.Now().After(deadline) {
			t.Fatalf("%d distinct events arrived, want %d", len(unique()), n*len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitJobs(t, env.client(), n)
	byService := map[uint64][]string{}
	for _, r := range unique() {
		if !r.Verified {
			t.Errorf("delivery %d's signature does not verify", r.ID)
		}
		var ev webhook.Event
		if err := json.Unmarshal(r.Body, &ev); err != nil || ev.Service == nil || ev.Type != r.Event {
			t.Fatalf("delivery %d: %v %s", r.ID, err, r.Body)
		}
		if ev.Type == "service.active" && len(ev.Service.VM.IPv4) == 0 {
			t.Errorf("service.active without addresses: %s", r.Body)
		}
		byService[ev.Service.ID] = append(byService[ev.Service.ID], ev.Type)
	}
	if len(byService) != n {
		t.Errorf("events of %d services, want %d", len(byService), n)
	}
	for id, evs := range byService {
		if !slices.Equal(evs, want) {
			t.Errorf("service %d: %v, want %v", id, evs, want)
		}
	}
	// nothing is left pending, and the receiver saw repeats (the kills and the failed first answers)
	// (the deliverer writes outcomes every 50 ms, so the last ones may still be on their way to the file)
	for end := time.Now().Add(30 * time.Second); ; {
		ds := decodeJSON[[]store.Delivery](t, mustCLI(t, append(sock, "webhook", "deliveries", "--json", "--limit", "1000")...))
		pending := slices.IndexFunc(ds, func(d store.Delivery) bool { return d.State != store.DeliveryDelivered })
		if pending < 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("delivery %d is %s (%s) 30 s after every event arrived", ds[pending].ID, ds[pending].State, ds[pending].LastError)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d deliveries received for %d events", len(got), len(unique()))
	if len(got) == len(unique()) {
		t.Log("no delivery was repeated")
	}
	noVMTwice(t, env)
}
