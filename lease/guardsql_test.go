package lease

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"vmmpm/internal/pgtest"

	"github.com/jackc/pgx/v5"
)

// TestGuardSQLJudgesAsGuard: the guard sent as text in a transaction's first round trip (GuardSQL,
// GuardRows) says what Guard says of the same lane, held, claimed again, released, or unknown, and
// a queue key with a quote in it is written in safely.
func TestGuardSQLJudgesAsGuard(t *testing.T) {
	url := pgtest.URL(t)
	a := join(t, url, "a", Options{})
	l := Lane{Module: 1, Key: "it's a key"}
	if err := AddLane(context.Background(), a.pool, l); err != nil {
		t.Fatal(err)
	}
	held := claim(t, a)
	if len(held) != 1 {
		t.Fatalf("a holds %v, want the one lane", held)
	}
	h := held[0]
	compare := func(state string, h Held) {
		t.Helper()
		want := inTx(a.pool, func(tx pgx.Tx) error { return a.Guard(context.Background(), tx, h) })
		var got error
		err := inTx(a.pool, func(tx pgx.Tx) error {
			res, err := tx.Conn().PgConn().Exec(context.Background(), a.GuardSQL(h)).ReadAll()
			if err != nil {
				return err
			}
			got = a.GuardRows(h, res[0].Rows)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: the guard's statement failed: %v", state, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: GuardRows says %v, Guard says %v", state, got, want)
		}
		if state != "held" && got == nil {
			t.Errorf("%s: the guard let a write through", state)
		}
	}
	compare("held", h)
	compare("unknown lane", Held{Lane: Lane{Module: 1, Key: "none'); DROP TABLE lanes; --"}, Epoch: h.Epoch})
	execSQL(t, a, `UPDATE lanes SET epoch = epoch + 1`)
	compare("claimed again", h)
	execSQL(t, a, `UPDATE lanes SET epoch = epoch - 1, holder = NULL`)
	compare("released", h)
}

func execSQL(t *testing.T, h *host, sql string) {
	t.Helper()
	if _, err := h.pool.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// TestGuardAllSQLJudgesEachLane: the guard of several lanes in one statement lets a write through
// only while every lane is held under its epoch, and otherwise says what Guard says of the first
// lane (in key order) that is not.
func TestGuardAllSQLJudgesEachLane(t *testing.T) {
	url := pgtest.URL(t)
	a := join(t, url, "a", Options{})
	for _, l := range []Lane{{Module: 2, Key: "module"}, {Module: 1, Key: "module"}, {Module: AllModules, Key: "engine"}} {
		if err := AddLane(context.Background(), a.pool, l); err != nil {
			t.Fatal(err)
		}
	}
	held := claim(t, a)
	if len(held) != 3 {
		t.Fatalf("a holds %v, want the three lanes", held)
	}
	verdict := func(hs []Held) error {
		t.Helper()
		var got error
		err := inTx(a.pool, func(tx pgx.Tx) error {
			res, err := tx.Conn().PgConn().Exec(context.Background(), a.GuardAllSQL(hs)).ReadAll()
			if err != nil {
				return err
			}
			got = a.GuardAllRows(hs, res[0].Rows)
			return nil
		})
		if err != nil {
			t.Fatalf("the guard's statement failed: %v", err)
		}
		return got
	}
	if err := verdict(held); err != nil {
		t.Fatalf("all three held: %v", err)
	}
	execSQL(t, a, `UPDATE lanes SET epoch = epoch + 1 WHERE module_id = 2`)
	var two Held
	for _, h := range held {
		if h.Module == 2 {
			two = h
		}
	}
	want := inTx(a.pool, func(tx pgx.Tx) error { return a.Guard(context.Background(), tx, two) })
	if got := verdict(held); got == nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("module 2's lane claimed again: GuardAllRows says %v, Guard of that lane %v", got, want)
	}
	gone := append(slices.Clone(held), Held{Lane: Lane{Module: 9, Key: "module"}, Epoch: 1})
	execSQL(t, a, `UPDATE lanes SET epoch = epoch - 1 WHERE module_id = 2`)
	if got := verdict(gone); got == nil {
		t.Error("a lane the database does not know let the write through")
	}
}
