package sim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServe runs Serve in the background and returns the URL from its first line.
func startServe(t *testing.T, useTLS bool) (url string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := Serve(ctx, Config{}, "127.0.0.1:0", TLS{On: useTLS}, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("first line: %q, %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	prefix := "listening on http://"
	if useTLS {
		prefix = "listening on https://"
	}
	if !strings.HasPrefix(line, prefix) || !strings.HasPrefix(line[len(prefix):], "127.0.0.1:") {
		cancel()
		t.Fatalf("first line %q, want %q + 127.0.0.1:PORT", line, prefix)
	}
	return strings.TrimPrefix(strings.TrimSpace(line), "listening on "), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Serve did not stop after cancel")
		}
	}
}

func TestServePrintsAddressAndStops(t *testing.T) {
	url, stop := startServe(t, false)
	resp, err := http.Get(url + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("stats: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
	if _, err := http.Get(url + "/sim/stats"); err == nil {
		t.Fatal("still serving after cancel")
	}
}

func TestServeTLSSelfSigned(t *testing.T) {
	url, stop := startServe(t, true)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	_, err := (&http.Client{Timeout: 5 * time.Second}).Get(url + "/sim/stats")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("verifying client: err %v, want an unknown-authority error", err)
	}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Get(url + "/sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("insecure client: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	cert := resp.TLS.PeerCertificates[0]
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Fatalf("certificate pinned as its own root does not verify for %s: %v", host, err)
		}
	}
	if cert.Issuer.String() != cert.Subject.String() {
		t.Fatalf("issuer %s differs from subject %s: not self-signed", cert.Issuer, cert.Subject)
	}
}

func TestServeRefusesBadAddress(t *testing.T) {
	err := Serve(context.Background(), Config{}, "127.0.0.1:99999", TLS{}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Fatalf("err %v", err)
	}
}

// TestListenCertificateFiles: files that do not exist are made (the key 0600) and served again; one of
// the two missing, or files that are not a certificate and its key, are refused.
func TestListenCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := dir+"/c.pem", dir+"/k.pem"
	l, err := Listen(Config{}, "127.0.0.1:0", TLS{On: true, CertFile: cert, KeyFile: key})
	if err != nil || len(l.Fingerprint) != 95 || !strings.HasPrefix(l.URL, "https://") {
		t.Fatalf("made: %v %+v", err, l)
	}
	l.Start()()
	again, err := Listen(Config{}, "127.0.0.1:0", TLS{On: true, CertFile: cert, KeyFile: key})
	if err != nil || again.Fingerprint != l.Fingerprint {
		t.Fatalf("reused: %v", err)
	}
	again.Start()()
	for _, c := range []TLS{{CertFile: cert, KeyFile: dir + "/new.pem"}, {CertFile: key, KeyFile: cert}, {CertFile: cert}} {
		c.On = true
		if _, err := Listen(Config{}, "127.0.0.1:0", c); err == nil {
			t.Errorf("%+v: served", c)
		}
	}
}
