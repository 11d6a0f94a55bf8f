package pgkv

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Begin statements, sent as one simple query so a transaction begins in one round trip with the
// generation it sees (cache.go) read in it. A writer takes the writer lock at once, as bbolt's
// single writer: every Update reads what the previous one committed and decides on it, and only
// one writer at a time (in any process, on any host) makes that safe without SERIALIZABLE's
// retries. READ COMMITTED, because each statement then sees the commits that came before the lock
// was granted (the generation's read among them); a REPEATABLE READ snapshot would be taken before
// the wait and miss them. A reader's generation read takes its snapshot, so a View sees the
// database as of its start.
// The writer's begin is also sent statement by statement, after a commit that chains (chain.go).
var (
	beginWriteStatements = []string{
		"BEGIN ISOLATION LEVEL READ COMMITTED",
		"SELECT pg_advisory_xact_lock(hashtextextended('vmmpm.kv.writer.' || current_schema(), 0))",
		"SELECT gen FROM kv_meta WHERE id = 1",
	}
	beginWrite = strings.Join(beginWriteStatements, ";\n")
)

const beginRead = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT gen FROM kv_meta WHERE id = 1`

// connTx is a transaction on a pool connection, begun by beginWrite or beginRead: pgx's own Tx
// drops what its begin statement answers, which would cost a round trip more per transaction.
type connTx struct {
	c    *pgxpool.Conn
	done bool // committed or rolled back
	kept bool // the connection went on to a chained transaction (chain.go): not released
}

var _ pgx.Tx = (*connTx)(nil)

// WriteCheck gives the statement every Update runs in the round trip that begins it, after the
// writer lock (lease's fencing: an engine's writes end at once when its lease did), with the verdict
// on its rows (text values): an error fails the Update, before its function runs, with that error.
type WriteCheck func() (sql string, verdict func(rows [][][]byte) error)

// SetWriteCheck makes c run at the begin of every later Update (nil: none).
func (d *DB) SetWriteCheck(c WriteCheck) {
	if c == nil {
		d.check.Store(nil)
		return
	}
	d.check.Store(&c)
}

// checkFailed is a WriteCheck's verdict, handed back as it is (not as a sentence about PostgreSQL).
type checkFailed struct{ err error }

func (c *checkFailed) Error() string { return c.err.Error() }

// begin acquires a connection and begins a transaction on it, returning the generation it sees.
func (d *DB) begin(ctx context.Context, writable bool) (*connTx, int64, error) {
	if writable {
		if x, gen, ok, err := d.takeChained(); ok || err != nil {
			return x, gen, err
		}
	}
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	sql, genAt := beginRead, 1
	var verdict func([][][]byte) error
	if writable {
		sql, genAt = beginWrite, len(beginWriteStatements)-1
		if check := d.check.Load(); check != nil {
			var more string
			more, verdict = (*check)()
			sql += ";\n" + more
		}
	}
	res, err := c.Conn().PgConn().Exec(ctx, sql).ReadAll()
	var gen int64
	if err == nil {
		gen, err = genOf(res[genAt])
	}
	if err != nil {
		// Whatever state the connection is in, it goes: Release destroys a closed connection.
		_ = c.Conn().Close(context.Background())
		c.Release()
		return nil, 0, err
	}
	x := &connTx{c: c}
	if verdict != nil {
		if verr := verdict(res[genAt+1].Rows); verr != nil {
			x.release(ctx)
			return nil, 0, &checkFailed{verr}
		}
	}
	return x, gen, nil
}

// genOf is the generation in the begin statements' answer r.
func genOf(r *pgconn.Result) (int64, error) {
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		return 0, errors.New("pgkv: kv_meta has no generation row")
	}
	return strconv.ParseInt(string(r.Rows[0][0]), 10, 64)
}

// release ends the transaction if still open and gives the connection back (the pool destroys one
// left inside a transaction or closed).
func (x *connTx) release(ctx context.Context) {
	if x.kept {
		return
	}
	if !x.done {
		_ = x.Rollback(ctx)
	}
	x.c.Release()
}

func (x *connTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("pgkv: nested transactions are not supported")
}

// Commit commits; a transaction a failed statement had aborted answers ROLLBACK, an error here.
func (x *connTx) Commit(ctx context.Context) error {
	if x.done {
		return pgx.ErrTxClosed
	}
	tag, err := x.c.Exec(ctx, "COMMIT")
	x.done = true
	if err == nil && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

func (x *connTx) Rollback(ctx context.Context) error {
	if x.done {
		return pgx.ErrTxClosed
	}
	x.done = true
	_, err := x.c.Exec(ctx, "ROLLBACK")
	return err
}

func (x *connTx) CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return x.c.CopyFrom(ctx, t, cols, src)
}
func (x *connTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return x.c.SendBatch(ctx, b)
}
func (x *connTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }
func (x *connTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return x.c.Conn().Prepare(ctx, name, sql)
}
func (x *connTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return x.c.Exec(ctx, sql, args...)
}
func (x *connTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return x.c.Query(ctx, sql, args...)
}
func (x *connTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return x.c.QueryRow(ctx, sql, args...)
}
func (x *connTx) Conn() *pgx.Conn { return x.c.Conn() }
