package pgkv

import (
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"vmmpm/store/kv"
)

// tx is one transaction. Only the writer holds pending writes; being the only writer, what it
// buffered plus what the database holds is the whole truth.
type tx struct {
	db       *DB
	pg       *connTx
	writable bool
	// err is the first failed statement: reads return nil from then on, and View and Update
	// return it (Update rolls back), so nothing decided on a missing value survives.
	err     error
	buckets map[string]*bucket // every bucket this tx looked up, existing or not
	dirty   bool               // something waits for flush
	gen     uint64             // raised by each buffered write: cursors' fetched rows are stale
	// The cache (cache.go), at the generation the transaction sees (gen0); what is read
	// before the first flush is committed state and goes into it, what is read after may be this
	// transaction's own uncommitted writes and does not; w is every write, applied at commit.
	flushed bool
	gen0    int64
	w       written
	follows bool  // UpdateFollows
	pipe    *pipe // statements sent, their answers unread (pipe.go)
}

// bucket is a bucket's state in one tx; the handle kv.Tx hands out.
type bucket struct {
	tx       *tx
	name     []byte
	exists   bool
	created  bool // made in this tx, its row not written yet
	dropped  bool // its row and pairs in the database are to be deleted
	seq      uint64
	seqDirty bool
	pending  map[string][]byte // key → value to write; a nil value deletes
}

func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// query runs sql for its rows, each handed to scan; false when it failed (t.err set).
func (t *tx) query(scan func(pgx.Rows) error, sql string, args ...any) bool {
	t.settle()
	if t.err != nil {
		return false
	}
	ctx, cancel := t.db.ctx()
	defer cancel()
	rows, err := t.pg.Query(ctx, sql, args...)
	if err == nil {
		for rows.Next() && err == nil {
			err = scan(rows)
		}
		rows.Close()
		err = errors.Join(err, rows.Err())
	}
	t.fail(err)
	return t.err == nil
}

func (t *tx) lookup(name []byte) *bucket {
	if b, ok := t.buckets[string(name)]; ok {
		return b
	}
	b := &bucket{tx: t, name: slices.Clone(name)}
	if c, ok := t.db.c.bucket(t.gen0, string(name)); ok {
		b.exists, b.seq = c.exists, c.seq
		t.buckets[string(name)] = b
		return b
	}
	var seq int64
	ok := t.query(func(r pgx.Rows) error { b.exists = true; return r.Scan(&seq) },
		`SELECT seq FROM kv_buckets WHERE name = $1`, name)
	if !ok {
		return b // not cached: the tx is failing anyway
	}
	b.seq = uint64(seq)
	t.buckets[string(name)] = b
	if !t.flushed {
		t.db.c.setBucket(t.gen0, string(name), cachedBucket{exists: b.exists, seq: b.seq})
	}
	return b
}

// Bucket is nil for a missing bucket; once the tx failed it is a handle whose reads return nil
// and whose writes return the failure, so code that knows its buckets exist does not panic on
// the way to the error View or Update returns.
func (t *tx) Bucket(name []byte) kv.Bucket {
	if b := t.lookup(name); b.exists || t.err != nil {
		return b
	}
	return nil
}

func (t *tx) CreateBucket(name []byte) (kv.Bucket, error) {
	if !t.writable {
		return nil, notWritable("CreateBucket")
	}
	b := t.lookup(name)
	if t.err != nil {
		return nil, t.err
	}
	if b.exists {
		return nil, kv.ErrBucketExists
	}
	b.exists, b.created, b.seq, b.seqDirty = true, true, 0, false
	t.w.of(b)
	t.changed()
	return b, nil
}

func (t *tx) CreateBucketIfNotExists(name []byte) (kv.Bucket, error) {
	if !t.writable {
		return nil, notWritable("CreateBucketIfNotExists")
	}
	if b := t.lookup(name); b.exists {
		return b, nil
	}
	return t.CreateBucket(name)
}

func (t *tx) DeleteBucket(name []byte) error {
	if !t.writable {
		return notWritable("DeleteBucket")
	}
	b := t.lookup(name)
	if t.err != nil {
		return t.err
	}
	if !b.exists {
		return kv.ErrBucketNotFound
	}
	// Made in this tx and not flushed: the database holds nothing of it, unless an earlier
	// incarnation is already marked dropped.
	b.dropped = b.dropped || !b.created
	b.exists, b.created, b.seq, b.seqDirty, b.pending = false, false, 0, false, nil
	x := t.w.of(b)
	x.dropped, x.pairs = true, map[string][]byte{}
	t.changed()
	return nil
}

