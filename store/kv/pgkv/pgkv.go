// Package pgkv is kv.DB on PostgreSQL (pgx v5), for several hosts on one database: two tables in
// the connection's schema (kv_buckets, kv_pairs; bytea compares bytewise, as bbolt orders keys),
// writers one at a time through an advisory lock, readers on a REPEATABLE READ snapshot.
//
// Round trips are what cost here, so an Update buffers its Puts and Deletes (its own Gets read the
// buffer first) and sends them in one batch before any range read and at commit; a bucket's
// sequence is read once per transaction and written back at commit; cursors fetch rows in batches.
package pgkv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"vmmpm/store/kv"
)

// pairsFillFactor is kv_pairs' fillfactor (schema), in percent.
const pairsFillFactor = "70"

// Defaults for Options.
const (
	DefaultStatementTimeout = 30 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
)

// idleInTx is how long the server lets a session sit idle inside a transaction before it ends it.
// vmmpm's transactions are a few round trips with no pause between them, so a session idle that
// long belongs to a process that froze (SIGSTOP, a VM paused) mid-transaction: ending it frees the
// writer lock and the lane row it holds, which would otherwise keep every other host's engine from
// taking over (or writing) until the frozen one wakes. The one wait inside a transaction is the
// wizard's keyring write (the keyring's timeout, 5 s), so this is twice that, and below the engine
// lease's default 15 s, so a takeover is not delayed past the lease.
const idleInTx = 10 * time.Second

// grace is how much longer than the server's statement timeout the client waits for an answer:
// past it the server is taken as gone (a dead host never closes its connections).
const grace = 5 * time.Second

// Options tune the pool; zero values take the defaults.
type Options struct {
	// StatementTimeout bounds every statement, waiting for the writer lock included.
	StatementTimeout time.Duration
	// ConnectTimeout bounds each new connection.
	ConnectTimeout time.Duration
	// MaxConns is the pool's size (pgxpool's default when 0).
	MaxConns int32
}

// DB is a kv.DB on a pgx pool.
type DB struct {
	pool     *pgxpool.Pool
	o        Options
	where    string                     // host:port, for sentences
	password string                     // redacted from every sentence
	c        cache                      // the writer's (cache.go)
	check    atomic.Pointer[WriteCheck] // SetWriteCheck

	chainMu sync.Mutex
	next    *chained    // the transaction the last commit began (chain.go), nil none
	closing atomic.Bool // Close began: no commit chains

	channel string   // the schema's NOTIFY channel (notify.go)
	tok     string   // names the handle in its NOTIFYs' payload, for WatchOthers (notify.go)
	notif   notifier // NOTIFYs after commits that wrote
}

var _ kv.DB = (*DB)(nil)

// Open connects to the PostgreSQL at url and creates the two tables in its schema when missing.
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &Error{msg: "the database address is not a PostgreSQL address pgx can read; write it as postgres://user:password@host:port/database in --db or VMMPM_DB", err: errors.New("unparsable address")}
	}
	opt.StatementTimeout = orDefault(opt.StatementTimeout, DefaultStatementTimeout)
	opt.ConnectTimeout = orDefault(opt.ConnectTimeout, DefaultConnectTimeout)
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = opt.ConnectTimeout
	}
	cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(opt.StatementTimeout.Milliseconds(), 10)
	cc.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(idleInTx.Milliseconds(), 10)
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	d := &DB{o: opt, where: net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))), password: cc.Password,
		tok: strconv.FormatUint(rand.Uint64(), 36)}
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, d.explain(err, cc.User, cc.Database)
	}
	if err := d.migrate(ctx); err != nil {
		d.pool.Close()
		return nil, d.explain(err, cc.User, cc.Database)
	}
	return d, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// schema runs as one implicit transaction (a multi-statement simple query); the advisory lock keeps
