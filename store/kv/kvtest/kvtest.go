// Package kvtest is the conformance suite of kv.DB (as River's riverdrivertest): every
// implementation runs Run, so code written against bbolt's semantics runs unchanged on each.
// Nothing here knows which implementation it tests.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"vmmpm/store/kv"
)

// Open gives a fresh, empty database for one subtest; closing it is the opener's business
// (t.Cleanup).
type Open func(t *testing.T) kv.DB

// Run runs every conformance case as a subtest, each on a database of its own.
func Run(t *testing.T, open Open) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, db kv.DB)
}{
	{"ByteOrder", testByteOrder},
	{"GetPutDelete", testGetPutDelete},
	{"EmptyValueIsNotMissing", testEmptyValue},
	{"CursorEnds", testCursorEnds},
	{"CursorEmptyBucket", testCursorEmptyBucket},
	{"CursorSeek", testCursorSeek},
	{"CursorDeleteWhileWalking", testCursorDelete},
	{"ForEachOrder", testForEach},
	{"Sequence", testSequence},
	{"KeyN", testKeyN},
	{"CreateBucket", testCreateBucket},
	{"DeleteBucket", testDeleteBucket},
	{"TxForEachBuckets", testTxForEach},
	{"UpdateRolledBack", testRollback},
	{"ReadYourWrites", testReadYourWrites},
	{"ReadYourWritesAfterAWalk", testReadAfterWalk},
	{"ViewSnapshot", testViewSnapshot},
	{"ViewRefusesWrites", testViewRefusesWrites},
	{"WritersSerialize", testWritersSerialize},
	{"UpdatesThatFollow", testFollows},
	{"ManyWritesAmidReads", testManyWrites},
	{"LargeValue", testLargeValue},
	{"TenThousandKeys", testManyKeys},
	{"RowsRewrittenAcrossUpdates", testRewrites},
}

var errBoom = errors.New("boom")

func update(t *testing.T, db kv.DB, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, db kv.DB, fn func(tx kv.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// fill creates bucket b holding pairs (key → value "v"+key), committed.
func fill(t *testing.T, db kv.DB, b string, keys ...[]byte) {
	t.Helper()
	update(t, db, func(tx kv.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(b))
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := bk.Put(k, append([]byte("v"), k...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// walk is every key from First to the end (forward) or from Last to the start.
func walk(c kv.Cursor, forward bool) [][]byte {
	var got [][]byte
	first, next := c.First, c.Next
	if !forward {
		first, next = c.Last, c.Prev
	}
	for k, _ := first(); k != nil; k, _ = next() {
		got = append(got, slices.Clone(k))
	}
	return got
}

func sameKeys(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("%s: keys %x, want %x", what, got, want)
	}
}

func sorted(keys [][]byte) [][]byte {
	s := slices.Clone(keys)
	slices.SortFunc(s, bytes.Compare)
	return s
}

func reversed(keys [][]byte) [][]byte {
	s := slices.Clone(keys)
	slices.Reverse(s)
	return s
}

// tricky are keys whose order a text comparison or a NUL-terminated one would get wrong.
var tricky = [][]byte{
	{0x00}, {0x00, 0x00}, {0x00, 0x01}, {0x01}, []byte("a"), []byte("ab"), []byte("abc"), []byte("b"),
	{0x7f}, {0x80}, {0xc3, 0xa9}, {0xff}, {0xff, 0x00}, {0xff, 0xff},
}

func shuffled(keys [][]byte) [][]byte {
	s := slices.Clone(keys)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func testByteOrder(t *testing.T, db kv.DB) {
	fill(t, db, "b", shuffled(tricky)...)
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		sameKeys(t, "forward", walk(b.Cursor(), true), sorted(tricky))
		sameKeys(t, "backward", walk(b.Cursor(), false), reversed(sorted(tricky)))
		return nil
	})
}

func testGetPutDelete(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("k1"), []byte("k2"))
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Put([]byte("k1"), []byte("new")); err != nil {
			return err
		}
		return b.Delete([]byte("k2"))
	})
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("k1")); string(v) != "new" {
			t.Errorf("Get(k1) = %q after overwrite, want new", v)
		}
		if v := b.Get([]byte("k2")); v != nil {
			t.Errorf("Get(k2) = %q after Delete, want nil", v)
		}
		if v := b.Get([]byte("k")); v != nil {
			t.Errorf("Get of a prefix of keys = %q, want nil", v)
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("b")).Delete([]byte("never")); err != nil {
			t.Errorf("Delete of a missing key: %v, want nil as bbolt", err)
		}
		return nil
	})
}

