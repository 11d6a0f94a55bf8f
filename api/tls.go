package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// CertPaths are where serve keeps the self-signed certificate it makes for the database at db.
func CertPaths(db string) (cert, key string) { return db + ".tls.crt", db + ".tls.key" }

// LoadCert reads a certificate and its key (PEM), as --tls-cert and --tls-key give them.
func LoadCert(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the certificate %s and key %s cannot be used (%v); give PEM files that belong together", certFile, keyFile, err)
	}
	return c, nil
}

// SelfSigned is the certificate beside database db: read when it is there, else made once (ECDSA P-256,
// valid 10 years, for localhost, the loopback addresses, this host's name and hosts) and kept (the key
// mode 0600), so its fingerprint stays the same across restarts and clients can pin it.
func SelfSigned(db string, hosts []string) (c tls.Certificate, created bool, err error) {
	certFile, keyFile := CertPaths(db)
	if _, err := os.Stat(certFile); err == nil {
		c, err := LoadCert(certFile, keyFile)
		return c, false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return c, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return c, false, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "vmmpm serve", Organization: []string{"vmmpm"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// its own authority, so curl --cacert and other clients accept it as it is
		IsCA: true, BasicConstraintsValid: true,
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() && !ip.IsLoopback() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "" && h != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return c, false, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return c, false, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeNew(keyFile, keyPEM); err != nil {
		return c, false, err
	}
	if err := writeNew(certFile, certPEM); err != nil {
		_ = os.Remove(keyFile)
		return c, false, err
	}
	c, err = tls.X509KeyPair(certPEM, keyPEM)
	return c, true, err
}

// writeNew writes data to a file that must not exist yet, mode 0600, durably.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write %s (%v); check the folder's permissions or give --tls-cert and --tls-key", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("cannot write %s (%v); check the free space there", path, err)
	}
	return nil
}

// Fingerprint is the SHA-256 of the certificate as openssl x509 -fingerprint -sha256 prints it
// ("AB:CD:…"), which clients pin.
func Fingerprint(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// PublicKeyPin is the certificate's public key pin as curl --pinnedpubkey takes it ("sha256//BASE64").
func PublicKeyPin(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(x.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// PinnedConfig is a client TLS configuration that trusts exactly the certificate with SHA-256
// fingerprint fp (as Fingerprint writes it, colons and case optional), whatever signed it.
func PinnedConfig(fp string) *tls.Config {
	want := strings.ToUpper(strings.ReplaceAll(fp, ":", ""))
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below: the chain of a self-signed certificate proves nothing
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := fmt.Sprintf("%X", sum[:]); got != want {
				return fmt.Errorf("the server's certificate has fingerprint %s, not the pinned one", got)
			}
			return nil
		},
	}
}
