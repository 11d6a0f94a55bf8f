package webhook

import (
	"encoding/json"
	"math"
	"time"
	"unicode/utf8"

	"vmmpm/store"
)

// decodeService is json.Unmarshal of a service record into a new store.Service, without reflection
// for the records encoding/json writes (compact, known keys, plain strings): that decoding was most of
// building a payload. Anything else (whitespace, an unknown or differently cased key, a null, a number
// that is not a plain integer) is left to json.Unmarshal, so the result and the errors stay its own.
func decodeService(raw []byte) (*store.Service, error) {
	s := new(store.Service)
	if sc := (scanner{b: raw, ok: true}); sc.service(s) {
		return s, nil
	}
	s = new(store.Service)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}

// scanner reads the part of JSON that decodeService takes; ok turns false at anything else.
type scanner struct {
	b  []byte
	ok bool
}

func (sc *scanner) service(s *store.Service) bool {
	sc.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			s.ID = sc.uint()
		case "external_id":
			s.ExternalID = sc.string()
		case "tariff_id":
			s.TariffID = sc.uint()
		case "module_id":
			s.ModuleID = sc.uint()
		case "client_email":
			s.ClientEmail = sc.string()
		case "domain":
			s.Domain = sc.string()
		case "status":
			s.Status = sc.string()
		case "vm":
			sc.vm(&s.VM)
		case "created_at":
			s.CreatedAt = sc.time()
		case "updated_at":
			s.UpdatedAt = sc.time()
		default:
			return false
		}
		return true
	})
	return sc.ok && len(sc.b) == 0
}

// vm decodes into v as it is, as encoding/json does with a repeated key.
func (sc *scanner) vm(v *store.VM) {
	sc.object(func(key []byte) bool {
		switch string(key) {
		case "host_id":
			v.HostID = sc.uint()
		case "account_id":
			v.AccountID = sc.uint()
		case "ipv4":
			v.IPv4 = sc.strings()
		case "ipv6":
			v.IPv6 = sc.strings()
		case "disk_mib":
			v.DiskMiB = sc.int()
		case "cpu":
			v.CPU = sc.int()
		case "ram_mib":
			v.RAMMiB = sc.int()
		default:
			return false
		}
		return true
	})
}

// object reads {"key":value,...}, field reading each value (false: a key it does not know).
func (sc *scanner) object(field func(key []byte) bool) {
	if !sc.byte('{') || sc.peek('}') && sc.byte('}') {
		return
	}
	for sc.ok {
		key, plain := sc.token()
		if !plain || !sc.byte(':') || !field(key[1:len(key)-1]) {
			sc.ok = false
			return
		}
		if sc.peek('}') {
			sc.byte('}')
			return
		}
		sc.byte(',')
	}
}

func (sc *scanner) peek(c byte) bool { return sc.ok && len(sc.b) > 0 && sc.b[0] == c }

// byte reads c; ok turns false when something else is there.
func (sc *scanner) byte(c byte) bool {
	if !sc.peek(c) {
		sc.ok = false
		return false
	}
	sc.b = sc.b[1:]
	return true
}

// token reads a string with its quotes; plain: without escapes, control characters or invalid UTF-8,
// so its bytes are its value.
func (sc *scanner) token() (tok []byte, plain bool) {
	if !sc.peek('"') {
		sc.ok = false
		return nil, false
	}
	plain = true
	for i := 1; i < len(sc.b); i++ {
		switch c := sc.b[i]; {
		case c == '"':
			tok, sc.b = sc.b[:i+1], sc.b[i+1:]
			return tok, plain && utf8.Valid(tok)
		case c == '\\':
			plain = false
			i++
		case c < 0x20:
			plain = false
		}
	}
	sc.ok = false
	return nil, false
}

func (sc *scanner) string() string {
	tok, plain := sc.token()
	if !sc.ok {
		return ""
	}
	if plain {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		sc.ok = false
	}
	return s
}

// strings reads an array of strings; [] is an empty slice, as encoding/json makes it.
func (sc *scanner) strings() []string {
	if !sc.byte('[') {
		return nil
	}
	out := []string{}
	if sc.peek(']') {
		sc.byte(']')
		return out
	}
	for sc.ok {
		out = append(out, sc.string())
		if sc.peek(']') {
			sc.byte(']')
			return out
		}
		sc.byte(',')
	}
	return nil
}

func (sc *scanner) time() time.Time {
	var t time.Time
	tok, _ := sc.token()
	if sc.ok && t.UnmarshalJSON(tok) != nil { // what encoding/json calls with the same bytes
		sc.ok = false
	}
	return t
}

// magnitude reads a JSON integer: a minus (when signed), then 0 or digits without a leading 0.
func (sc *scanner) magnitude(signed bool) (n uint64, negative bool) {
	if !sc.ok {
		return 0, false
	}
	b := sc.b
	if signed && len(b) > 0 && b[0] == '-' {
		negative, b = true, b[1:]
	}
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if n > (math.MaxUint64-d)/10 {
			sc.ok = false // beyond any field's range: encoding/json refuses it
			return 0, false
		}
		n = n*10 + d
	}
	if i == 0 || b[0] == '0' && i > 1 {
		sc.ok = false
		return 0, false
	}
	sc.b = b[i:]
	return n, negative
}

func (sc *scanner) uint() uint64 {
	n, _ := sc.magnitude(false)
	return n
}

func (sc *scanner) int() int {
	n, negative := sc.magnitude(true)
	switch {
	case negative && n <= 1<<63:
		return int(-n)
	case !negative && n < 1<<63:
		return int(n)
	}
	sc.ok = false
	return 0
}