func testEmptyValue(t *testing.T, db kv.DB) {
	check := func(tx kv.Tx, when string) {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("e")); v == nil || len(v) != 0 {
			t.Errorf("%s: Get of an empty value = %v, want a non-nil empty slice", when, v)
		}
		if v := b.Get([]byte("missing")); v != nil {
			t.Errorf("%s: Get of a missing key = %v, want nil", when, v)
		}
		if k, v := b.Cursor().Seek([]byte("e")); string(k) != "e" || v == nil || len(v) != 0 {
			t.Errorf("%s: Seek(e) = %q, %v; want e and a non-nil empty value", when, k, v)
		}
	}
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("e"), []byte{}); err != nil {
			return err
		}
		check(tx, "in its Update")
		return nil
	})
	view(t, db, func(tx kv.Tx) error { check(tx, "after commit"); return nil })
}

func testCursorEnds(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("a"), []byte("b"), []byte("c"))
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		if k, v := c.Last(); string(k) != "c" || string(v) != "vc" {
			t.Errorf("Last = %q %q, want c vc", k, v)
		}
		if k, v := c.Next(); k != nil || v != nil {
			t.Errorf("Next past the end = %q %q, want nil nil", k, v)
		}
		if k, v := c.First(); string(k) != "a" || string(v) != "va" {
			t.Errorf("First = %q %q, want a va", k, v)
		}
		if k, v := c.Prev(); k != nil || v != nil {
			t.Errorf("Prev past the start = %q %q, want nil nil", k, v)
		}
		if k, _ := c.Seek([]byte("b")); string(k) != "b" {
			t.Fatalf("Seek(b) = %q", k)
		}
		if k, _ := c.Prev(); string(k) != "a" {
			t.Errorf("Prev after Seek(b) = %q, want a", k)
		}
		if k, _ := c.Next(); string(k) != "b" {
			t.Errorf("Next after Prev = %q, want b", k)
		}
		return nil
	})
}

func testCursorEmptyBucket(t *testing.T, db kv.DB) {
	fill(t, db, "b")
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		for name, move := range map[string]func() ([]byte, []byte){
			"First": c.First, "Last": c.Last, "Next": c.Next, "Prev": c.Prev,
			"Seek": func() ([]byte, []byte) { return c.Seek([]byte("x")) },
		} {
			if k, v := move(); k != nil || v != nil {
				t.Errorf("%s on an empty bucket = %q %q, want nil nil", name, k, v)
			}
		}
		return nil
	})
}

func testCursorSeek(t *testing.T, db kv.DB) {
	fill(t, db, "b", tricky...)
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		for _, s := range []struct{ seek, want []byte }{
			{[]byte{}, []byte{0x00}},
			{[]byte{0x00}, []byte{0x00}},
			{[]byte{0x00, 0x00, 0x00}, []byte{0x00, 0x01}},
			{[]byte("aa"), []byte("ab")},
			{[]byte("abc"), []byte("abc")},
			{[]byte("abd"), []byte("b")},
			{[]byte{0xfe}, []byte{0xff}},
			{[]byte{0xff, 0x00, 0x01}, []byte{0xff, 0xff}},
			{[]byte{0xff, 0xff, 0x00}, nil},
		} {
			k, v := c.Seek(s.seek)
			if !bytes.Equal(k, s.want) || (k == nil) != (s.want == nil) {
				t.Errorf("Seek(%x) = %x, want %x", s.seek, k, s.want)
			}
			if k != nil && !bytes.Equal(v, append([]byte("v"), k...)) {
				t.Errorf("Seek(%x) value %q, want v%x", s.seek, v, k)
			}
		}
		return nil
	})
}

func numbered(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%05d", i)
	}
	return keys
}

