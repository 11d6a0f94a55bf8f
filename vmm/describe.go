package vmm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Describe turns an error from this package into one plain sentence that names the cause and what to do.
// It never includes a password: errors from this package never carry one.
func Describe(err error) string { return DescribeModule(err, 0) }

// DescribeModule is Describe for module id's client: the commands it suggests name the module.
func DescribeModule(err error, id uint64) string {
	if err == nil {
		return ""
	}
	var (
		te *TLSError
		ne *NetError
		ae *APIError
		ke *TaskError
	)
	switch {
	case errors.As(err, &te):
		module := "ID"
		if id != 0 {
			module = strconv.FormatUint(id, 10)
		}
		return describeTLS(te, module)
	case errors.As(err, &ne):
		return describeNet(ne)
	case errors.Is(err, ErrBadURL):
		return sentence(err.Error(), "give the address as https://host or https://host:port, without a path")
	case errors.Is(err, ErrBadCredentials):
		return "VMmanager refused the email or password: check both and try again."
	case errors.Is(err, ErrNotAdmin):
		return sentence(err.Error(), "use an account that holds the @admin role")
	case errors.Is(err, ErrUnavailable):
		return "VMmanager kept answering 503 (asleep or overloaded) for the whole retry period: try again in a minute."
	case errors.As(err, &ke):
		return sentence(err.Error(), "see the task log in VMmanager for the reason")
	case errors.Is(err, errShape):
		return sentence(err.Error(), "this VMmanager answers in a form vmmpm does not read yet; "+
			"run vmmpm module check --deep --record DIR and attach DIR to a bug report")
	case errors.Is(err, ErrBadAnswer):
		return sentence(err.Error(), "check that the address points to VMmanager 6")
	case errors.Is(err, ErrInvalid):
		return sentence(err.Error(), "correct the value and try again")
	case errors.Is(err, context.Canceled):
		return "The operation was cancelled."
	case errors.Is(err, context.DeadlineExceeded):
		return "VMmanager did not finish in the time allowed: try again later."
	case errors.As(err, &ae):
		return describeAPI(ae)
	}
	return sentence(err.Error(), "")
}

func describeTLS(e *TLSError, module string) string {
	switch {
	case e.Kind == "pin":
		got := "none"
		if e.Cert != nil {
			got = e.Cert.SHA256
		}
		return sentence(e.Error(), fmt.Sprintf("if VMmanager's certificate was replaced on purpose, pin the new one "+
			"(vmmpm module set %s tls_pin=%s) or run the wizard's Integration step again; otherwise find out who answers at that address", module, got))
	case e.Kind == "http":
		return sentence(e.Error(), "use "+e.HTTPURL+" (the password then crosses the network unencrypted) or the port VMmanager serves HTTPS on")
	case e.Kind == "not-tls":
		return sentence(e.Error(), "use an http:// address or the port VMmanager serves HTTPS on")
	case e.Kind == "ca-file":
		return sentence(e.Error(), "fix the file, or give another with tls_ca_file=PATH")
	case e.Cert != nil:
		return sentence(e.Error()+" ("+describeCert(e.Cert)+")", "if that is your VMmanager's certificate, trust exactly it (tls_pin="+
			e.Cert.SHA256+"), or give the CA that signed it (tls_ca_file=PATH), or, last, switch on skip TLS verification")
	case e.Kind == "hostname":
		return sentence(e.Error(), "use the host name the certificate was issued for, or switch on skip TLS verification")
	}
	return sentence(e.Error(), "fix the server's certificate, or switch on skip TLS verification if you trust this server")
}

func describeNet(e *NetError) string {
	switch e.Kind {
	case "dns":
		return sentence(e.Error(), "check the spelling of the VMmanager address and your DNS")
	case "refused":
		return sentence(e.Error(), "check the address and port and that VMmanager is running")
	case "timeout":
		return sentence(e.Error(), "check the address, the network and any firewall in between")
	}
	return sentence(e.Error(), "check the address and the network")
}

func describeAPI(e *APIError) string {
	switch {
	case e.Status == 401:
		return sentence(e.Error(), "the session was refused even after a fresh login; check the account in VMmanager")
	case e.Status == 403:
		return sentence(e.Error(), "the account lacks the rights for this call; use an administrator account")
	case e.Status == 404:
		return sentence(e.Error(), "the object no longer exists in VMmanager")
	case e.Status >= 500:
		return sentence(e.Error(), "VMmanager had an internal error; try again later")
	}
	return sentence(e.Error(), "VMmanager refused the request as given")
}

// sentence joins a cause and an action into one capitalised sentence with a final full stop.
func sentence(cause, action string) string {
	cause = strings.TrimRight(strings.TrimSpace(cause), ".")
	if cause != "" {
		cause = strings.ToUpper(cause[:1]) + cause[1:]
	}
	if action == "" {
		return cause + "."
	}
	return cause + "; " + action + "."
}
