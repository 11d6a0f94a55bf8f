package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Headers of every delivery.
const (
	HeaderDelivery  = "Vmmpm-Delivery"  // the delivery id: the same on every retry, so a receiver drops repeats
	HeaderEvent     = "Vmmpm-Event"     // the event type, e.g. service.active
	HeaderSignature = "Vmmpm-Signature" // t=UNIXSECONDS,v1=HEX
)

// Sign is the Vmmpm-Signature value of body sent at t: v1 is the lowercase hex HMAC-SHA256, keyed by the
// webhook's secret, of the decimal timestamp, a ".", and the raw body.
func Sign(secret string, t int64, body []byte) string {
	return signWith(newMAC(secret), t, body)
}

// signWith is Sign with m, a reset HMAC-SHA256 keyed by the secret (a deliverer keeps them per webhook).
func signWith(m hash.Hash, t int64, body []byte) string {
	var buf [96]byte
	out := strconv.AppendInt(append(buf[:0], "t="...), t, 10)
	return string(hex.AppendEncode(append(out, ",v1="...), sum(m, t, body)))
}

func newMAC(secret string) hash.Hash { return hmac.New(sha256.New, []byte(secret)) }

func sum(m hash.Hash, t int64, body []byte) []byte {
	var buf [sha256.Size]byte
	m.Write(strconv.AppendInt(buf[:0], t, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(buf[:0])
}

func mac(secret string, t int64, body []byte) []byte { return sum(newMAC(secret), t, body) }

// Verify checks a Vmmpm-Signature header against body: the HMAC must match and the timestamp be
// within tolerance of now (0: any age), so a recorded delivery cannot be replayed later.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var t int64 = -1
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if t < 0 || len(sigs) == 0 {
		return errors.New("the signature header is not t=UNIXSECONDS,v1=HEX")
	}
	want := mac(secret, t, body)
	ok := false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return errors.New("the signature does not match the body and the secret")
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("the signature's timestamp is %s away from now, beyond %s", d.Round(time.Second), tolerance)
		}
	}
	return nil
}