// testCursorDelete deletes every other key while walking: the cursor stays where it was, so Next
// lands on the key after the one deleted. Enough keys to span several pages.
func testCursorDelete(t *testing.T, db kv.DB) {
	keys := numbered(600)
	fill(t, db, "b", keys...)
	update(t, db, func(tx kv.Tx) error {
		c := tx.Bucket([]byte("b")).Cursor()
		i := 0
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if !bytes.Equal(k, keys[i]) {
				return fmt.Errorf("walk %d landed on %s, want %s", i, k, keys[i])
			}
			if i%2 == 0 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			i++
		}
		if i != len(keys) {
			return fmt.Errorf("walked %d keys, want %d", i, len(keys))
		}
		return nil
	})
	var odd [][]byte
	for i := 1; i < len(keys); i += 2 {
		odd = append(odd, keys[i])
	}
	view(t, db, func(tx kv.Tx) error {
		sameKeys(t, "after deleting every other key", walk(tx.Bucket([]byte("b")).Cursor(), true), odd)
		return nil
	})
}

func testForEach(t *testing.T, db kv.DB) {
	fill(t, db, "b", shuffled(tricky)...)
	view(t, db, func(tx kv.Tx) error {
		var got [][]byte
		err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				t.Errorf("ForEach: %x has value %q", k, v)
			}
			got = append(got, slices.Clone(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, "ForEach", got, sorted(tricky))
		n := 0
		err = tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
			if n++; n == 3 {
				return errBoom
			}
			return nil
		})
		if !errors.Is(err, errBoom) || n != 3 {
			t.Errorf("ForEach whose fn fails at the 3rd pair: %v after %d calls, want boom after 3", err, n)
		}
		return nil
	})
}

func sequence(t *testing.T, db kv.DB, name string) uint64 {
	t.Helper()
	var s uint64
	view(t, db, func(tx kv.Tx) error { s = tx.Bucket([]byte(name)).Sequence(); return nil })
	return s
}

func testSequence(t *testing.T, db kv.DB) {
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if s := b.Sequence(); s != 0 {
			t.Errorf("a new bucket's Sequence = %d, want 0", s)
		}
		for want := uint64(1); want <= 2; want++ {
			if n, err := b.NextSequence(); err != nil || n != want {
				t.Errorf("NextSequence = %d, %v; want %d", n, err, want)
			}
		}
		if err := b.SetSequence(10); err != nil {
			return err
		}
		if n, err := b.NextSequence(); err != nil || n != 11 {
			t.Errorf("NextSequence after SetSequence(10) = %d, %v; want 11", n, err)
		}
		return nil
	})
	if s := sequence(t, db, "b"); s != 11 {
		t.Fatalf("Sequence after commit = %d, want 11", s)
	}
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if n, _ := b.NextSequence(); n != 12 {
			t.Errorf("NextSequence in the next Update = %d, want 12", n)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update whose fn fails: %v, want boom", err)
	}
	if s := sequence(t, db, "b"); s != 11 {
		t.Errorf("Sequence after a rolled-back NextSequence = %d, want 11", s)
	}
	update(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket([]byte("b")); err != nil {
			return err
		}
		_, err := tx.CreateBucket([]byte("b"))
		return err
	})
	if s := sequence(t, db, "b"); s != 0 {
		t.Errorf("Sequence of a bucket deleted and made again = %d, want 0", s)
	}
}

// testKeyN counts committed keys only: bbolt counts pages, so the count inside an Update after its
// own writes is not pinned here.
func testKeyN(t *testing.T, db kv.DB) {
	fill(t, db, "b")
	view(t, db, func(tx kv.Tx) error {
		if n := tx.Bucket([]byte("b")).KeyN(); n != 0 {
			t.Errorf("KeyN of an empty bucket = %d", n)
		}
		return nil
	})
	fill(t, db, "b", numbered(300)...)
	update(t, db, func(tx kv.Tx) error {
		if n := tx.Bucket([]byte("b")).KeyN(); n != 300 {
			t.Errorf("KeyN in an Update = %d, want 300", n)
		}
		return tx.Bucket([]byte("b")).Delete(numbered(1)[0])
	})
	view(t, db, func(tx kv.Tx) error {
		if n := tx.Bucket([]byte("b")).KeyN(); n != 299 {
			t.Errorf("KeyN after a Delete = %d, want 299", n)
		}
		return nil
	})
}

