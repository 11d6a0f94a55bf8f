package vmm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Masks for what a recording must not reveal. They keep each value's type, so a masked answer still
// decodes and Replay can serve it.
const (
	maskedSecret = "***"
	// MaskedEmail replaces every email in a recording; replaying one logs in as this user.
	MaskedEmail = "user@example.invalid"
	maskedIPv4  = "192.0.2.0"
	maskedIPv6  = "2001:db8::"
)

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	ipv4RE  = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	// secretKeys are properties whose value is always hidden.
	secretKeys = map[string]bool{"token": true, "password": true, "key": true, "ses6": true}
)

// Mask hides tokens, passwords, emails and IP addresses in a JSON answer; a body that is not JSON is
// masked as text.
func Mask(data []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		b, _ := json.Marshal(maskText(string(data)))
		return b
	}
	out, err := json.Marshal(maskValue("", v))
	if err != nil {
		return json.RawMessage(`null`)
	}
	return out
}

func maskValue(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[maskText(k)] = maskValue(k, x) // keys too: an answer may be keyed by email or address
		}
		return m
	case []any:
		for i := range t {
			t[i] = maskValue(key, t[i])
		}
	case string:
		if secretKeys[strings.ToLower(key)] {
			return maskedSecret
		}
		return maskText(t)
	}
	return v
}

// maskText replaces emails and addresses inside a string (a whole-value IPv6 address included).
func maskText(s string) string {
	if ip := net.ParseIP(s); ip != nil && ip.To4() == nil {
		return maskedIPv6
	}
	s = emailRE.ReplaceAllStringFunc(s, func(e string) string {
		if strings.HasSuffix(e, "@example.invalid") { // made up, e.g. the refused-login probe's
			return e
		}
		return MaskedEmail
	})
	return ipv4RE.ReplaceAllString(s, maskedIPv4)
}

// requestKey tells apart answers to one path: the masked request body, or the deep check's made-up token.
func requestKey(token string, body []byte) string {
	if token == deepProbeToken {
		return "token:" + deepProbeToken
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	return string(Mask(body))
}

// WriteRecord writes each answer to dir as NN-probe.json (dir is created, files are 0600).
func WriteRecord(dir string, answers []Answer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the record folder %s: %w", dir, err)
	}
	for i, a := range answers {
		name := fmt.Sprintf("%02d-%s.json", i+1, strings.NewReplacer(" ", "-", "/", "-", ":", "").Replace(a.Probe))
		data, err := json.MarshalIndent(a, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o600); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

// Replay serves the answers recorded in dir by method and (masked) path, so a recording from an admin's
// VMmanager can be checked again, e.g. by DeepCheck. Requests it has no answer for get 404.
func Replay(dir string) (http.Handler, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no recorded answers in %s", dir)
	}
	answers := map[string]Answer{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var a Answer
		if err := json.Unmarshal(data, &a); err != nil {
			return nil, fmt.Errorf("%s is not a recorded answer: %w", filepath.Base(f), err)
		}
		answers[a.Method+" "+a.Path+" "+a.Request] = a
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, ok := answers[r.Method+" "+maskText(r.URL.RequestURI())+" "+requestKey(r.Header.Get("x-xsrf-token"), body)]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":4040,"msg":"not recorded"}}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}), nil
}
