package pgkv

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestArraysAsPgx: the arrays pgkv encodes itself are byte for byte what pgx's own encoder makes of
// them (bytea[] and bigint[], binary), empty elements and large ones among them.
func TestArraysAsPgx(t *testing.T) {
	m := pgtype.NewMap()
	cases := []struct {
		oid uint32
		arg any
	}{
		{pgtype.ByteaArrayOID, [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{0xff}, 70000), []byte("kv_pairs")}},
		{pgtype.ByteaArrayOID, [][]byte{{0}}},
		{pgtype.Int8ArrayOID, []int64{0, 1, -1, 1 << 62}},
		{pgtype.Int8ArrayOID, []int64{7}},
	}
	for _, c := range cases {
		want, err := m.Encode(c.oid, pgtype.BinaryFormatCode, c.arg, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeArgs([]any{c.arg})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[0], want) {
			t.Errorf("%T of %d bytes: pgkv's encoding differs from pgx's (%d bytes)", c.arg, len(got[0]), len(want))
		}
	}
	if _, err := encodeArgs([]any{"text"}); err == nil {
		t.Error("a string argument was encoded as an array")
	}
}

// BenchmarkEncodeWrites: a W=64 commit's puts (170 rows of about 330 bytes) as pgkv encodes them
// and as pgx's generic array encoding did.
func BenchmarkEncodeWrites(b *testing.B) {
	keys, values := make([][]byte, 170), make([][]byte, 170)
	for i := range keys {
		keys[i], values[i] = bytes.Repeat([]byte{byte(i)}, 9), bytes.Repeat([]byte{'v'}, 330)
	}
	buckets := make([][]byte, 170)
	for i := range buckets {
		buckets[i] = []byte("queue_job_index")
	}
	args := []any{buckets, keys, values}
	b.Run("pgkv", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeArgs(args); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pgx", func(b *testing.B) {
		m := pgtype.NewMap()
		for b.Loop() {
			for _, a := range args {
				if _, err := m.Encode(pgtype.ByteaArrayOID, pgtype.BinaryFormatCode, a, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
