package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"vmmpm/store"
)

// awkward are strings encoding/json escapes or repairs: quotes and backslashes, control characters,
// HTML characters, non-ASCII, invalid UTF-8, the JavaScript line separators, and the empty string.
var awkward = []string{"", "plain", `"quoted" \ back\slash`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<a href='x'>&amp;</a>",
	"клиент@пример.рф ✓ 😀", "bad \xff\xfe utf-8 \xc3", "line\u2028para\u2029end", "\xe2\x80", "a\u00e9\u0301"}

// awkwardTimes: zero, UTC, a fractional second, odd offsets, and years RFC 3339 cannot hold.
var awkwardTimes = []time.Time{{}, time.Date(2026, 12, 7, 1, 2, 3, 0, time.UTC),
	time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.FixedZone("MSK", 3*3600)),
	time.Date(1999, 1, 1, 0, 0, 0, 1, time.FixedZone("", -(9*3600+30*60+15))),
	time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 25*3600)),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}

// eventOf is an event about a service and a job carrying s in every string and t in every time.
func eventOf(s string, t time.Time, n uint64, variant int) Event {
	st := t.Add(time.Second)
	svc := &store.Service{ID: n, ExternalID: s, TariffID: n + 1, ModuleID: n % 3, ClientEmail: s + "@x", Domain: s,
		Status: s, VM: store.VM{HostID: n * 7, IPv4: []string{s, "192.0.2.1"}}, CreatedAt: t, UpdatedAt: st}
	j := &store.Job{ID: n, ServiceID: n, ModuleID: n % 2, Type: s, State: s, Error: s, By: s, Attempt: int(n % 5),
		MaxAttempts: -int(n % 3), Args: map[string]string{s: s, "os_id": "1", "z" + s: "", "password": "x"},
		EnqueuedAt: t, StartedAt: st}
	switch variant % 4 {
	case 1:
		svc.VM.IPv4, svc.VM.IPv6 = nil, []string{} // ServiceOf gives [] for both
		j.Args, j.FinishedAt = nil, t
	case 2:
		j.Args = map[string]string{"password": "only"} // nothing left: no args
	case 3:
		e := Event{Type: s, At: t, Webhook: &Target{ID: n, URL: s}}
		return e
	}
	e := event(s, t, svc, j)
	if variant%8 == 4 {
		e.Service.VM.IPv4, e.Service.VM.IPv6 = nil, nil // null, as json.Marshal writes it
		e.Job.Log = []store.LogLine{{At: t, Text: s}}
	}
	return e
}

// sameAsMarshal fails t when marshalEvent and json.Marshal disagree on e.
func sameAsMarshal(t *testing.T, e Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	got, err := marshalEvent(&e)
	if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("marshalEvent\n%s (%v)\njson.Marshal\n%s (%v)", got, err, want, wantErr)
	}
}

// TestMarshalEventIsJSONMarshal: the appender writes json.Marshal's bytes over awkward strings, times,
// nil and empty slices and maps, absent objects, and fails where it fails.
func TestMarshalEventIsJSONMarshal(t *testing.T) {
	for i, s := range awkward {
		for k, at := range awkwardTimes {
			for v := range 8 {
				sameAsMarshal(t, eventOf(s, at, uint64(i*k*v)<<(i*5), v))
			}
		}
	}
	sameAsMarshal(t, Event{})
	sameAsMarshal(t, Event{Type: "job.done", Job: &Job{Args: map[string]string{}}})
	sameAsMarshal(t, Event{Type: "service.active", Service: &Service{VM: VM{IPv4: []string{}, IPv6: []string{""}}}})
}

func FuzzMarshalEvent(f *testing.F) {
	for i, s := range awkward {
		f.Add(s, int64(1796000000+i), int64(i*123456789), i*3600-7, uint64(i)<<60, i)
	}
	f.Add("", int64(-62135596800), int64(0), 0, uint64(0), 0)
	f.Add("x", int64(253402300800), int64(1), 86400, ^uint64(0), 5)
	f.Fuzz(func(t *testing.T, s string, sec, nsec int64, offset int, n uint64, variant int) {
		at := time.Unix(sec, nsec).In(time.FixedZone("", offset))
		sameAsMarshal(t, eventOf(s, at, n, variant&7))
	})
}

// sameAsUnmarshal fails t when decodeService and json.Unmarshal disagree on raw.
func sameAsUnmarshal(t *testing.T, raw []byte) {
	t.Helper()
	var want store.Service
	wantErr := json.Unmarshal(raw, &want)
	got, err := decodeService(raw)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: decodeService error %v, json.Unmarshal error %v", raw, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(*got, want) {
		t.Fatalf("%q:\ndecodeService %#v\njson.Unmarshal %#v", raw, *got, want)
	}
}

