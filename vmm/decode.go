package vmm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// tokenAnswer is the body of a 201 from POST /auth/v4/public/token.
type tokenAnswer struct {
	ID        flexID `json:"id"`
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
	Confirmed bool   `json:"confirmed"`
}

// listAnswer is every list endpoint's envelope: {"last_notify": N, "list": [...]}.
type listAnswer struct {
	LastNotify json.RawMessage `json:"last_notify"`
	List       json.RawMessage `json:"list"`
}

type errorAnswer struct {
	Error *struct {
		Code flexID `json:"code"`
		Msg  string `json:"msg"`
	} `json:"error"`
}

// flexID accepts 7, "7" or null: clients in the wild disagree on whether ids are numbers or strings.
type flexID uint64

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[wantID]()}
	}
	*f = flexID(n)
	return nil
}

// flexInt accepts -3, "-3" or null (null is 0): numbers that sources type differently, e.g. ip4[].interface.
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[int]()}
	}
	*f = flexInt(n)
	return nil
}

// flexString accepts a string or a number (task consul ids come as either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[numberOrString]()}
	}
	*f = flexString(n.String())
	return nil
}

// Types that only name what vmmpm reads, in shape errors (see shapeText).
type (
	wantID         uint64 // a number or a string of digits
	numberOrString string
)

// jsonKind names a raw JSON value for a sentence: `a boolean (true)`, `a string ("vmbr0")`, `an object`.
// Strings are clipped and masked like a recording, since the sentence may reach a job's log.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		var s string
		_ = json.Unmarshal(b, &s)
		return fmt.Sprintf("a string (%q)", clip(maskText(s), 40))
	case 't', 'f':
		return "a boolean (" + string(b) + ")"
	case 'n':
		return "null"
	}
	return "a number (" + clip(string(b), 40) + ")"
}

// shapeText is the sentence for a list item or answer field of the wrong type: which field, what came,
// and what vmmpm reads; "" when err is no such error.
func shapeText(err error, where string) string {
	field, got, want, ok := shapeParts(err)
	if !ok {
		return ""
	}
	return fmt.Sprintf("VMmanager sent %s as %s %s, where vmmpm reads %s", field, got, where, want)
}

// shapeParts takes a decode error apart: the field's path, what came, what vmmpm reads.
func shapeParts(err error) (field, got, want string, ok bool) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return "", "", "", false
	}
	got = te.Value
	switch got { // encoding/json's own words for the JSON kinds
	case "number", "string", "object", "array":
		got = article(got) + " " + got
	case "bool":
		got = "a boolean"
	}
	return te.Field, got, wantText(te.Type), true
}

func article(noun string) string {
	if strings.ContainsAny(noun[:1], "aeiou") {
		return "an"
	}
	return "a"
}

func wantText(t reflect.Type) string {
	switch {
	case t == nil:
		return "another type"
	case t == reflect.TypeFor[wantID]():
		return "an id (a number or a string of digits)"
	case t == reflect.TypeFor[numberOrString]():
		return "a number or a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Uint, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}

// decodeAnswer turns a status and body into out (2xx) or an error (*APIError for non-2xx, ErrBadAnswer for
// a 2xx that is not the JSON expected). login marks the token request, where a 4xx means bad credentials.
func decodeAnswer(status int, data []byte, out any, login bool) error {
	if status < 200 || status > 299 {
		return decodeError(status, data, login)
	}
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(ErrBadAnswer, "VMmanager sent an empty answer where JSON was expected")
	}
	if err := json.Unmarshal(data, out); err != nil {
		if msg := shapeText(err, "in its answer"); msg != "" {
			return &kindError{kind: errShape, msg: msg, cause: err}
		}
		return &kindError{kind: ErrBadAnswer, msg: "VMmanager sent an answer that is not the JSON expected", cause: err}
	}
	return nil
}

// decodeError builds the *APIError for a non-2xx answer, using the error object when there is one.
func decodeError(status int, data []byte, login bool) *APIError {
	e := &APIError{Status: status, login: login}
	var ea errorAnswer
	if json.Unmarshal(data, &ea) == nil && ea.Error != nil {
		e.Code, e.Msg = int(ea.Error.Code), clip(ea.Error.Msg, 300)
	}
	if e.Msg == "" {
		e.Msg = http.StatusText(status)
		if e.Msg == "" {
			e.Msg = "no error message"
		}
	}
	return e
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// decodeList decodes a 2xx list envelope; a body without "list" is not a VMmanager list.
func decodeList[T any](data []byte) ([]T, error) { return decodeListAt[T](data, "") }

// decodeListAt is decodeList for the answer to path, which a shape error names.
func decodeListAt[T any](data []byte, path string) ([]T, error) {
	var l listAnswer
	if err := decodeAnswer(http.StatusOK, data, &l, false); err != nil {
		return nil, err
	}
	if len(l.List) == 0 {
		return nil, errorf(ErrBadAnswer, "VMmanager sent a list answer without a list")
	}
	var items []T
	if err := json.Unmarshal(l.List, &items); err != nil {
		where := "in a list item"
		if path != "" {
			where = "in a list item of GET " + pathOnly(path)
		}
		if msg := shapeText(err, where); msg != "" {
			return nil, &kindError{kind: errShape, msg: msg, cause: err}
		}
		return nil, &kindError{kind: ErrBadAnswer, msg: "VMmanager sent list items of an unexpected shape", cause: err}
	}
	return items, nil
}
