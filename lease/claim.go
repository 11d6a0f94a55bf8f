package lease

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Claim runs one round: takes free lanes up to the fair share (ceil(lanes / live engines)), only of
// modules whose current password this engine holds, each claim raising the lane's epoch; then
// releases, at a job boundary (no job running in it), the lanes above its share that an engine
// below its share may take, and tells the others. It answers the lanes held afterwards.
func (e *Engine) Claim(ctx context.Context) ([]Held, error) {
	if _, err := e.round(ctx); err != nil {
		return nil, err
	}
	return e.Held(), nil
}

// round is one claim round; short says another engine took some of the lanes it planned to claim.
func (e *Engine) round(ctx context.Context) (short bool, err error) {
	var got []Held
	var released []Lane
	err = pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		w, err := e.world(ctx, tx)
		if err != nil {
			return err
		}
		if _, live := w.counts[e.id]; !live {
			return nil // our row lapsed: the next renewal revives it
		}
		free, err := lanes(ctx, tx, `SELECT module_id, queue_key FROM lanes WHERE lease_until <= clock_timestamp()
			ORDER BY lease_until, module_id, queue_key`)
		if err != nil {
			return err
		}
		idle, err := lanes(ctx, tx, `SELECT module_id, queue_key FROM lanes l
			WHERE holder = $1 AND lease_until > clock_timestamp() AND NOT EXISTS (
				SELECT 1 FROM running r WHERE r.module_id = l.module_id AND r.queue_key = l.queue_key)
			ORDER BY module_id, queue_key`, e.id)
		if err != nil {
			return err
		}
		claim, release := w.plan(free, idle)
		if e.o.Releasing != nil {
			release = e.o.Releasing(release)
		}
		if got, err = e.claim(ctx, tx, claim); err != nil {
			return err
		}
		short = len(got) < len(claim)
		if released, err = e.release(ctx, tx, release); err != nil {
			return err
		}
		if len(released) > 0 {
			return e.notify(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("lease: claim: %w", err)
	}
	e.update(func(held map[Lane]int64) {
		for _, h := range got {
			held[h.Lane] = h.Epoch
		}
		for _, l := range released {
			delete(held, l)
		}
	})
	return short, nil
}

// world reads the live engines with their lane counts, the lane total and the password versions.
func (e *Engine) world(ctx context.Context, tx pgx.Tx) (world, error) {
	w := world{me: e.id, counts: map[int64]int{}, need: map[int64]int64{}, has: map[int64]map[int64]int64{}}
	err := scanEach(ctx, tx, func(r pgx.Rows) error {
		var id int64
		var n int
		err := r.Scan(&id, &n)
		w.counts[id] = n
		return err
	}, `SELECT e.id, count(l.queue_key) FILTER (WHERE l.lease_until > clock_timestamp())
		FROM engines e LEFT JOIN lanes l ON l.holder = e.id
		WHERE e.expires_at > clock_timestamp() GROUP BY e.id`)
	if err != nil {
		return w, err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM lanes`).Scan(&w.total); err != nil {
		return w, err
	}
	err = scanEach(ctx, tx, func(r pgx.Rows) error {
		var m, v int64
		err := r.Scan(&m, &v)
		w.need[m] = v
		return err
	}, `SELECT module_id, version FROM module_passwords`)
	if err != nil {
		return w, err
	}
	err = scanEach(ctx, tx, func(r pgx.Rows) error {
		var en, m, v int64
		err := r.Scan(&en, &m, &v)
		if w.has[en] == nil {
			w.has[en] = map[int64]int64{}
		}
		w.has[en][m] = v
		return err
	}, `SELECT p.engine_id, p.module_id, p.version FROM engine_passwords p
		JOIN engines e ON e.id = p.engine_id WHERE e.expires_at > clock_timestamp()`)
	return w, err
}

// claim takes the planned lanes that are still free, locking them in key order (two engines
// claiming at once never deadlock); one another engine took meanwhile is left to it.
func (e *Engine) claim(ctx context.Context, tx pgx.Tx, want []Lane) ([]Held, error) {
	if len(want) == 0 {
		return nil, nil
	}
	mods, keys := columns(want)
	var got []Held
	err := scanEach(ctx, tx, func(r pgx.Rows) error {
		var h Held
		err := r.Scan(&h.Module, &h.Key, &h.Epoch)
		got = append(got, h)
		return err
	}, `WITH want AS (
			SELECT l.module_id, l.queue_key FROM lanes l
			JOIN unnest($2::bigint[], $3::text[]) AS w(m, k) ON l.module_id = w.m AND l.queue_key = w.k
			ORDER BY l.module_id, l.queue_key FOR UPDATE OF l
		)
		UPDATE lanes SET holder = $1, epoch = lanes.epoch + 1, claimed_at = clock_timestamp(),
			lease_until = now() + $4 * interval '1 millisecond'
		FROM want WHERE lanes.module_id = want.module_id AND lanes.queue_key = want.queue_key
			AND lanes.lease_until <= clock_timestamp()
		RETURNING lanes.module_id, lanes.queue_key, lanes.epoch`, e.id, mods, keys, e.o.TTL.Milliseconds())
	return got, err
}

// release frees the planned lanes that still have no running job. The lanes are locked first, in a
// statement of their own, so the check for a running job sees every start committed before the
// lock; a start waiting on the lock then finds the lane released (Guard refuses it). A lane locked
// by a start in progress is skipped: it is busy.
func (e *Engine) release(ctx context.Context, tx pgx.Tx, planned []Lane) ([]Lane, error) {
	if len(planned) == 0 {
		return nil, nil
	}
	mods, keys := columns(planned)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM lanes l
		JOIN unnest($2::bigint[], $3::text[]) AS w(m, k) ON l.module_id = w.m AND l.queue_key = w.k
		WHERE l.holder = $1 ORDER BY l.module_id, l.queue_key FOR UPDATE OF l SKIP LOCKED`, e.id, mods, keys); err != nil {
		return nil, err
	}
	return lanes(ctx, tx, `UPDATE lanes l SET holder = NULL, lease_until = '-infinity'
		FROM unnest($2::bigint[], $3::text[]) AS w(m, k)
		WHERE l.module_id = w.m AND l.queue_key = w.k AND l.holder = $1
			AND NOT EXISTS (SELECT 1 FROM running r WHERE r.module_id = l.module_id AND r.queue_key = l.queue_key)
		RETURNING l.module_id, l.queue_key`, e.id, mods, keys)
}

func columns(ls []Lane) ([]int64, []string) {
	mods, keys := make([]int64, len(ls)), make([]string, len(ls))
	for i, l := range ls {
		mods[i], keys[i] = l.Module, l.Key
	}
	return mods, keys
}

func lanes(ctx context.Context, db DB, sql string, args ...any) ([]Lane, error) {
	var out []Lane
	err := scanEach(ctx, db, func(r pgx.Rows) error {
		var l Lane
		err := r.Scan(&l.Module, &l.Key)
		out = append(out, l)
		return err
	}, sql, args...)
	return out, err
}

// scanEach runs a query and hands each row to scan.
func scanEach(ctx context.Context, db DB, scan func(pgx.Rows) error, sql string, args ...any) error {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
