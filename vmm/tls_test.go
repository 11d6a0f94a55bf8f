package vmm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmmpm/vmm"
	"vmmpm/vmm/sim"
)

// serveTLS runs `vmmpm sim --tls`'s server (sim.Listen) on listen until stop or the test's end.
func serveTLS(t *testing.T, listen string, tl sim.TLS) (l *sim.Listener, stop func()) {
	t.Helper()
	tl.On = true
	l, err := sim.Listen(sim.Config{Seed: 1}, listen, tl)
	if err != nil {
		t.Fatal(err)
	}
	stop = l.Start()
	t.Cleanup(stop)
	return l, stop
}

func tlsError(t *testing.T, err error) *vmm.TLSError {
	t.Helper()
	var te *vmm.TLSError
	if !errors.As(err, &te) || !errors.Is(err, vmm.ErrTLS) {
		t.Fatalf("want a TLS error, got %v", err)
	}
	return te
}

// TestPinnedCertificate: a pinned client logs in to the server with that certificate; the same client
// (new connections) against a second emulator with another certificate on the same address is refused
// with a sentence naming both fingerprints and what to do.
func TestPinnedCertificate(t *testing.T) {
	first, stop := serveTLS(t, "127.0.0.1:0", sim.TLS{})
	c := newClient(t, first.URL, func(cfg *vmm.Config) { cfg.TLSPin = strings.ToLower(first.Fingerprint) })
	if err := c.CheckAdmin(ctxT(t)); err != nil {
		t.Fatalf("pinned to the certificate it presents: %v", err)
	}
	stop()
	second, _ := serveTLS(t, strings.TrimPrefix(first.URL, "https://"), sim.TLS{})
	if second.Fingerprint == first.Fingerprint {
		t.Fatal("two starts made the same certificate")
	}
	err := c.Login(ctxT(t))
	if vmm.Transient(err) && !errors.Is(err, vmm.ErrTLS) {
		// The kept-alive connection to the stopped server can answer EOF first; that is transient and
		// retried (as the engine does), and the retry dials the second server.
		err = c.Login(ctxT(t))
	}
	te := tlsError(t, err)
	if te.Kind != "pin" || te.Pin != first.Fingerprint || te.Cert == nil || te.Cert.SHA256 != second.Fingerprint || vmm.Transient(err) {
		t.Fatalf("another certificate: %+v", te)
	}
	d := vmm.DescribeModule(err, 7)
	for _, want := range []string{first.Fingerprint, second.Fingerprint, "vmmpm module set 7 tls_pin=" + second.Fingerprint, "Integration step"} {
		if !strings.Contains(d, want) {
			t.Fatalf("Describe lacks %q: %s", want, d)
		}
	}
}

// TestUntrustedCertificateShown: an unverified certificate comes back with what the admin decides on.
func TestUntrustedCertificateShown(t *testing.T) {
	l, _ := serveTLS(t, "127.0.0.1:0", sim.TLS{})
	err := newClient(t, l.URL, nil).Login(ctxT(t))
	te := tlsError(t, err)
	if te.Kind != "untrusted" || te.Cert == nil || !te.Trustable() {
		t.Fatalf("self-signed: %+v", te)
	}
	c := te.Cert
	if c.SHA256 != l.Fingerprint || !strings.Contains(c.Subject, "vmmpm sim") || c.Issuer != c.Subject ||
		!c.NotBefore.Before(time.Now()) || !c.NotAfter.After(time.Now()) {
		t.Fatalf("certificate: %+v", c)
	}
	d := vmm.Describe(err)
	for _, want := range []string{l.Fingerprint, "vmmpm sim", c.NotAfter.Format(time.DateOnly), "tls_pin=", "tls_ca_file=", "skip TLS verification"} {
		if !strings.Contains(d, want) {
			t.Fatalf("Describe lacks %q: %s", want, d)
		}
	}
}

// TestCAFile: the emulator's certificate written to a file verifies as the module's CA file, read at
// connect; another file is refused as untrusted, a missing one named.
func TestCAFile(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "sim.crt"), filepath.Join(dir, "sim.key")
	l, _ := serveTLS(t, "127.0.0.1:0", sim.TLS{CertFile: cert, KeyFile: key})
	if err := newClient(t, l.URL, func(cfg *vmm.Config) { cfg.CAFile = cert }).CheckAdmin(ctxT(t)); err != nil {
		t.Fatalf("CA file: %v", err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	// The same files serve the same certificate again.
	again, _ := serveTLS(t, "127.0.0.1:0", sim.TLS{CertFile: cert, KeyFile: key})
	if again.Fingerprint != l.Fingerprint {
		t.Fatal("the certificate files were not reused")
	}
	other := filepath.Join(t.TempDir(), "other.crt")
	serveTLS(t, "127.0.0.1:0", sim.TLS{CertFile: other, KeyFile: other + ".key"})
	te := tlsError(t, newClient(t, l.URL, func(cfg *vmm.Config) { cfg.CAFile = other }).Login(ctxT(t)))
	if te.Kind != "untrusted" || te.Cert == nil || te.Cert.SHA256 != l.Fingerprint {
		t.Fatalf("another CA: %+v", te)
	}
	missing := filepath.Join(dir, "gone.pem")
	err := newClient(t, l.URL, func(cfg *vmm.Config) { cfg.CAFile = missing }).Login(ctxT(t))
	if te := tlsError(t, err); te.Kind != "ca-file" || te.Trustable() || !strings.Contains(vmm.Describe(err), missing) {
		t.Fatalf("missing CA file: %v", err)
	}
}

// TestPlainHTTPOnHTTPS: https:// to a port answering plain HTTP is named, with the http:// URL, and
// trusting a certificate cannot help.
func TestPlainHTTPOnHTTPS(t *testing.T) {
	_, plain := startSim(t, sim.Config{})
	err := newClient(t, strings.Replace(plain.URL, "http://", "https://", 1), nil).Login(ctxT(t))
	te := tlsError(t, err)
	if te.Kind != "http" || te.HTTPURL != plain.URL || te.Trustable() {
		t.Fatalf("plain HTTP: %+v", te)
	}
	if d := vmm.Describe(err); !strings.Contains(d, "plain HTTP") || !strings.Contains(d, "use "+plain.URL) || strings.Contains(d, "skip") {
		t.Fatalf("Describe = %s", d)
	}
}

func TestParsePin(t *testing.T) {
	const fp = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
	for _, in := range []string{fp, strings.ToLower(fp), strings.ReplaceAll(fp, ":", ""), " " + fp + " "} {
		if got, err := vmm.ParsePin(in); err != nil || got != fp {
			t.Fatalf("ParsePin(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"AB:CD", fp + ":00", strings.Replace(fp, "AB", "XY", 1)} {
		if _, err := vmm.ParsePin(bad); !errors.Is(err, vmm.ErrInvalid) || !strings.Contains(err.Error(), "64 hex digits") {
			t.Fatalf("ParsePin(%q): %v", bad, err)
		}
	}
	if _, err := vmm.New(vmm.Config{URL: "vmm.example.com", Email: adminEmail, TLSPin: "nope"}); !errors.Is(err, vmm.ErrInvalid) {
		t.Fatalf("New with a bad pin: %v", err)
	}
}
