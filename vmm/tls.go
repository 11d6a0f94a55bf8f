package vmm

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Certificate is what an admin needs to decide whether to trust a server's certificate.
type Certificate struct {
	SHA256    string    `json:"sha256"` // of the leaf's DER, as Fingerprint writes it
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

func certificateOf(c *x509.Certificate) *Certificate {
	return &Certificate{SHA256: Fingerprint(c.Raw), Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC()}
}

// Validity is "2025-01-02 to 2026-01-02 (UTC)".
func (c *Certificate) Validity() string {
	return c.NotBefore.Format(time.DateOnly) + " to " + c.NotAfter.Format(time.DateOnly) + " (UTC)"
}

// Fingerprint is the SHA-256 of a certificate's DER as `openssl x509 -fingerprint -sha256` prints it
// ("AB:CD:…"), the form a pin is stored and shown in.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return colons(hex.EncodeToString(sum[:]))
}

func colons(h string) string {
	h = strings.ToUpper(h)
	parts := make([]string, 0, len(h)/2)
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// ParsePin reads a SHA-256 fingerprint typed with or without colons, in either case, and returns it as
// Fingerprint writes it; "" stays "" (no pin).
func ParsePin(s string) (string, error) {
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if h == "" {
		return "", nil
	}
	if _, err := hex.DecodeString(h); err != nil || len(h) != 2*sha256.Size {
		return "", errorf(ErrInvalid, "a certificate pin is the SHA-256 fingerprint: 64 hex digits, colons allowed")
	}
	return colons(h), nil
}

// LoadCAFile reads a PEM file of one or more CA certificates.
func LoadCAFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errorf(ErrInvalid, "cannot read the CA file %s (%v)", path, unwrapPath(err))
	}
	pool, n := x509.NewCertPool(), 0
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errorf(ErrInvalid, "the CA file %s holds a certificate that does not parse (%v)", path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errorf(ErrInvalid, "the CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// pinError: the server presented another certificate than the pinned one.
type pinError struct {
	want string
	got  *x509.Certificate
}

func (e *pinError) Error() string { return "the certificate is not the pinned one" }

// caFileError: the module's CA file could not be used at connect.
type caFileError struct{ err error }

func (e *caFileError) Error() string { return e.err.Error() }
func (e *caFileError) Unwrap() error { return e.err }

// tlsConfig is how the client checks the server: exactly the pinned certificate when there is a pin
// (whoever signed it: a self-signed chain proves nothing), else a chain to the CA file's certificates
// (read at every handshake, so a renewed file counts without a restart), else the system's roots, or
// nothing at all when the admin chose to skip verification.
func tlsConfig(cfg Config, host string) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	pin, _ := ParsePin(cfg.TLSPin)
	switch {
	case pin != "":
		tc.InsecureSkipVerify = true //nolint:gosec // replaced by the pin below
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || Fingerprint(cs.PeerCertificates[0].Raw) != pin {
				return &pinError{want: pin, got: leaf(cs)}
			}
			return nil
		}
	case cfg.CAFile != "":
		tc.InsecureSkipVerify = true //nolint:gosec // replaced by the chain check below
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifyWithCAFile(cfg.CAFile, host, cs) }
	case cfg.InsecureTLS:
		tc.InsecureSkipVerify = true //nolint:gosec // the admin's explicit choice
	}
	return tc
}

func leaf(cs tls.ConnectionState) *x509.Certificate {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	return cs.PeerCertificates[0]
}

func verifyWithCAFile(path, host string, cs tls.ConnectionState) error {
	pool, err := LoadCAFile(path)
	if err != nil {
		return &caFileError{err: err}
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: host})
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}

// tlsFailure fills what a TLSError shows beside its kind: the certificate presented, the pin expected.
func tlsFailure(kind, host string, err error) *TLSError {
	te := &TLSError{Kind: kind, Host: host, Err: err}
	var (
		pe     *pinError
		verify *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &pe):
		te.Pin = pe.want
		if pe.got != nil {
			te.Cert = certificateOf(pe.got)
		}
	case errors.As(err, &verify) && len(verify.UnverifiedCertificates) > 0:
		te.Cert = certificateOf(verify.UnverifiedCertificates[0])
	}
	if kind == "http" {
		te.HTTPURL = "http://" + host
	}
	return te
}

// describeCert is the certificate in one clause: fingerprint, subject, issuer, validity.
func describeCert(c *Certificate) string {
	return fmt.Sprintf("SHA-256 %s, subject %q, issuer %q, valid %s", c.SHA256, c.Subject, c.Issuer, c.Validity())
}
