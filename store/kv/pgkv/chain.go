package pgkv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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

// commitChained sends writes, the generation's raise (bump) and COMMIT in one round trip, with the
// next Update's begin after them when follows; it returns the raised generation (-1 without bump).
// A failure rolls back whatever the connection holds, the chained begin included.
func (d *DB) commitChained(x *connTx, writes []statement, bump, follows bool) (int64, error) {
	ctx, cancel := d.ctx()
	follows = follows && !d.closing.Load()
	var check string
	var hasCheck bool
	if follows {
		check, hasCheck = d.checkSQL()
	}
	gen, p, err := d.sendCommit(ctx, x, writes, bump, follows, check, hasCheck)
	if err != nil || !follows {
		cancel()
		return gen, err
	}
	ch := &chained{x: &connTx{c: x.c}, p: p, cancel: cancel, check: check, hasCheck: hasCheck}
	x.kept = true // the connection goes on with the chained transaction
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

// sendCommit sends the commit's pipeline and reads it up to its first sync point; the pipeline is
// handed back open, its begin's answers unread, when follows.
func (d *DB) sendCommit(ctx context.Context, x *connTx, writes []statement, bump, follows bool, check string, hasCheck bool) (gen int64, p *pgconn.Pipeline, err error) {
	gen = -1
	all := writes
	if bump {
		all = append(all, statement{sql: bumpGen})
	}
	all = append(all, statement{sql: "COMMIT"})
	n := len(all)
	if follows {
		for _, s := range beginWriteStatements {
			all = append(all, statement{sql: s})
		}
	}
	sds, err := prepared(ctx, x, all)
	if err != nil {
		return gen, nil, d.abandon(x, err)
	}
	p = x.c.Conn().PgConn().StartPipeline(ctx)
	var eqb pgx.ExtendedQueryBuilder
	for i, s := range all {
		if err := eqb.Build(x.c.Conn().TypeMap(), sds[i], s.args); err != nil {
			_ = p.Close()
			return gen, nil, d.abandon(x, fmt.Errorf("pgkv: encoding %q: %w", s.sql, err))
		}
		p.SendQueryStatement(sds[i], eqb.ParamValues, eqb.ParamFormats, nil) // answers as text
		if i == n-1 {
			p.SendPipelineSync() // the commit is answered before the begin waits for the lock
		}
	}
	if follows {
		if hasCheck {
			p.SendQueryParams(check, nil, nil, nil, nil)
		}
		p.SendPipelineSync()
	}
	if err := p.Flush(); err != nil {
		return gen, nil, d.abandon(x, err)
	}
	gen, err = readCommit(p, len(writes), bump)
	x.done = err == nil
	if err != nil || !follows {
		err = errors.Join(err, p.Close())
		if err != nil {
			return gen, nil, d.abandon(x, err)
		}
	}
	return gen, p, err
}

// readCommit reads the commit's answers up to its sync point: n writes, the raise when bump, COMMIT.
func readCommit(p *pgconn.Pipeline, n int, bump bool) (int64, error) {
	gen := int64(-1)
	for range n {
		if _, err := result(p); err != nil {
			return gen, err
		}
	}
	if bump {
		r, err := result(p)
		if err == nil {
			gen, err = genOf(r)
		}
		if err != nil {
			return gen, err
		}
	}
	r, err := result(p)
	if err != nil {
		return gen, err
	}
	if r.CommandTag.String() != "COMMIT" {
		return gen, fmt.Errorf("pgkv: the commit answered %s: %w", r.CommandTag, pgx.ErrTxCommitRollback)
	}
	return gen, synced(p)
}

// result reads the next statement's answer whole.
func result(p *pgconn.Pipeline) (*pgconn.Result, error) {
	res, err := p.GetResults()
	if err != nil {
		return nil, err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return nil, fmt.Errorf("pgkv: the pipeline answered %T, not a statement's result", res)
	}
	r := rr.Read()
	return r, r.Err
}

func synced(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err == nil {
		if _, ok := res.(*pgconn.PipelineSync); !ok {
			err = fmt.Errorf("pgkv: the pipeline answered %T, not its sync point", res)
		}
	}
	return err
}

// abandon ends whatever transaction the connection holds after a failed commit (the chained
// begin's among them) and gives back err; a connection that cannot is closed.
func (d *DB) abandon(x *connTx, err error) error {
	x.done = true
	ctx, cancel := d.ctx()
	defer cancel()
	if _, rerr := x.c.Exec(ctx, "ROLLBACK"); rerr != nil {
		_ = x.c.Conn().Close(ctx)
	}
	return err
}

// prepared is each statement prepared on the connection, which keeps them (pgx's Prepare answers
// from memory a statement it prepared before), named by their text.
func prepared(ctx context.Context, x *connTx, stmts []statement) ([]*pgconn.StatementDescription, error) {
	sds := make([]*pgconn.StatementDescription, len(stmts))
	for i, s := range stmts {
		sd, err := x.c.Conn().Prepare(ctx, statementName(s.sql), s.sql)
		if err != nil {
			return nil, err
		}
		sds[i] = sd
	}
	return sds, nil
}

// names caches statementName: the statements are a handful of constants.
var names sync.Map // sql → name

func statementName(sql string) string {
	if n, ok := names.Load(sql); ok {
		return n.(string)
	}
	h := sha256.Sum256([]byte(sql))
	n := "pgkv_" + hex.EncodeToString(h[:8])
	names.Store(sql, n)
	return n
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