func testCreateBucket(t *testing.T, db kv.DB) {
	view(t, db, func(tx kv.Tx) error {
		if b := tx.Bucket([]byte("b")); b != nil {
			t.Errorf("Bucket of a name never made = %v, want nil", b)
		}
		return nil
	})
	fill(t, db, "b", []byte("k"))
	update(t, db, func(tx kv.Tx) error {
		if _, err := tx.CreateBucket([]byte("b")); !errors.Is(err, kv.ErrBucketExists) {
			t.Errorf("CreateBucket of an existing bucket: %v, want ErrBucketExists", err)
		}
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		if v := b.Get([]byte("k")); string(v) != "vk" {
			t.Errorf("CreateBucketIfNotExists of an existing bucket lost its keys: Get(k) = %q", v)
		}
		if _, err := tx.CreateBucket([]byte("c")); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("c")); !errors.Is(err, kv.ErrBucketExists) {
			t.Errorf("CreateBucket twice in one Update: %v, want ErrBucketExists", err)
		}
		if _, err := tx.CreateBucket([]byte("b\x00")); err != nil {
			t.Errorf("CreateBucket of a name that extends another: %v", err)
		}
		return nil
	})
}

func testDeleteBucket(t *testing.T, db kv.DB) {
	fill(t, db, "b", numbered(50)...)
	fill(t, db, "b2", []byte("k"))
	update(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket([]byte("none")); !errors.Is(err, kv.ErrBucketNotFound) {
			t.Errorf("DeleteBucket of a missing bucket: %v, want ErrBucketNotFound", err)
		}
		if err := tx.DeleteBucket([]byte("b")); err != nil {
			return err
		}
		if b := tx.Bucket([]byte("b")); b != nil {
			t.Error("Bucket after DeleteBucket in the same Update is not nil")
		}
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return fmt.Errorf("CreateBucket after DeleteBucket: %w", err)
		}
		if k, _ := b.Cursor().First(); k != nil {
			t.Errorf("a bucket deleted and made again still holds %s", k)
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if k, _ := tx.Bucket([]byte("b")).Cursor().First(); k != nil {
			t.Errorf("after commit the deleted bucket's key %s is back", k)
		}
		if v := tx.Bucket([]byte("b2")).Get([]byte("k")); string(v) != "vk" {
			t.Errorf("another bucket lost its key: %q", v)
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("b")) })
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("b")) != nil {
			t.Error("Bucket after a committed DeleteBucket is not nil")
		}
		return nil
	})
}

func testTxForEach(t *testing.T, db kv.DB) {
	names := [][]byte{[]byte("b"), []byte("a"), {0xff}, []byte("ab"), {0x00}}
	for _, n := range names {
		fill(t, db, string(n), n)
	}
	check := func(tx kv.Tx, want [][]byte) {
		var got [][]byte
		err := tx.ForEach(func(name []byte, b kv.Bucket) error {
			if v := b.Get(name); !bytes.Equal(v, append([]byte("v"), name...)) {
				t.Errorf("bucket %x from ForEach: Get = %q", name, v)
			}
			got = append(got, slices.Clone(name))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, "Tx.ForEach", got, want)
	}
	view(t, db, func(tx kv.Tx) error { check(tx, sorted(names)); return nil })
	update(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket([]byte("a")); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("aa"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("aa"), []byte("vaa")); err != nil {
			return err
		}
		check(tx, sorted([][]byte{{0x00}, []byte("aa"), []byte("ab"), []byte("b"), {0xff}}))
		return nil
	})
}

func testRollback(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("keep"))
	update(t, db, func(tx kv.Tx) error {
		_, err := tx.CreateBucket([]byte("new"))
		return err
	})
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("doomed"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("x"), []byte("y")); err != nil {
			return err
		}
		b.Cursor().First() // a range read part-way: an implementation buffering writes sends them now
		if err := tx.DeleteBucket([]byte("new")); err != nil {
			return err
		}
		bk := tx.Bucket([]byte("b"))
		if err := bk.Put([]byte("add"), []byte("x")); err != nil {
			return err
		}
		if err := bk.Delete([]byte("keep")); err != nil {
			return err
		}
		if _, err := bk.NextSequence(); err != nil {
			return err
		}
		return fmt.Errorf("refused: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update whose fn fails returned %v, want its error", err)
	}
	view(t, db, func(tx kv.Tx) error {
		if tx.Bucket([]byte("doomed")) != nil {
			t.Error("a bucket made in a rolled-back Update exists")
		}
		if tx.Bucket([]byte("new")) == nil {
			t.Error("a bucket deleted in a rolled-back Update is gone")
		}
		b := tx.Bucket([]byte("b"))
		sameKeys(t, "after a rolled-back Update", walk(b.Cursor(), true), [][]byte{[]byte("keep")})
		if s := b.Sequence(); s != 0 {
			t.Errorf("Sequence after a rolled-back NextSequence = %d, want 0", s)
		}
		return nil
	})
}

