package vmm_test

import (
	"errors"
	"strings"
	"testing"

	"vmmpm/vmm"
)

func TestNormalizeURL(t *testing.T) {
	good := map[string]string{
		"vm.example.com":                "https://vm.example.com",
		"  vm.example.com/  ":           "https://vm.example.com",
		"https://vm.example.com///":     "https://vm.example.com",
		"HTTPS://VM.Example.com":        "https://vm.example.com",
		"http://10.0.0.5:8080/":         "http://10.0.0.5:8080",
		"vm.example.com:8443":           "https://vm.example.com:8443",
		"[::1]:443":                     "https://[::1]:443",
		"https://xn--e1afmkfd.xn--p1ai": "https://xn--e1afmkfd.xn--p1ai",
	}
	for in, want := range good {
		got, err := vmm.NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNormalizeURLRefuses(t *testing.T) {
	bad := map[string]string{
		"":                                "empty",
		"   ":                             "empty",
		"https://":                        "no host name",
		"https://vm.example.com/vm/v3":    "has a path",
		"vm.example.com/login":            "has a path",
		"https://vm.example.com/?x=1":     "has a query",
		"https://vm.example.com?":         "has a query",
		"https://vm.example.com/#top":     "has a fragment",
		"ftp://vm.example.com":            "scheme",
		"https://admin:secret@vm.example": "user name or password",
		"https://vm.example.com:99999":    "invalid port",
		"https://vm.example.com:":         "invalid port",
		"https://vm example.com":          "not a valid URL",
		"https://vm.example.com:port":     "not a valid URL",
	}
	for in, want := range bad {
		got, err := vmm.NormalizeURL(in)
		if !errors.Is(err, vmm.ErrBadURL) {
			t.Errorf("NormalizeURL(%q) = %q, %v; want ErrBadURL", in, got, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeURL(%q) error %q does not say %q", in, err, want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("NormalizeURL(%q) error leaks the password: %q", in, err)
		}
	}
}