// hosts opening together from racing on CREATE TABLE IF NOT EXISTS. Locks are per database, so
// the schema's name is in their keys: deployments (and tests) in other schemas never wait on them.
//
// kv_pairs leaves room in each page (pairsFillFactor) because the engine rewrites a job's rows
// moments after writing them: a new version that fits in the old one's page is a HOT update,
// with no index entry to add, and an upsert of a few hundred such rows costs about half as much
// (bench/riverpg's README). A table made before is altered once, by its owner (another role opens
// it as it is); only pages written from then on keep the room.
const schema = `
SELECT pg_advisory_xact_lock(hashtextextended('vmmpm.kv.schema.' || current_schema(), 0));
CREATE TABLE IF NOT EXISTS kv_buckets (name bytea PRIMARY KEY, seq bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS kv_pairs (
	bucket bytea NOT NULL,
	key bytea NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (bucket, key)
) WITH (fillfactor = ` + pairsFillFactor + `);
DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = 'kv_pairs'::regclass
			AND 'fillfactor=` + pairsFillFactor + `' = ANY (reloptions)) THEN
		ALTER TABLE kv_pairs SET (fillfactor = ` + pairsFillFactor + `);
	END IF;
EXCEPTION WHEN insufficient_privilege THEN -- a role that may write but does not own the table
	NULL;
END $$;
CREATE TABLE IF NOT EXISTS kv_meta (id int PRIMARY KEY, gen bigint NOT NULL);
INSERT INTO kv_meta (id, gen) VALUES (1, 0) ON CONFLICT DO NOTHING;`

func (d *DB) migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.ConnectTimeout+d.o.StatementTimeout)
	defer cancel()
	if _, err := d.pool.Exec(ctx, schema); err != nil {
		return err
	}
	var current string
	err := d.pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&current)
	d.channel = channelFor(current)
	return err
}

// Pool is the pool under the DB, for packages keeping tables of their own beside it (lease).
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes the pool.
func (d *DB) Close() error {
	d.dropChained()
	d.stopNotifier()
	d.pool.Close()
	return nil
}

// View runs fn on one snapshot.
func (d *DB) View(fn func(kv.Tx) error) error { return d.run(false, fn) }

// Update runs fn as the only writer, committed only if fn returns nil and no read failed.
func (d *DB) Update(fn func(kv.Tx) error) error { return d.run(true, fn) }

func (d *DB) run(writable bool, fn func(kv.Tx) error) error {
	ctx, cancel := d.ctx()
	pg, gen, err := d.begin(ctx, writable)
	cancel()
	var verdict *checkFailed
	if errors.As(err, &verdict) {
		return verdict.err
	}
	if err != nil {
		return d.failed(err, writable)
	}
	t := &tx{db: d, pg: pg, writable: writable, buckets: map[string]*bucket{}, gen0: gen}
	defer func() { // also when fn panics
		t.dropPipe()
		ctx, cancel := d.ctx()
		pg.release(ctx)
		cancel()
	}()
	if writable {
		d.c.at(gen)
	}
	ferr := fn(t)
	if ferr == nil && writable {
		t.commit()
	}
	if t.err != nil {
		return d.failed(t.err, writable)
	}
	return ferr
}

// ctx bounds one statement: the server's timeout plus grace for its answer to arrive.
func (d *DB) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.o.StatementTimeout+grace)
}

// SQL is the PostgreSQL transaction under a pgkv Tx, with the Tx's pending writes sent, so another
// package (lease's fencing) runs its statements in the same transaction; false for any other Tx.
func SQL(t kv.Tx) (pgx.Tx, bool) {
	x, ok := t.(*tx)
	if !ok {
		return nil, false
	}
	x.flush()
	return x.pg, true
}

// errKeyRequired is bbolt's refusal of an empty key.
var errKeyRequired = errors.New("pgkv: a key cannot be empty")

func notWritable(op string) error {
	return fmt.Errorf("pgkv: %s in a read-only transaction: %w", op, kv.ErrTxNotWritable)
}
