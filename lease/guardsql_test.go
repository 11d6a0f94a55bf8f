package lease

import (
	"context"
	"fmt"
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
