package pgkv_test

import (
	"fmt"
	"testing"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
)

func benchDB(b *testing.B, keys int) kv.DB {
	db := open(b, pgtest.URL(b))
	err := db.Update(func(tx kv.Tx) error {
		bk, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range keys {
			if err := bk.Put(fmt.Appendf(nil, "k%05d", i), make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// runUpdate runs Updates of fn one after another, each saying another follows (kv.Follows) when
// follows.
func runUpdate(b *testing.B, db kv.DB, follows bool, fn func(bk kv.Bucket, i int) error) {
	b.Helper()
	i := 0
	for b.Loop() {
		err := db.Update(func(tx kv.Tx) error {
			if follows {
				tx.(kv.Follows).UpdateFollows()
			}
			return fn(tx.Bucket([]byte("b")), i)
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUpdateFollows: Updates of 10 puts one after another, each saying another follows
// (kv.Follows) as the engine's committer does while changes keep coming, or not.
func BenchmarkUpdateFollows(b *testing.B) {
	value := make([]byte, 200)
	for _, follows := range []bool{false, true} {
		b.Run(fmt.Sprintf("follows=%v", follows), func(b *testing.B) {
			runUpdate(b, benchDB(b, 1000), follows, func(bk kv.Bucket, i int) error {
				for j := range 10 {
					if err := bk.Put(fmt.Appendf(nil, "k%05d", (i*10+j)%1000), value); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// BenchmarkUpdate: a typical engine transaction (10 gets, 10 puts) and a bulk one (500 puts).
func BenchmarkUpdate(b *testing.B) {
	value := make([]byte, 200)
	b.Run("10puts10gets", func(b *testing.B) {
		runUpdate(b, benchDB(b, 1000), false, func(bk kv.Bucket, i int) error {
			for j := range 10 {
				k := fmt.Appendf(nil, "k%05d", (i*10+j)%1000)
				if bk.Get(k) == nil {
					return fmt.Errorf("%s missing", k)
				}
				if err := bk.Put(k, value); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("500puts", func(b *testing.B) {
		runUpdate(b, benchDB(b, 0), false, func(bk kv.Bucket, i int) error {
			for j := range 500 {
				if err := bk.Put(fmt.Appendf(nil, "p%08d", i*500+j), value); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// BenchmarkView: one Get, and a walk of 1,000 keys.
func BenchmarkView(b *testing.B) {
	db := benchDB(b, 1000)
	view := func(b *testing.B, fn func(bk kv.Bucket) error) {
		for b.Loop() {
			if err := db.View(func(tx kv.Tx) error { return fn(tx.Bucket([]byte("b"))) }); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("get", func(b *testing.B) {
		view(b, func(bk kv.Bucket) error {
			if bk.Get([]byte("k00500")) == nil {
				return fmt.Errorf("k00500 missing")
			}
			return nil
		})
	})
	b.Run("walk1000", func(b *testing.B) {
		view(b, func(bk kv.Bucket) error {
			n := 0
			c := bk.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
			}
			if n != 1000 {
				return fmt.Errorf("walked %d keys", n)
			}
			return nil
		})
	})
}