func testReadYourWrites(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("a"), []byte("c"), []byte("e"))
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for _, op := range []error{b.Put([]byte("b"), []byte("vb")), b.Put([]byte("c"), []byte("new")), b.Delete([]byte("e")), b.Put([]byte("f"), []byte("vf"))} {
			if op != nil {
				return op
			}
		}
		if v := b.Get([]byte("c")); string(v) != "new" {
			t.Errorf("Get after Put in the same Update = %q, want new", v)
		}
		if v := b.Get([]byte("e")); v != nil {
			t.Errorf("Get after Delete in the same Update = %q, want nil", v)
		}
		want := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("f")}
		sameKeys(t, "cursor in the same Update", walk(b.Cursor(), true), want)
		sameKeys(t, "cursor backward in the same Update", walk(b.Cursor(), false), reversed(want))
		if k, v := b.Cursor().Seek([]byte("c")); string(k) != "c" || string(v) != "new" {
			t.Errorf("Seek(c) in the same Update = %q %q, want c new", k, v)
		}
		// A Put while walking: the walk goes on past it and sees it written.
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if err := b.Put(k, []byte("rewritten")); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			if string(v) != "rewritten" {
				t.Errorf("%s = %q after the rewriting walk", k, v)
			}
			return nil
		})
	})
}

// testReadAfterWalk: values read in an earlier Update, then written, deleted, or dropped with their
// bucket in this one, read back as this Update left them after a walk (which a driver may take as
// the moment to send its buffered writes): no driver answers from what it knew before.
func testReadAfterWalk(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("a"), []byte("c"))
	fill(t, db, "gone", []byte("x"))
	view(t, db, func(tx kv.Tx) error {
		_, _ = tx.Bucket([]byte("b")).Get([]byte("a")), tx.Bucket([]byte("gone")).Get([]byte("x"))
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		_, _ = tx.Bucket([]byte("b")).Get([]byte("a")), tx.Bucket([]byte("gone")).Get([]byte("x"))
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		_ = b.Get([]byte("a"))
		if err := b.Put([]byte("a"), []byte("new")); err != nil {
			return err
		}
		if err := b.Delete([]byte("c")); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("gone")); err != nil {
			return err
		}
		g, err := tx.CreateBucket([]byte("gone"))
		if err != nil {
			return err
		}
		walk(b.Cursor(), true)
		walk(g.Cursor(), true)
		if v := b.Get([]byte("a")); string(v) != "new" {
			t.Errorf("Get after Put and a walk = %q, want new", v)
		}
		if v := b.Get([]byte("c")); v != nil {
			t.Errorf("Get after Delete and a walk = %q, want nil", v)
		}
		if v := g.Get([]byte("x")); v != nil {
			t.Errorf("Get in a bucket dropped and made again, after a walk = %q, want nil", v)
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("a")); string(v) != "new" {
			t.Errorf("the next Update reads %q, want new", v)
		}
		if v := tx.Bucket([]byte("gone")).Get([]byte("x")); v != nil {
			t.Errorf("the next Update reads %q in the bucket made again, want nil", v)
		}
		return nil
	})
}

// testViewSnapshot: a View that already read keeps seeing what it read while an Update commits.
func testViewSnapshot(t *testing.T, db kv.DB) {
	// bbolt's Update waits for open Views when its file must grow: a bucket written and deleted
	// first leaves free pages, so the Update inside the View below needs no growth.
	fill(t, db, "pad", numbered(2000)...)
	update(t, db, func(tx kv.Tx) error { return tx.DeleteBucket([]byte("pad")) })
	fill(t, db, "b", []byte("a"), []byte("b"))
	committed := make(chan error)
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		before := walk(b.Cursor(), true)
		go func() {
			committed <- db.Update(func(tx kv.Tx) error {
				b := tx.Bucket([]byte("b"))
				if err := b.Put([]byte("a"), []byte("changed")); err != nil {
					return err
				}
				if err := b.Put([]byte("c"), []byte("new")); err != nil {
					return err
				}
				return b.Delete([]byte("b"))
			})
		}()
		if err := <-committed; err != nil {
			t.Fatalf("Update beside a View: %v", err)
		}
		if v := b.Get([]byte("a")); string(v) != "va" {
			t.Errorf("View's Get after another Update committed = %q, want va", v)
		}
		sameKeys(t, "View's walk after another Update committed", walk(b.Cursor(), true), before)
		if tx.Bucket([]byte("b")).Get([]byte("c")) != nil {
			t.Error("View sees a key committed after its first read")
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		sameKeys(t, "a later View", walk(tx.Bucket([]byte("b")).Cursor(), true), [][]byte{[]byte("a"), []byte("c")})
		return nil
	})
}