func (t *tx) ForEach(fn func(name []byte, b kv.Bucket) error) error {
	t.flush()
	var names [][]byte
	var seqs []int64
	t.query(func(r pgx.Rows) error {
		var n []byte
		var s int64
		err := r.Scan(&n, &s)
		names, seqs = append(names, n), append(seqs, s)
		return err
	}, `SELECT name, seq FROM kv_buckets ORDER BY name`)
	if t.err != nil {
		return t.err
	}
	for i, n := range names {
		b, ok := t.buckets[string(n)]
		if !ok {
			b = &bucket{tx: t, name: n, exists: true, seq: uint64(seqs[i])}
			t.buckets[string(n)] = b
		}
		if err := fn(n, b); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Writable() bool { return t.writable }

// Generation is the generation the transaction began at (kv.Generational): read after the writer
// lock, so a write transaction commits as the next one.
func (t *tx) Generation() uint64 { return uint64(t.gen0) }

func (t *tx) changed() {
	t.dirty = true
	t.gen++
}

// flush sends every pending write and waits for their answers (before a read the pending writes
// may change, and before another package's statements), in one round trip.
func (t *tx) flush() {
	t.sendPending()
	t.settle()
}

// pendingWrites is every bucket's pending writes gathered into a few statements, so a commit costs
// the server as many statements whether it touched two buckets or ten.
type pendingWrites struct {
	dropped, created, seqNames [][]byte
	createdSeqs, seqs          []int64
	goneB, goneK               [][]byte
	putB, putK, putV           [][]byte
}

// take adds the bucket's pending writes and takes them as written.
func (w *pendingWrites) take(b *bucket) {
	if b.dropped {
		w.dropped = append(w.dropped, b.name)
	}
	switch {
	case b.created:
		w.created, w.createdSeqs = append(w.created, b.name), append(w.createdSeqs, int64(b.seq))
	case b.seqDirty:
		w.seqNames, w.seqs = append(w.seqNames, b.name), append(w.seqs, int64(b.seq))
	}
	for k, v := range b.pending {
		if v == nil {
			w.goneB, w.goneK = append(w.goneB, b.name), append(w.goneK, []byte(k))
		} else {
			w.putB, w.putK, w.putV = append(w.putB, b.name), append(w.putK, []byte(k)), append(w.putV, v)
		}
	}
	b.dropped, b.created, b.seqDirty, b.pending = false, false, false, nil
}

// statement is one SQL statement with its arguments.
type statement struct {
	sql  string
	args []any
}

// The statements of the writes (pendingWrites.statements).
const (
	sqlDropPairs   = `DELETE FROM kv_pairs WHERE bucket = ANY($1)`
	sqlDropBuckets = `DELETE FROM kv_buckets WHERE name = ANY($1)`
	sqlNewBuckets  = `INSERT INTO kv_buckets (name, seq) SELECT * FROM unnest($1::bytea[], $2::bigint[])`
	sqlSeqs        = `UPDATE kv_buckets b SET seq = u.seq FROM unnest($1::bytea[], $2::bigint[]) AS u(name, seq)
			WHERE b.name = u.name`
	sqlDeletes = `DELETE FROM kv_pairs p USING unnest($1::bytea[], $2::bytea[]) AS d(bucket, key)
			WHERE p.bucket = d.bucket AND p.key = d.key`
	sqlPuts = `INSERT INTO kv_pairs (bucket, key, value)
			SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])
			ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value`
)

// statements are the writes as statements: drops first (a bucket dropped and made again in one
// transaction loses its old pairs before it gets new ones), then bucket rows, then pairs.
func (w *pendingWrites) statements() []statement {
	var s []statement
	add := func(sql string, args ...any) { s = append(s, statement{sql, args}) }
	if len(w.dropped) > 0 {
		add(sqlDropPairs, w.dropped)
		add(sqlDropBuckets, w.dropped)
	}
	if len(w.created) > 0 {
		add(sqlNewBuckets, w.created, w.createdSeqs)
	}
	if len(w.seqNames) > 0 {
		add(sqlSeqs, w.seqNames, w.seqs)
	}
	if len(w.goneB) > 0 {
		add(sqlDeletes, w.goneB, w.goneK)
	}
	if len(w.putB) > 0 {
		add(sqlPuts, w.putB, w.putK, w.putV)
	}
	return s
}

// pending takes every bucket's pending writes as statements.
func (t *tx) pending() []statement {
	if !t.dirty {
		return nil
	}
	var w pendingWrites
	for _, b := range t.buckets {
		w.take(b)
	}
	t.dirty = false
	return w.statements()
}

// commit sends the pending writes with, when anything was written, the generation's raise, and
// commits, in one round trip (pipe.go), which begins the next Update too when the caller said one
// follows (chain.go); a failure lands in t.err. Once committed, the writes go into the cache.
func (t *tx) commit() {
	if t.err != nil {
		return
	}
	wrote := len(t.w.buckets) > 0
	gen, err := t.db.commitChained(t, wrote)
	t.fail(err)
	if t.err == nil && wrote {
		for name, x := range t.w.buckets {
			if b := t.buckets[name]; b != nil {
				x.exists, x.seq = b.exists, b.seq
			}
		}
		t.db.c.committed(t.gen0, gen, &t.w)
		t.db.wrote(gen)
	}
}

// UpdateFollows is kv.Follows: the commit begins the next Update.
func (t *tx) UpdateFollows() { t.follows = t.writable }

// fresh says the database holds nothing of this bucket's current content: made in this tx, or
// dropped and waiting for the flush that deletes its old pairs.
func (b *bucket) fresh() bool { return b.created || b.dropped }

func (b *bucket) Get(key []byte) []byte {
	if v, ok := b.pending[string(key)]; ok {
		return v
	}
	if b.fresh() {
		return nil
	}
	t := b.tx
	// What this tx wrote and already flushed is no longer pending, and the cache holds what came
	// before it: the tx's own writes answer first, and a bucket it dropped is read from the server.
	useCache := true
	if x := t.w.buckets[string(b.name)]; x != nil {
		if v, ok := x.pairs[string(key)]; ok {
			return v
		}
		useCache = !x.dropped
	}
	if useCache {
		if v, ok := t.db.c.get(t.gen0, string(b.name), string(key)); ok {
			return v
		}
	}
	var v []byte
	found := false
	ok := t.query(func(r pgx.Rows) error { found = true; return r.Scan(&v) },
		`SELECT value FROM kv_pairs WHERE bucket = $1 AND key = $2`, b.name, key)
	if found && v == nil {
		v = []byte{} // an empty value is not a missing one
	}
	if ok && !t.flushed {
		t.db.c.put(t.gen0, string(b.name), string(key), v)
	}
	return v
}

func (b *bucket) Put(key, value []byte) error {
	if len(key) == 0 {
		return errKeyRequired
	}
	return b.write("Put", key, append(make([]byte, 0, len(value)), value...))
}

func (b *bucket) Delete(key []byte) error { return b.write("Delete", key, nil) }

// write buffers value (nil: delete) for key.
func (b *bucket) write(op string, key, value []byte) error {
	if !b.tx.writable {
		return notWritable(op)
	}
	if b.tx.err != nil {
		return b.tx.err
	}
	if !b.exists {
		return fmt.Errorf("pgkv: %s in bucket %q, deleted in this transaction: %w", op, b.name, kv.ErrBucketNotFound)
	}
	if b.pending == nil {
		b.pending = map[string][]byte{}
	}
	b.pending[string(key)] = value
	b.tx.w.of(b).pairs[string(key)] = value
	b.tx.changed()
	return nil
}

func (b *bucket) Cursor() kv.Cursor { return &cursor{b: b} }

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.tx.err
}

func (b *bucket) Sequence() uint64 { return b.seq }

func (b *bucket) SetSequence(v uint64) error {
	if !b.tx.writable {
		return notWritable("SetSequence")
	}
	b.seq, b.seqDirty = v, true
	b.tx.dirty = true
	b.tx.w.of(b)
	return nil
}

func (b *bucket) NextSequence() (uint64, error) {
	if err := b.SetSequence(b.seq + 1); err != nil {
		return 0, err
	}
	return b.seq, nil
}

func (b *bucket) KeyN() int {
	b.tx.flush()
	n := 0
	b.tx.query(func(r pgx.Rows) error { return r.Scan(&n) },
		`SELECT count(*) FROM kv_pairs WHERE bucket = $1`, b.name)
	return n
}
