// Package bin is the compact binary form of the few records read and written in the engine's commits
// (an outbox delivery, a frozen event): uvarints, length-prefixed bytes and times, appended and read
// back without reflection, which encoding/json cost those commits.
package bin

import (
	"encoding/binary"
	"fmt"
	"time"
)

// AppendUint appends n as a uvarint.
func AppendUint(out []byte, n uint64) []byte { return binary.AppendUvarint(out, n) }

// AppendBytes appends b after its uvarint length.
func AppendBytes(out, b []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(b))), b...)
}

// AppendString appends s after its uvarint length.
func AppendString(out []byte, s string) []byte {
	return append(binary.AppendUvarint(out, uint64(len(s))), s...)
}

// AppendTime keeps t's instant and zone offset (what its JSON shows), after a length byte; a zero time
// is that byte alone.
func AppendTime(out []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(out, 0)
	}
	at := len(out)
	out = append(out, 0)
	b, err := t.AppendBinary(out)
	if err != nil { // an offset the binary form cannot hold: the same instant in UTC
		b, _ = t.UTC().AppendBinary(out)
	}
	b[at] = byte(len(b) - at - 1)
	return b
}

// Reader reads back what the Append functions wrote. The first field cut short sets Err (naming
// what of Of it was) and every later read returns zero values.
type Reader struct {
	B   []byte
	Of  string // what is being read, for the error: "the frozen event"
	Err error
}

// Fail records that field what is cut short or malformed.
func (r *Reader) Fail(what string) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%s is cut short in its %s", r.Of, what)
	}
	r.B = nil
}

// Uint reads a uvarint.
func (r *Reader) Uint(what string) uint64 {
	n, w := binary.Uvarint(r.B)
	if w <= 0 {
		r.Fail(what)
		return 0
	}
	r.B = r.B[w:]
	return n
}

// Bytes reads length-prefixed bytes; the result shares the reader's memory.
func (r *Reader) Bytes(what string) []byte {
	n := r.Uint(what)
	if n > uint64(len(r.B)) {
		r.Fail(what)
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n:]
	return v
}

// String reads length-prefixed bytes as a string (a copy).
func (r *Reader) String(what string) string { return string(r.Bytes(what)) }

// Time reads a time AppendTime wrote.
func (r *Reader) Time(what string) time.Time {
	if len(r.B) == 0 {
		r.Fail(what)
		return time.Time{}
	}
	n := int(r.B[0])
	if n == 0 {
		r.B = r.B[1:]
		return time.Time{}
	}
	if n >= len(r.B) {
		r.Fail(what)
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary(r.B[1 : 1+n]); err != nil {
		r.Fail(what)
	}
	r.B = r.B[1+n:]
	return t
}
