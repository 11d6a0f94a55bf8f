package bin

import (
	"strings"
	"testing"
	"time"
)

// TestRoundTrip: what the Append functions write reads back field by field, and the first field cut
// short is named in the one error, with zero values after it.
func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 16, 0, 0, 5, time.FixedZone("", -5*3600))
	b := AppendUint(nil, 1<<63)
	b = AppendString(b, "job.done")
	b = AppendBytes(b, []byte{0, 1, 2})
	b = AppendTime(b, at)
	b = AppendTime(b, time.Time{})
	r := Reader{B: b, Of: "the record"}
	if n, s, raw, got, zero := r.Uint("n"), r.String("s"), r.Bytes("raw"), r.Time("at"), r.Time("zero"); r.Err != nil ||
		n != 1<<63 || s != "job.done" || string(raw) != "\x00\x01\x02" || !got.Equal(at) || !zero.IsZero() || len(r.B) != 0 {
		t.Fatalf("read back %d %q %v %v %v, rest %v: %v", n, s, raw, got, zero, r.B, r.Err)
	}
	again := Reader{B: AppendTime(nil, at)}
	if _, off := again.Time("at").Zone(); off != -5*3600 {
		t.Fatalf("the offset read back is %d, want -5h", off)
	}
	cut := Reader{B: b[:len(b)-3], Of: "the record"}
	_, _, _ = cut.Uint("n"), cut.String("s"), cut.Bytes("raw")
	if got := cut.Time("at"); !got.IsZero() || cut.Err == nil || cut.Err.Error() != "the record is cut short in its at" {
		t.Fatalf("a cut time: %v, %v", got, cut.Err)
	}
	if s := cut.String("s2"); s != "" || !strings.Contains(cut.Err.Error(), "its at") {
		t.Fatalf("after the first failure: %q, %v", s, cut.Err)
	}
}
