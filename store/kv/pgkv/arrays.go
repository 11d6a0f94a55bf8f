package pgkv

import (
	"encoding/binary"
	"fmt"
)

// The writes' arguments are one-dimensional arrays of bytea or bigint, encoded here in
// PostgreSQL's binary array format: pgx's generic array encoding cost the commit of a few hundred
// rows about a tenth of a millisecond of CPU, on the engine's critical path.

// binaryFormats is the format code of every argument: binary.
var binaryFormats = []int16{1, 1, 1, 1}

// Element types (pg_type oids).
const (
	oidBytea = 17
	oidInt8  = 20
)

// encodeArgs encodes each argument, a [][]byte (bytea[]) or an []int64 (bigint[]).
func encodeArgs(args []any) ([][]byte, error) {
	if len(args) > len(binaryFormats) {
		return nil, fmt.Errorf("%d arguments, at most %d", len(args), len(binaryFormats))
	}
	values := make([][]byte, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case [][]byte:
			values[i] = byteaArray(a)
		case []int64:
			values[i] = int8Array(a)
		default:
			return nil, fmt.Errorf("argument %d is a %T, not an array pgkv encodes", i+1, a)
		}
	}
	return values, nil
}

// arrayHeader starts a one-dimensional array of n elements of type oid, with room for size more
// bytes; an empty array has no dimension.
func arrayHeader(oid uint32, n, size int) []byte {
	b := make([]byte, 0, 20+size)
	if n == 0 {
		return binary.BigEndian.AppendUint32(append(b, 0, 0, 0, 0, 0, 0, 0, 0), oid)
	}
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, oid)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return binary.BigEndian.AppendUint32(b, 1) // lower bound
}

func byteaArray(vs [][]byte) []byte {
	size := 0
	for _, v := range vs {
		size += 4 + len(v)
	}
	b := arrayHeader(oidBytea, len(vs), size)
	for _, v := range vs {
		b = append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...)
	}
	return b
}

func int8Array(vs []int64) []byte {
	b := arrayHeader(oidInt8, len(vs), 12*len(vs))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), uint64(v))
	}
	return b
}
