package vmm

import (
	"net/url"
	"strconv"
	"strings"
)

// NormalizeURL turns what an admin typed into the base URL the client appends /auth/v4/… and /vm/v3/… to:
// https:// is added when there is no scheme and trailing slashes go. Paths, queries, fragments and
// user info are refused, because VMmanager 6 always serves its API from the root of the host.
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errorf(ErrBadURL, "the VMmanager address is empty")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errorf(ErrBadURL, "the VMmanager address %q is not a valid URL", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "https" && scheme != "http":
		return "", errorf(ErrBadURL, "the VMmanager address %q uses scheme %q instead of https or http", raw, u.Scheme)
	case u.User != nil:
		return "", errorf(ErrBadURL, "the VMmanager address must not contain a user name or password")
	case u.Hostname() == "":
		return "", errorf(ErrBadURL, "the VMmanager address %q has no host name", raw)
	case u.Opaque != "" || strings.Trim(u.Path, "/") != "":
		return "", errorf(ErrBadURL, "the VMmanager address %q has a path", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return "", errorf(ErrBadURL, "the VMmanager address %q has a query", raw)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", errorf(ErrBadURL, "the VMmanager address %q has a fragment", raw)
	case !validPort(u.Port(), strings.HasSuffix(u.Host, ":")):
		return "", errorf(ErrBadURL, "the VMmanager address %q has an invalid port", raw)
	}
	return scheme + "://" + strings.ToLower(u.Host), nil
}

func validPort(p string, trailingColon bool) bool {
	if p == "" {
		return !trailingColon
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
