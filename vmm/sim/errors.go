package sim

import (
	"fmt"
	"net/http"
)

// Error codes the emulator answers with, inside {"error":{"code","msg"}}. The real codes are not public
// (vmmanager6-api.md §8), so these are ours; the package comment lists them with their HTTP statuses.
const (
	codeNoSession  = 1000 // 401: token missing, unknown or expired
	codeBadLogin   = 1001 // 401: wrong email or password
	codeNotAdmin   = 1002 // 403: the call needs an @admin account
	codeBadJSON    = 2000 // 400: body is not a JSON object
	codeBadWhere   = 2001 // 400: malformed where=
	codeBadParam   = 2002 // 400: missing or invalid parameter
	codeUnknownRef = 2003 // 400: the request names an OS, cluster, account, recipe… that does not exist
	codeNoCapacity = 2004 // 400: not enough CPU, RAM or storage left on the cluster
	codeNoAddress  = 2005 // 400: no IP pool on that interface, or no free address in it
	codeShrink     = 2006 // 400: CPU, RAM or disk can only grow
	codeEmailTaken = 2007 // 400: an account with this email exists
	codeNotFound   = 4004 // 404: the object (VM, disk, task, cluster) does not exist
	codeNoRoute    = 4040 // 404: no such API function
	codeBadMethod  = 4050 // 405: method is not GET, POST or DELETE, or not this function's
	codeInjected   = 5000 // 500: failure injected by --fail-rate or FailNext
	codeSuspended  = 5030 // 503: the instance is asleep (--sleep-every or Sleep)
)

// apiError is an answer other than success: HTTP status plus VMmanager's error object.
type apiError struct {
	status int
	code   int
	msg    string
	value  map[string]any
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %d %s", e.status, e.code, e.msg) }

func (e *apiError) body() map[string]any {
	obj := map[string]any{"code": e.code, "msg": e.msg}
	if e.value != nil {
		obj["value"] = e.value
	}
	return map[string]any{"error": obj}
}

func errf(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// badParam is a 400 naming the parameter, which goes into the error's value as VMmanager does.
func badParam(param, format string, args ...any) *apiError {
	e := errf(http.StatusBadRequest, codeBadParam, format, args...)
	e.value = map[string]any{"param": param}
	return e
}

func unknownRef(param string, format string, args ...any) *apiError {
	e := errf(http.StatusBadRequest, codeUnknownRef, format, args...)
	e.value = map[string]any{"param": param}
	return e
}

func notFound(what string, id int) *apiError {
	return errf(http.StatusNotFound, codeNotFound, "%s %d does not exist", what, id)
}
