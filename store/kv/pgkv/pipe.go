package pgkv

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A writer's statements go through a pipeline (pgconn's): sent without waiting for their answers,
// which are read together, at commit or before a statement whose answer the transaction needs, so
// the commit costs one round trip, and so does a flush. (Sending the writes ahead while the
// Update's function still runs, 64 or 128 rows at a time, was tried: the engine's benchmark was
// slower, the server spending more CPU on the extra statements; bench/riverpg's README.)

// pipe is a transaction's open pipeline.
type pipe struct {
	p      *pgconn.Pipeline
	cancel context.CancelFunc // the pipeline's context
	unread int                // statements sent, their answers not read
}

// pipelined is every statement sent in a pipeline, prepared on each connection before its first
// pipeline (a pipeline cannot prepare one in the middle).
var pipelined = append([]string{sqlDropPairs, sqlDropBuckets, sqlNewBuckets, sqlSeqs, sqlDeletes, sqlPuts,
	bumpGen, "COMMIT"}, beginWriteStatements...)

// open starts the pipeline when none is open; false when the tx failed.
func (t *tx) open() bool {
	if t.err != nil {
		return false
	}
	if t.pipe != nil {
		return true
	}
	ctx, cancel := t.db.ctx()
	for _, sql := range pipelined {
		if _, err := t.pg.c.Conn().Prepare(ctx, sql, sql); err != nil { // from memory once prepared
			cancel()
			t.fail(err)
			return false
		}
	}
	t.pipe = &pipe{p: t.pg.c.Conn().PgConn().StartPipeline(ctx), cancel: cancel}
	return true
}

// send queues stmts (prepared: pipelined) in the pipeline, their arguments encoded here (arrays.go),
// their answers as text.
func (t *tx) send(stmts []statement) error {
	c := t.pg.c.Conn()
	for _, s := range stmts {
		sd, err := c.Prepare(context.Background(), s.sql, s.sql) // from memory: open prepared it
		var values [][]byte
		if err == nil {
			values, err = encodeArgs(s.args)
		}
		if err != nil {
			return fmt.Errorf("pgkv: sending %q: %w", s.sql, err)
		}
		t.pipe.p.SendQueryStatement(sd, values, binaryFormats[:len(values)], nil)
		t.pipe.unread++
	}
	return nil
}

// sendPending sends the pending writes, not waiting for their answers.
func (t *tx) sendPending() {
	stmts := t.pending()
	if len(stmts) == 0 || !t.open() {
		return
	}
	t.flushed = true
	if err := t.send(stmts); err != nil {
		t.failPipe(err)
		return
	}
	if err := t.pipe.p.Flush(); err != nil {
		t.failPipe(err)
	}
}

// settle reads every answer the pipeline owes and closes it, so the connection takes statements
// again; the first error fails the tx.
func (t *tx) settle() {
	if t.pipe == nil {
		return
	}
	pp := t.pipe
	pp.p.SendPipelineSync()
	err := pp.p.Flush()
	for ; err == nil && pp.unread > 0; pp.unread-- {
		_, err = result(pp.p)
	}
	if err == nil {
		err = synced(pp.p)
	}
	t.closePipe()
	t.fail(err)
}

// failPipe fails the tx with err and drops the pipeline (the transaction is rolled back).
func (t *tx) failPipe(err error) {
	t.fail(err)
	t.closePipe()
}

// dropPipe ends a pipeline left open by an Update that does not commit, reading what it owes, so
// the connection is rolled back and kept.
func (t *tx) dropPipe() {
	if t.pipe != nil {
		t.pipe.p.SendPipelineSync()
		_ = t.pipe.p.Flush()
	}
	t.closePipe()
}

// closePipe closes the pipeline, reading what it still owes up to its last sync point (one with
// statements after it closes its connection, which the pool then drops).
func (t *tx) closePipe() {
	if t.pipe == nil {
		return
	}
	_ = t.pipe.p.Close()
	t.pipe.cancel()
	t.pipe = nil
}

// sendCommit sends the pending writes, the generation's raise (wrote), COMMIT and, when follows,
// the next Update's begin after a sync point, and reads the answers up to that point; the
// pipeline is left open in t.pipe, the begin's answers unread, when follows.
func (t *tx) sendCommit(wrote, follows bool, check string, hasCheck bool) (int64, error) {
	stmts := t.pending()
	if !t.open() {
		return -1, t.err
	}
	pp := t.pipe
	writes := pp.unread + len(stmts) // answers before the raise's and COMMIT's
	if wrote {
		stmts = append(stmts, statement{sql: bumpGen})
	}
	stmts = append(stmts, statement{sql: "COMMIT"})
	err := t.send(stmts)
	if err == nil {
		pp.p.SendPipelineSync() // the commit is answered before the begin waits for the writer lock
		if follows {
			err = t.send(beginStatements)
			if hasCheck {
				pp.p.SendQueryParams(check, nil, nil, nil, nil)
			}
			pp.p.SendPipelineSync()
		}
	}
	if err == nil {
		err = pp.p.Flush()
	}
	gen := int64(-1)
	if err == nil {
		gen, err = readCommit(pp.p, writes, wrote)
	}
	pp.unread = 0 // the begin's answers are the chained transaction's to read
	t.pg.done = err == nil
	if err != nil || !follows {
		t.closePipe()
		if err != nil {
			return gen, t.db.abandon(t.pg, err)
		}
	}
	return gen, nil
}

// beginStatements are beginWriteStatements to send.
var beginStatements = func() []statement {
	s := make([]statement, len(beginWriteStatements))
	for i, sql := range beginWriteStatements {
		s[i] = statement{sql: sql}
	}
	return s
}()

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

// synced reads the answer to a sync point.
func synced(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err == nil {
		if _, ok := res.(*pgconn.PipelineSync); !ok {
			err = fmt.Errorf("pgkv: the pipeline answered %T, not its sync point", res)
		}
	}
	return err
}

// abandon ends whatever transaction the connection holds after a failed commit (a chained
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
