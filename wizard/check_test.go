package wizard

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

func simServer(t *testing.T, cfg sim.Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(sim.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

const (
	simAdmin    = "admin@example.com"
	simPassword = "demo-password"
)

func TestCheckIntegrationAgainstEmulator(t *testing.T) {
	s := sim.New(sim.Config{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	res, err := CheckIntegration(context.Background(), Integration{URL: srv.URL + "/", Username: simAdmin}, simPassword)
	if err != nil {
		t.Fatal(err)
	}
	if res.URL != srv.URL || len(res.Clusters) != 2 {
		t.Fatalf("result %+v", res)
	}
	d := NewDraft()
	d.Username = simAdmin
	d.ApplyCheck(res)
	if lc := d.Module().LastCheck; lc == nil || !lc.OK || lc.At.IsZero() || !strings.Contains(lc.Message, simAdmin) {
		t.Fatalf("the saved module must keep the wizard's login as its last check: %+v", lc)
	}
	if ok, _ := AdditionalInterface(d.Clusters, 1); !ok {
		t.Fatal("the emulator's KVM cluster has a pool on interface 1")
	}
	if ok, _ := AdditionalInterface(d.Clusters, 2); ok {
		t.Fatal("the emulator's LXD cluster has a pool on the main interface only")
	}
	if ch := ClusterChoices(res.Clusters); ch[0].Label != "kvm-main (KVM)" || ch[1].Label != "lxd-main (LXD)" {
		t.Fatalf("choices %+v", ch)
	}
	if n := s.Stats().LoginsOK; n != 1 {
		t.Fatalf("one integration check must cost one login, VMmanager saw %d", n)
	}
}

func wantCause(t *testing.T, err error, want Cause) *CheckError {
	t.Helper()
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Cause != want {
		t.Fatalf("want cause %q, got %v", want, err)
	}
	if msg := ce.Error(); strings.Contains(msg, "\n") || !strings.HasSuffix(msg, ".") {
		t.Fatalf("the message must be one sentence: %q", msg)
	}
	return ce
}

func TestCheckIntegrationCauses(t *testing.T) {
	srv := simServer(t, sim.Config{})
	ctx := context.Background()

	_, err := CheckIntegration(ctx, Integration{URL: srv.URL, Username: simAdmin}, "wrong-password")
	wantCause(t, err, CauseBadCredentials)

	admin, err := vmm.New(vmm.Config{URL: srv.URL, Email: simAdmin, Password: simPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateAccount(ctx, "user@example.com", "user-password"); err != nil {
		t.Fatal(err)
	}
	_, err = CheckIntegration(ctx, Integration{URL: srv.URL, Username: "user@example.com"}, "user-password")
	wantCause(t, err, CauseNotAdmin)

	_, err = CheckIntegration(ctx, Integration{URL: srv.URL + "/vmmgr", Username: simAdmin}, simPassword)
	wantCause(t, err, CauseBadURL)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	_, err = CheckIntegration(ctx, Integration{URL: closed, Username: simAdmin}, simPassword)
	wantCause(t, err, CauseConnection)

	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>router login</html>"))
	}))
	defer html.Close()
	_, err = CheckIntegration(ctx, Integration{URL: html.URL, Username: simAdmin}, simPassword)
	wantCause(t, err, CauseUnexpected)

	_, err = CheckIntegration(ctx, Integration{URL: srv.URL, Username: "admin"}, simPassword)
	wantRule(t, err, "username", "email")
}

func TestCheckIntegrationTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(sim.New(sim.Config{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	srv.StartTLS()
	defer srv.Close()
	_, err := CheckIntegration(context.Background(), Integration{URL: srv.URL, Username: simAdmin}, simPassword)
	ce := wantCause(t, err, CauseTLS)
	if !strings.Contains(ce.Error(), "skip TLS verification") {
		t.Fatalf("a TLS failure must offer skipping verification: %q", ce.Error())
	}
	if _, err := CheckIntegration(context.Background(), Integration{URL: srv.URL, Username: simAdmin, InsecureTLS: true}, simPassword); err != nil {
		t.Fatalf("with skip TLS verification on the check must pass: %v", err)
	}
}

func TestCheckIntegrationCancel(t *testing.T) {
	srv := simServer(t, sim.Config{Latency: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := CheckIntegration(ctx, Integration{URL: srv.URL, Username: simAdmin}, simPassword)
	wantCause(t, err, CauseCancelled)
}
