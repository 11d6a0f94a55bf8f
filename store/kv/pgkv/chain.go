package pgkv

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Chaining. A caller that runs Update after Update (the engine's committer, while changes keep
// coming) says so (kv.Follows), and the commit's round trip then carries the next transaction's
// begin too: after COMMIT, a sync point, then beginWrite's statements (and the write check's). The
// sync point makes the server answer the commit before it waits for the writer lock again, so the
// commit is acknowledged as soon as it is durable, never later. The begun transaction waits,
// parked, for the next Update of this handle, which reads its answers instead of beginning one;
// one nobody takes within chainWait is rolled back, so the writer lock is never held idle longer.

// chainWait is how long a parked transaction waits for its Update: far longer than a committer
// takes between two of them, short enough that a writer elsewhere hardly notices the lock held.
const chainWait = 20 * time.Millisecond

// chained is a transaction begun by the commit before it, its answers still to read.
type chained struct {
	x        *connTx
	p        *pgconn.Pipeline
	cancel   context.CancelFunc // the pipeline's context
	check    string             // the write check's statement sent with the begin (hasCheck)
	hasCheck bool
	reap     *time.Timer
	read     bool // its answers are read: gen, rows, err
	gen      int64
	rows     [][][]byte
	err      error
}

// commitChained commits t in one round trip (pipe.go), with the next Update's begin after it when
// t.follows; it returns the raised generation (-1 when nothing was written). A failure rolls back
// whatever the connection holds, the chained begin included.
func (d *DB) commitChained(t *tx, wrote bool) (int64, error) {
	follows := t.follows && !d.closing.Load()
	var check string
	var hasCheck bool
	if follows {
		check, hasCheck = d.checkSQL()
	}
	gen, err := t.sendCommit(wrote, follows, check, hasCheck)
	if err != nil || !follows {
		return gen, err
	}
	ch := &chained{x: &connTx{c: t.pg.c}, p: t.pipe.p, cancel: t.pipe.cancel, check: check, hasCheck: hasCheck}
	t.pipe = nil
	t.pg.kept = true // the connection goes on with the chained transaction
	d.park(ch)
	return gen, nil
}

// checkSQL is the write check's statement now, false when none is set.
func (d *DB) checkSQL() (string, bool) {
	c := d.check.Load()
	if c == nil {
		return "", false
	}
	sql, _ := (*c)()
	return sql, true
}

// park keeps ch for the next Update, reaping it after chainWait.
func (d *DB) park(ch *chained) {
	d.chainMu.Lock()
	old := d.next
	d.next = ch
	ch.reap = time.AfterFunc(chainWait, func() { d.reap(ch) })
	d.chainMu.Unlock()
	if old != nil { // not taken by the Update it was begun for: never happens with one writer lock
		d.discard(old)
	}
}

// reap rolls ch back unless an Update took it.
func (d *DB) reap(ch *chained) {
	d.chainMu.Lock()
	mine := d.next == ch
	if mine {
		d.next = nil
	}
	d.chainMu.Unlock()
	if mine {
		d.discard(ch)
	}
}

// takeChained is the parked transaction, begun; false when there is none, or it failed (it is
// gone then: the Update begins one of its own). A write check's verdict is judged here, by the
// check as it is now.
func (d *DB) takeChained() (*connTx, int64, bool, error) {
	d.chainMu.Lock()
	ch := d.next
	d.next = nil
	d.chainMu.Unlock()
	if ch == nil {
		return nil, 0, false, nil
	}
	ch.reap.Stop()
	var verdict func([][][]byte) error
	check, hasCheck := "", false
	if c := d.check.Load(); c != nil {
		check, verdict = (*c)()
		hasCheck = true
	}
	gen, rows, err := ch.answers()
	if err != nil || hasCheck != ch.hasCheck || check != ch.check {
		d.discard(ch)
		return nil, 0, false, nil
	}
	if verdict != nil {
		if verr := verdict(rows); verr != nil {
			ctx, cancel := d.ctx()
			ch.x.release(ctx)
			cancel()
			return nil, 0, false, &checkFailed{verr}
		}
	}
	return ch.x, gen, true, nil
}

// answers reads the begin's answers once and ends the pipeline: the generation, the check's rows.
func (ch *chained) answers() (int64, [][][]byte, error) {
	if !ch.read {
		ch.read = true
		ch.gen, ch.rows, ch.err = ch.readBegin()
		ch.err = errors.Join(ch.err, ch.p.Close())
		ch.cancel()
	}
	return ch.gen, ch.rows, ch.err
}

func (ch *chained) readBegin() (int64, [][][]byte, error) {
	var gen int64
	for i := range beginWriteStatements {
		r, err := result(ch.p)
		if err != nil {
			return 0, nil, err
		}
		if i == len(beginWriteStatements)-1 {
			if gen, err = genOf(r); err != nil {
				return 0, nil, err
			}
		}
	}
	var rows [][][]byte
	if ch.hasCheck {
		r, err := result(ch.p)
		if err != nil {
			return 0, nil, err
		}
		rows = r.Rows
	}
	return gen, rows, synced(ch.p)
}

// discard rolls ch back and gives its connection back; one in a state unknown is closed.
func (d *DB) discard(ch *chained) {
	_, _, err := ch.answers()
	ctx, cancel := d.ctx()
	defer cancel()
	if err != nil {
		_ = ch.x.c.Conn().Close(ctx)
		ch.x.done = true
	}
	ch.x.release(ctx)
}

// dropChained rolls back a parked transaction at Close.
func (d *DB) dropChained() {
	d.closing.Store(true)
	d.chainMu.Lock()
	ch := d.next
	d.next = nil
	d.chainMu.Unlock()
	if ch != nil {
		ch.reap.Stop()
		d.discard(ch)
	}
}
