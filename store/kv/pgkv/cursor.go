package pgkv

import (
	"slices"

	"github.com/jackc/pgx/v5"
)

// Rows a cursor fetches at first, doubled on each further fetch in a walk up to maxFetch: a short
// look costs one small query, a long walk few round trips.
const (
	firstFetch = 256
	maxFetch   = 4096
)

type pair struct{ k, v []byte }

// cursor holds a window of consecutive pairs around its position, fetched in one query, and
// fetches again at the window's edge or after the tx wrote (gen), when the window may be stale.
type cursor struct {
	b    *bucket
	rows []pair
	i    int    // the position in rows
	key  []byte // the key the cursor is on (or was on, when hole); nil: on none
	// hole: the pair at key was deleted through the cursor; rows[i] is the one after it.
	hole          bool
	gen           uint64
	first, last   bool // the window starts at the bucket's first key, ends at its last
	fetch         int
	lastDirection bool
}

func (c *cursor) First() ([]byte, []byte) { return c.load(true, nil, false) }
func (c *cursor) Last() ([]byte, []byte)  { return c.load(false, nil, false) }

func (c *cursor) Seek(seek []byte) ([]byte, []byte) { return c.load(true, seek, true) }

func (c *cursor) Next() ([]byte, []byte) {
	if c.key == nil {
		return nil, nil
	}
	j := c.i + 1
	if c.hole {
		j = c.i
	}
	if c.valid() {
		if j < len(c.rows) {
			return c.land(j)
		}
		if c.last {
			return c.off()
		}
	}
	return c.load(true, c.key, false)
}

func (c *cursor) Prev() ([]byte, []byte) {
	if c.key == nil {
		return nil, nil
	}
	if c.valid() {
		if j := c.i - 1; j >= 0 {
			return c.land(j)
		}
		if c.first {
			return c.off()
		}
	}
	return c.load(false, c.key, false)
}

func (c *cursor) Delete() error {
	if c.key == nil || c.hole {
		return nil
	}
	if err := c.b.Delete(c.key); err != nil {
		return err
	}
	// The window stays right: only the pair deleted leaves it.
	c.rows = slices.Delete(c.rows, c.i, c.i+1)
	c.hole, c.gen = true, c.b.tx.gen
	return nil
}

func (c *cursor) valid() bool { return c.rows != nil && c.gen == c.b.tx.gen }

func (c *cursor) land(j int) ([]byte, []byte) {
	c.i, c.hole = j, false
	c.key = c.rows[j].k
	return c.rows[j].k, c.rows[j].v
}

func (c *cursor) off() ([]byte, []byte) {
	c.key, c.hole, c.rows = nil, false, nil
	return nil, nil
}

// load fetches the window starting at bound going forward (keys >= or > bound) or backward
// (keys < bound); a nil bound is the bucket's first or last key. It lands on the window's first
// pair in the direction of travel, or falls off the end.
func (c *cursor) load(forward bool, bound []byte, inclusive bool) ([]byte, []byte) {
	t := c.b.tx
	t.flush()
	c.gen = t.gen
	if c.rows == nil || forward != c.lastDirection {
		c.fetch = firstFetch
	} else {
		c.fetch = min(2*c.fetch, maxFetch)
	}
	c.lastDirection = forward
	rows := make([]pair, 0, min(c.fetch, firstFetch))
	t.query(func(r pgx.Rows) error {
		var p pair
		err := r.Scan(&p.k, &p.v)
		if p.v == nil {
			p.v = []byte{} // an empty value is not a missing one
		}
		rows = append(rows, p)
		return err
	}, windowSQL(forward, bound, inclusive), windowArgs(c.b.name, bound, c.fetch)...)
	if len(rows) == 0 || t.err != nil {
		return c.off()
	}
	short := len(rows) < c.fetch
	if forward {
		c.first, c.last = bound == nil, short
		c.rows = rows
		return c.land(0)
	}
	slices.Reverse(rows)
	c.first, c.last = short, bound == nil
	c.rows = rows
	return c.land(len(rows) - 1)
}

func windowSQL(forward bool, bound []byte, inclusive bool) string {
	const sel = `SELECT key, value FROM kv_pairs WHERE bucket = $1`
	switch {
	case forward && bound == nil:
		return sel + ` ORDER BY key LIMIT $2`
	case forward && inclusive:
		return sel + ` AND key >= $2 ORDER BY key LIMIT $3`
	case forward:
		return sel + ` AND key > $2 ORDER BY key LIMIT $3`
	case bound == nil:
		return sel + ` ORDER BY key DESC LIMIT $2`
	}
	return sel + ` AND key < $2 ORDER BY key DESC LIMIT $3`
}

func windowArgs(bucket, bound []byte, limit int) []any {
	if bound == nil {
		return []any{bucket, limit}
	}
	return []any{bucket, bound, limit}
}
