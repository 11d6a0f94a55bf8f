package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// TLS is how Serve speaks HTTPS. With neither file, a new self-signed certificate is made at every
// start; with both, the certificate is read from them, or made and written there when neither exists
// yet, so the same files serve again (and a client can trust the certificate file as its CA file).
type TLS struct {
	On                bool
	CertFile, KeyFile string // PEM
}

// Listener is an emulator bound to its address, not serving yet (Listen, then Serve).
type Listener struct {
	URL         string // http(s)://HOST:PORT, the address actually bound (so port 0 works)
	Fingerprint string // with TLS: the certificate's SHA-256 as a pin takes it ("AB:CD:…")
	ln          net.Listener
	srv         *http.Server
}

// Listen binds an emulator with cfg to listen, with TLS as t says.
func Listen(cfg Config, listen string, t TLS) (*Listener, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", listen, err)
	}
	l := &Listener{URL: "http://" + ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: New(cfg), ReadHeaderTimeout: 10 * time.Second}}
	if t.On {
		cert, err := t.certificate(ln.Addr())
		if err != nil {
			ln.Close()
			return nil, err
		}
		l.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		l.URL, l.Fingerprint = "https://"+ln.Addr().String(), fingerprint(cert.Certificate[0])
	}
	return l, nil
}

// Serve answers until ctx is done, then shuts down (5 s for calls in flight).
func (l *Listener) Serve(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- l.srv.Serve(l.ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.srv.Shutdown(shutCtx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Start serves in the background until stop, which waits for the shutdown and may be called again.
func (l *Listener) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Serve(ctx) }()
	return func() { cancel(); <-done }
}

// Serve runs an emulator on listen until ctx is done. Its first output line is
// "listening on http(s)://HOST:PORT"; with TLS the next is "tls_sha256=FINGERPRINT".
func Serve(ctx context.Context, cfg Config, listen string, t TLS, out io.Writer) error {
	l, err := Listen(cfg, listen, t)
	if err != nil {
		return err
	}
	// Two writes: a caller may add lines after the first (vmmpm sim names the demo login there).
	_, err = io.WriteString(out, "listening on "+l.URL+"\n")
	if err == nil && l.Fingerprint != "" {
		_, err = io.WriteString(out, "tls_sha256="+l.Fingerprint+"\n")
	}
	if err != nil {
		l.ln.Close()
		return err
	}
	return l.Serve(ctx)
}

// certificate is the one t names, or a new one (written to t's files when it names them).
func (t TLS) certificate(addr net.Addr) (tls.Certificate, error) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return tls.Certificate{}, errors.New("give both the certificate and the key file, or neither")
	}
	if t.CertFile == "" {
		return selfSignedCert(addr)
	}
	_, certErr := os.Stat(t.CertFile)
	_, keyErr := os.Stat(t.KeyFile)
	switch {
	case certErr == nil && keyErr == nil:
		c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return c, fmt.Errorf("cannot use the certificate in %s and %s: %w", t.CertFile, t.KeyFile, err)
		}
		return c, nil
	case !errors.Is(certErr, fs.ErrNotExist) || !errors.Is(keyErr, fs.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("of %s and %s one exists and the other does not: give both, or two new paths to make a certificate there", t.CertFile, t.KeyFile)
	}
	c, err := selfSignedCert(addr)
	if err != nil {
		return c, err
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return c, err
	}
	if err := os.WriteFile(t.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		return c, fmt.Errorf("cannot write the key: %w", err)
	}
	if err := os.WriteFile(t.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		return c, fmt.Errorf("cannot write the certificate: %w", err)
	}
	return c, nil
}

// fingerprint is the SHA-256 of a certificate's DER as openssl prints it ("AB:CD:…").
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// selfSignedCert makes an in-memory ECDSA certificate for 127.0.0.1, ::1, localhost and the bound
// address, valid for a year. Clients must skip verification (or pin it), as with a fresh VMmanager.
func selfSignedCert(addr net.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "vmmpm sim", Organization: []string{"vmmpm emulator"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ta.IP)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
