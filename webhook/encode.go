package webhook

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// marshalEvent is json.Marshal(e), byte for byte, built by appending instead of by reflection (that was
// most of a delivery attempt's CPU). What the appender does not cover (a job's log lines, a time
// RFC 3339 cannot hold) goes to json.Marshal, so the bytes and the errors stay encoding/json's.
func marshalEvent(e *Event) ([]byte, error) {
	if b, ok := appendEvent(make([]byte, 0, 512), e); ok {
		return b, nil
	}
	return json.Marshal(e)
}

func appendEvent(b []byte, e *Event) ([]byte, bool) {
	ok := true
	b = appendString(append(b, `{"type":`...), e.Type)
	b = appendJSONTime(append(b, `,"at":`...), e.At, &ok)
	if e.Service != nil {
		b = appendService(append(b, `,"service":`...), e.Service, &ok)
	}
	if e.Job != nil {
		if len(e.Job.Log) > 0 {
			return b, false
		}
		b = appendJob(append(b, `,"job":`...), e.Job, &ok)
	}
	if e.Webhook != nil {
		b = strconv.AppendUint(append(b, `,"webhook":{"id":`...), e.Webhook.ID, 10)
		b = append(appendString(append(b, `,"url":`...), e.Webhook.URL), '}')
	}
	return append(b, '}'), ok
}

func appendService(b []byte, s *Service, ok *bool) []byte {
	b = strconv.AppendUint(append(b, `{"id":`...), s.ID, 10)
	if s.ExternalID != "" {
		b = appendString(append(b, `,"external_id":`...), s.ExternalID)
	}
	b = appendString(append(b, `,"status":`...), s.Status)
	b = strconv.AppendUint(append(b, `,"tariff_id":`...), s.TariffID, 10)
	if s.ModuleID != 0 {
		b = strconv.AppendUint(append(b, `,"module_id":`...), s.ModuleID, 10)
	}
	b = appendString(append(b, `,"client_email":`...), s.ClientEmail)
	if s.Domain != "" {
		b = appendString(append(b, `,"domain":`...), s.Domain)
	}
	b = strconv.AppendUint(append(b, `,"vm":{"id":`...), s.VM.ID, 10)
	b = appendStrings(append(b, `,"ipv4":`...), s.VM.IPv4)
	b = appendStrings(append(b, `,"ipv6":`...), s.VM.IPv6)
	b = appendJSONTime(append(b, `},"created_at":`...), s.CreatedAt, ok)
	b = appendJSONTime(append(b, `,"updated_at":`...), s.UpdatedAt, ok)
	return append(b, '}')
}

func appendJob(b []byte, j *Job, ok *bool) []byte {
	b = strconv.AppendUint(append(b, `{"id":`...), j.ID, 10)
	b = strconv.AppendUint(append(b, `,"service_id":`...), j.ServiceID, 10)
	if j.ModuleID != 0 {
		b = strconv.AppendUint(append(b, `,"module_id":`...), j.ModuleID, 10)
	}
	b = appendString(append(b, `,"type":`...), j.Type)
	b = appendString(append(b, `,"state":`...), j.State)
	if j.Reason != "" {
		b = appendString(append(b, `,"reason":`...), j.Reason)
	}
	if len(j.Args) > 0 {
		b = appendArgs(append(b, `,"args":`...), j.Args)
	}
	b = strconv.AppendInt(append(b, `,"attempt":`...), int64(j.Attempt), 10)
	b = strconv.AppendInt(append(b, `,"max_attempts":`...), int64(j.MaxAttempts), 10)
	if j.By != "" {
		b = appendString(append(b, `,"by":`...), j.By)
	}
	b = appendJSONTime(append(b, `,"enqueued_at":`...), j.EnqueuedAt, ok)
	if j.StartedAt != nil {
		b = appendJSONTime(append(b, `,"started_at":`...), *j.StartedAt, ok)
	}
	if j.FinishedAt != nil {
		b = appendJSONTime(append(b, `,"finished_at":`...), *j.FinishedAt, ok)
	}
	return append(b, '}')
}

// appendArgs writes a map as encoding/json does: keys sorted.
func appendArgs(b []byte, args map[string]string) []byte {
	var stack [8]string
	keys := stack[:0]
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(append(appendString(b, k), ':'), args[k])
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendJSONTime is t's JSON; ok turns false when RFC 3339 cannot hold it (json.Marshal then says why).
func appendJSONTime(b []byte, t time.Time, ok *bool) []byte {
	b, err := t.AppendText(append(b, '"'))
	if err != nil {
		*ok = false
		return b
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoding with its HTML escaping (what json.Marshal does):
// quotes, backslashes and control characters escaped, <, > and & as \u00XX, invalid UTF-8 as \ufffd,
// U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

func appendEscape(dst []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