func testViewRefusesWrites(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("k"))
	view(t, db, func(tx kv.Tx) error {
		if tx.Writable() {
			t.Error("a View's Tx says it is writable")
		}
		b := tx.Bucket([]byte("b"))
		c := b.Cursor()
		c.First()
		_, nextErr := b.NextSequence()
		_, createErr := tx.CreateBucket([]byte("new"))
		_, ifNotErr := tx.CreateBucketIfNotExists([]byte("new"))
		for name, err := range map[string]error{
			"Put": b.Put([]byte("k"), []byte("x")), "Delete": b.Delete([]byte("k")),
			"SetSequence": b.SetSequence(5), "NextSequence": nextErr, "Cursor.Delete": c.Delete(),
			"CreateBucket": createErr, "CreateBucketIfNotExists": ifNotErr, "DeleteBucket": tx.DeleteBucket([]byte("b")),
		} {
			if !errors.Is(err, kv.ErrTxNotWritable) {
				t.Errorf("%s in a View: %v, want ErrTxNotWritable", name, err)
			}
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		if !tx.Writable() {
			t.Error("an Update's Tx says it is not writable")
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "vk" {
			t.Errorf("after refused writes Get(k) = %q, want vk", v)
		}
		return nil
	})
}

// testWritersSerialize: concurrent read-increment-write Updates of one counter lose nothing.
func testWritersSerialize(t *testing.T, db kv.DB) {
	const writers, each = 8, 25
	fill(t, db, "b")
	together(t, db, writers, each, increment)
	wantCounter(t, db, writers*each)
}

// testFollows: Updates saying another follows (kv.Follows, where the Tx is one), from several
// goroutines at once, lose nothing and are seen by the next Update and by a View; the last one
// said so and none followed, and the database still takes writes.
func testFollows(t *testing.T, db kv.DB) {
	const writers, each = 4, 10
	fill(t, db, "b")
	together(t, db, writers, each, func(tx kv.Tx) error {
		if f, ok := tx.(kv.Follows); ok {
			f.UpdateFollows()
		}
		return increment(tx)
	})
	update(t, db, increment)
	wantCounter(t, db, writers*each+1)
}

// together runs each Updates of fn in each of writers goroutines at once.
func together(t *testing.T, db kv.DB, writers, each int, fn func(kv.Tx) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				if err := db.Update(fn); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func wantCounter(t *testing.T, db kv.DB, want int) {
	t.Helper()
	view(t, db, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("n")); Counter(v) != want {
			t.Errorf("counter = %d, want %d", Counter(v), want)
		}
		return nil
	})
}

// Counter reads the counter increment writes (absent is 0).
func Counter(v []byte) int {
	n := 0
	fmt.Sscan(string(v), &n)
	return n
}

func increment(tx kv.Tx) error {
	b := tx.Bucket([]byte("b"))
	return b.Put([]byte("n"), fmt.Append(nil, Counter(b.Get([]byte("n")))+1))
}

// Increment is one read-increment-write of counter "n" in bucket "b" (made if missing), for an
// implementation's own tests of writers on several handles.
func Increment(tx kv.Tx) error {
	if _, err := tx.CreateBucketIfNotExists([]byte("b")); err != nil {
		return err
	}
	return increment(tx)
}

