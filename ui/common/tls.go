package common

import (
	"strings"

	"vmmpm/store"
)

// TLSState is how a module's connection is protected, as the Modules list and the status line say it:
// "verified", "pinned" (exactly one certificate), "CA file", "INSECURE" (verification off) or "no TLS"
// for a plain-http URL, where there is no
// certificate to verify and the password crosses the network in clear.
func TLSState(m *store.Module) (text string, warn bool) {
	switch {
	case strings.HasPrefix(strings.ToLower(m.URL), "http://"):
		return "no TLS", true
	case m.TLSPin != "":
		return "pinned", false
	case m.TLSCAFile != "":
		return "CA file", false
	case m.InsecureTLS:
		return "INSECURE", true
	}
	return "verified", false
}