// TestDecodeServiceIsJSONUnmarshal: records as encoding/json writes them decode as json.Unmarshal
// decodes them, and so do records it would not write (spaces, other cases, nulls, odd numbers,
// repeated or unknown keys, cut or broken JSON).
func TestDecodeServiceIsJSONUnmarshal(t *testing.T) {
	for i, s := range awkward {
		for _, at := range awkwardTimes[:4] {
			svc := trickyService(at)
			svc.ID, svc.ExternalID, svc.Domain, svc.ClientEmail = uint64(i)<<59, s, s, s+"@x"
			svc.VM.DiskMiB, svc.VM.CPU, svc.VM.RAMMiB, svc.VM.IPv6 = -i, i, 1<<40, []string{s, ""}
			raw, err := json.Marshal(svc)
			if err != nil {
				t.Fatal(err)
			}
			sameAsUnmarshal(t, raw)
			if sc := (scanner{b: raw, ok: true}); !sc.service(new(store.Service)) {
				t.Fatalf("a record encoding/json wrote is left to json.Unmarshal: %s", raw)
			}
			for cut := range raw {
				sameAsUnmarshal(t, raw[:cut])
			}
		}
	}
	for _, raw := range oddRecords {
		sameAsUnmarshal(t, []byte(raw))
	}
}

var oddRecords = []string{`{}`, `{"id":1}`, ` {"id":1}`, `{"id":1} `, `{"id" : 1}`, `{"ID":1}`, `{"Status":"active"}`,
	`{"id":null}`, `{"vm":null}`, `{"vm":{}}`, `{"vm":{"ipv4":null}}`, `{"vm":{"ipv4":[]}}`, `{"vm":{"ipv4":["a",]}}`,
	`{"id":01}`, `{"id":-1}`, `{"id":1.0}`, `{"id":1e3}`, `{"id":18446744073709551615}`, `{"id":18446744073709551616}`,
	`{"vm":{"cpu":-9223372036854775808}}`, `{"vm":{"cpu":9223372036854775808}}`, `{"vm":{"cpu":-0}}`, `{"vm":{"cpu":-}}`,
	`{"id":1,"id":2}`, `{"vm":{"host_id":1},"vm":{"cpu":2}}`, `{"vm":{"ipv4":["a","b"]},"vm":{"ipv4":["c"]}}`,
	`{"other":1}`, `{"status":"a\"b"}`, `{"status":"a\u00e9\ud83d\ude00"}`, `{"status":"\ud800"}`, `{"status":"bad\x"}`,
	"{\"status\":\"tab\there\"}", "{\"status\":\"\xff\"}", `{"created_at":"2026-12-07T01:02:03Z"}`,
	`{"created_at":"2026-12-07T01:02:03+00:00"}`, `{"created_at":"2026-12-07 01:02:03Z"}`, `{"created_at":"x"}`,
	`{"created_at":"\u0032026-12-07T01:02:03Z"}`, `{"created_at":1}`, `{"status":1}`, `{"vm":[]}`, `{"id":1,}`, `{,}`,
	`[]`, `null`, ``, `{"id":1}{}`, `{"status":"x"`, `{"status":"x\`}

func FuzzDecodeService(f *testing.F) {
	at := time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.FixedZone("MSK", 3*3600))
	raw, _ := json.Marshal(trickyService(at))
	f.Add(raw)
	for _, r := range oddRecords {
		f.Add([]byte(r))
	}
	f.Fuzz(sameAsUnmarshal)
}

// TestAppendEventCoversEveryField: with every field of the payload's structs set (but a job's log,
// which goes to json.Marshal), the appender itself writes json.Marshal's bytes, so a field added to
// Event, Service, VM, Job or Target without a line in appendEvent fails here.
func TestAppendEventCoversEveryField(t *testing.T) {
	var e Event
	fill(reflect.ValueOf(&e).Elem())
	e.Job.Log = nil
	got, ok := appendEvent(nil, &e)
	want, err := json.Marshal(e)
	if !ok || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("appendEvent (ok %v)\n%s\njson.Marshal (%v)\n%s", ok, got, err, want)
	}
}

// fill sets v and everything it holds to a value that is not zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 7, 1, 2, 3, 4, time.FixedZone("", 3600))))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.String:
		v.SetString("x<y>")
	case reflect.Int, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint64:
		v.SetUint(7)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, x := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(x)
		v.SetMapIndex(k, x)
	default:
		panic("fill: no value for " + v.Type().String())
	}
}