// testManyWrites: an Update of more writes than a driver may hold before sending them, among reads
// of keys it wrote, deleted and never wrote, a bucket dropped and made again, and a walk, reads
// back its own writes; rolled back it leaves nothing, committed everything.
func testManyWrites(t *testing.T, db kv.DB) {
	fill(t, db, "b", []byte("old"))
	fill(t, db, "gone", []byte("x"))
	keys := numbered(300)
	write := func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for i, k := range keys {
			if err := b.Put(k, k); err != nil {
				return err
			}
			if i%3 == 0 && i > 0 {
				if err := b.Delete(keys[i-1]); err != nil {
					return err
				}
			}
			if i == 100 {
				if err := tx.DeleteBucket([]byte("gone")); err != nil {
					return err
				}
				if _, err := tx.CreateBucket([]byte("gone")); err != nil {
					return err
				}
			}
			if i%50 == 49 {
				if v := b.Get([]byte("old")); string(v) != "vold" {
					t.Errorf("after %d puts, a key written before reads %q, want vold", i+1, v)
				}
				if v := b.Get([]byte("never")); v != nil {
					t.Errorf("after %d puts, a key never written reads %q", i+1, v)
				}
				if v := b.Get(keys[i]); !bytes.Equal(v, keys[i]) {
					t.Errorf("after %d puts, the last one reads %q", i+1, v)
				}
			}
		}
		if v := tx.Bucket([]byte("gone")).Get([]byte("x")); v != nil {
			t.Errorf("a bucket dropped and made again holds x = %q", v)
		}
		return tx.Bucket([]byte("gone")).Put([]byte("y"), []byte("v"))
	}
	var want [][]byte
	for i, k := range keys {
		if i%3 != 2 || i == len(keys)-1 {
			want = append(want, k)
		}
	}
	want = sorted(append(want, []byte("old")))
	check := func(what string, wantB [][]byte, wantGone string) {
		view(t, db, func(tx kv.Tx) error {
			sameKeys(t, what, walk(tx.Bucket([]byte("b")).Cursor(), true), wantB)
			sameKeys(t, what+", bucket made again", walk(tx.Bucket([]byte("gone")).Cursor(), true), [][]byte{[]byte(wantGone)})
			return nil
		})
	}
	err := db.Update(func(tx kv.Tx) error {
		if err := write(tx); err != nil {
			return err
		}
		update := walk(tx.Bucket([]byte("b")).Cursor(), true)
		sameKeys(t, "walked in the Update", update, want)
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update whose fn fails returned %v, want its error", err)
	}
	check("after the rolled-back Update", [][]byte{[]byte("old")}, "x")
	update(t, db, write)
	check("after the committed Update", want, "y")
}

func testLargeValue(t *testing.T, db kv.DB) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	update(t, db, func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		if err := b.Put([]byte("big"), big); err != nil {
			return err
		}
		if !bytes.Equal(b.Get([]byte("big")), big) {
			t.Error("1 MiB value read back in its Update differs")
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("big")); !bytes.Equal(v, big) {
			t.Errorf("1 MiB value after commit: %d bytes, differs", len(v))
		}
		return nil
	})
}

func testManyKeys(t *testing.T, db kv.DB) {
	keys := numbered(10000)
	fill(t, db, "b", shuffled(keys)...)
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		sameKeys(t, "10,000 keys forward", walk(b.Cursor(), true), keys)
		sameKeys(t, "10,000 keys backward", walk(b.Cursor(), false), reversed(keys))
		if n := b.KeyN(); n != len(keys) {
			t.Errorf("KeyN = %d, want %d", n, len(keys))
		}
		return nil
	})
}

// testRewrites writes the same keys over and over in successive Updates, as the engine rewrites a
// job's rows moments after writing them, with values growing (a new version outgrows its old place)
// and every third key deleted and put back in turn: each key holds its last value, and only those.
func testRewrites(t *testing.T, db kv.DB) {
	keys := numbered(300)
	value := func(round, i int) []byte {
		return fmt.Appendf(nil, "%d:%d:%s", round, i, bytes.Repeat([]byte("x"), round*20))
	}
	const rounds = 12
	for r := range rounds {
		update(t, db, func(tx kv.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for i, k := range keys {
				if i%3 == r%3 {
					err = b.Delete(k)
				} else {
					err = b.Put(k, value(r, i))
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	view(t, db, func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		var want [][]byte
		for i, k := range keys {
			got := b.Get(k)
			if i%3 == (rounds-1)%3 {
				if got != nil {
					t.Errorf("key %s, deleted last, reads %.20q", k, got)
				}
				continue
			}
			want = append(want, k)
			if !bytes.Equal(got, value(rounds-1, i)) {
				t.Errorf("key %s reads %.20q, want its last value %.20q", k, got, value(rounds-1, i))
			}
		}
		sameKeys(t, "the keys left after the rewrites", walk(b.Cursor(), true), want)
		return nil
	})
}
