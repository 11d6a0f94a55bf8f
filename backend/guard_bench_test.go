package backend

import (
	"context"
	"os"
	"testing"
	"time"

	"vmmpm/internal/pgtest"
	"vmmpm/lease"
	"vmmpm/store"
	"vmmpm/store/kv/pgkv"
)

// BenchmarkGuardedUpdate: one small Update (a record saved) fenced by the engine lease, with the
// guard as its own statement inside the transaction (how it was) and sent in the round trip that
// begins it (pgkv's WriteCheck, how it is), alternating; ratio = in-tx time ÷ at-begin time. On
// loopback a round trip is tens of microseconds; across a network it is the whole difference.
func BenchmarkGuardedUpdate(b *testing.B) {
	url := pgtest.URL(b)
	db, err := store.Open(url, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	pg := db.KV().(*pgkv.DB)
	ctx := context.Background()
	le, err := lease.Join(ctx, pg.Pool(), lease.Options{Host: "bench", PID: os.Getpid(), Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := lease.AddLane(ctx, pg.Pool(), engineLane); err != nil {
		b.Fatal(err)
	}
	held, err := le.Claim(ctx)
	if err != nil || len(held) != 1 {
		b.Fatalf("claim: %v, %v", held, err)
	}
	h := held[0]
	dc := &store.DataCenter{Name: "dc"}
	save := func(tx *store.Tx) error { return tx.Put(dc) }
	inTx := func(tx *store.Tx) error {
		ptx, _ := pgkv.SQL(tx.KV())
		if err := le.Guard(ctx, ptx, h); err != nil {
			return err
		}
		return save(tx)
	}
	atBegin := pgkv.WriteCheck(func() (string, func([][][]byte) error) {
		return le.GuardSQL(h), func(rows [][][]byte) error { return le.GuardRows(h, rows) }
	})
	var old, now time.Duration
	for range b.N {
		pg.SetWriteCheck(nil)
		start := time.Now()
		if err := db.Update(inTx); err != nil {
			b.Fatal(err)
		}
		old += time.Since(start)
		pg.SetWriteCheck(atBegin)
		start = time.Now()
		if err := db.Update(save); err != nil {
			b.Fatal(err)
		}
		now += time.Since(start)
	}
	b.ReportMetric(float64(old.Microseconds())/float64(b.N), "in-tx-µs/op")
	b.ReportMetric(float64(now.Microseconds())/float64(b.N), "at-begin-µs/op")
	b.ReportMetric(old.Seconds()/now.Seconds(), "ratio")
}
