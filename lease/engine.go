package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults as River's leader lease: renew every 5 s, lapse 15 s after the last renewal, and look
// for free lanes every second between the NOTIFY wake-ups.
const (
	DefaultTTL        = 15 * time.Second
	DefaultRenewEvery = 5 * time.Second
	DefaultPollEvery  = time.Second
)

// Options describe the engine joining; zero durations take the defaults.
type Options struct {
	Host, Version string
	PID           int
	TTL           time.Duration
	RenewEvery    time.Duration
	PollEvery     time.Duration
	// Passwords are the module password versions this host's keyring holds (module → version).
	Passwords map[int64]int64
	// OnChange is told the lanes held whenever they change (claimed, released, lost), from the
	// engine's own goroutine: the queue schedules only these, each start and finish with its epoch.
	OnChange func(held []Held)
	// Releasing, when set, is asked in every claim round which of the lanes the fair share would
	// release (none of them running a job by the running table) may go now: the engine's own view
	// of a job boundary, for an engine that keeps its running jobs elsewhere. It should stop
	// starting jobs in every lane planned, and answer those that run none; a lane it keeps is asked
	// again next round. nil: the running table alone decides.
	Releasing func(planned []Lane) []Lane
	Logger    *slog.Logger
}

// Held is a lane whose lease this engine holds, under the epoch of its claim.
type Held struct {
	Lane
	Epoch int64 `json:"epoch"`
}

// Engine is one engine's membership: its row in engines, the leases it holds, the loop keeping them.
type Engine struct {
	pool    *pgxpool.Pool
	id      int64
	o       Options
	channel string

	mu   sync.Mutex
	held map[Lane]int64 // lane → epoch
	// validUntil is when, by this host's clock, the leases may have lapsed unless renewed: the
	// start of the last good renewal plus the TTL, less a margin. Local time only ever stops work
	// sooner; the database decides.
	validUntil time.Time

	stop chan struct{}
	done chan struct{}
}

// Join migrates the tables, records the engine and its password versions, and tells the others
// (they rebalance at once). It claims nothing until Start or Claim.
func Join(ctx context.Context, pool *pgxpool.Pool, o Options) (*Engine, error) {
	o.TTL = orDefault(o.TTL, DefaultTTL)
	o.RenewEvery = orDefault(o.RenewEvery, DefaultRenewEvery)
	o.PollEvery = orDefault(o.PollEvery, DefaultPollEvery)
	if o.RenewEvery >= o.TTL {
		return nil, fmt.Errorf("lease: renewal every %v must be shorter than the lease's %v: lower the renewal interval", o.RenewEvery, o.TTL)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := Migrate(ctx, pool); err != nil {
		return nil, err
	}
	e := &Engine{pool: pool, o: o, held: map[Lane]int64{}}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Rows of engines dead for an hour go; the recent dead stay for status to show.
		if _, err := tx.Exec(ctx, `DELETE FROM engines WHERE expires_at < now() - interval '1 hour'`); err != nil {
			return err
		}
		start := time.Now()
		if err := tx.QueryRow(ctx, `INSERT INTO engines (host, pid, version, expires_at)
			VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond') RETURNING id, current_schema()`,
			o.Host, o.PID, o.Version, o.TTL.Milliseconds()).Scan(&e.id, &e.channel); err != nil {
			return err
		}
		e.validUntil = start.Add(o.TTL - margin(o.TTL))
		if err := writePasswords(ctx, tx, e.id, o.Passwords); err != nil {
			return err
		}
		// NOTIFY is per database; the schema in the channel keeps one database's several
		// deployments (and parallel tests) apart.
		e.channel = channelName(e.channel)
		return e.notify(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("lease: join: %w", err)
	}
	return e, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// margin is how much sooner than the database this host gives up its leases (River: 1 s).
func margin(ttl time.Duration) time.Duration { return min(time.Second, ttl/10) }

func channelName(schema string) string {
	const prefix, max = "vmmpm_lease_", 63
	return (prefix + schema)[:min(max, len(prefix)+len(schema))]
}

// ID is the engine's id in the engines table.
func (e *Engine) ID() int64 { return e.id }

// Held lists the lanes this engine holds, ordered; none once the local deadline has passed without
// a renewal.
func (e *Engine) Held() []Held {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.heldLocked()
}

func (e *Engine) heldLocked() []Held {
	if time.Now().After(e.validUntil) {
		return nil
	}
	out := make([]Held, 0, len(e.held))
	for l, ep := range e.held {
		out = append(out, Held{l, ep})
	}
	slices.SortFunc(out, func(a, b Held) int { return compareLanes(a.Lane, b.Lane) })
	return out
}

func compareLanes(a, b Lane) int {
	if a.Module != b.Module {
		return int(a.Module - b.Module)
	}
	switch {
	case a.Key < b.Key:
		return -1
	case a.Key > b.Key:
		return 1
	}
	return 0
}

// update applies a change to the held set and tells OnChange when it changed anything.
func (e *Engine) update(change func(held map[Lane]int64)) {
	e.mu.Lock()
	before, seen := maps.Clone(e.held), e.heldLocked()
	change(e.held)
	now := e.heldLocked()
	// What OnChange was told is the visible set: a claim made past the local deadline shows only
	// once a renewal extends it, and that renewal must tell it (the map alone did not change).
	same := maps.Equal(before, e.held) && slices.Equal(seen, now)
	e.mu.Unlock()
	if !same && e.o.OnChange != nil {
		e.o.OnChange(now)
	}
}

// SetPasswords replaces the password versions this engine holds (after a keyring change); lanes of
// modules it no longer qualifies for are released by the next rounds only when idle, like any.
func (e *Engine) SetPasswords(ctx context.Context, versions map[int64]int64) error {
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM engine_passwords WHERE engine_id = $1`, e.id); err != nil {
			return err
		}
		if err := writePasswords(ctx, tx, e.id, versions); err != nil {
			return err
		}
		return e.notify(ctx, tx)
	})
}

func writePasswords(ctx context.Context, tx pgx.Tx, engine int64, versions map[int64]int64) error {
	mods := slices.Sorted(maps.Keys(versions))
	vers := make([]int64, len(mods))
	for i, m := range mods {
		vers[i] = versions[m]
	}
	_, err := tx.Exec(ctx, `INSERT INTO engine_passwords (engine_id, module_id, version)
		SELECT $1, m, v FROM unnest($2::bigint[], $3::bigint[]) AS p(m, v)`, engine, mods, vers)
	return err
}

// notify wakes the other engines when tx commits (a lane freed, an engine joined or left).
func (e *Engine) notify(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, e.channel, fmt.Sprint(e.id))
	return err
}

// Renew extends the engine's row and every lease it still holds in one statement, and forgets the
// leases that lapsed meanwhile (another engine may hold them now).
func (e *Engine) Renew(ctx context.Context) error {
	start := time.Now()
	rows, err := e.pool.Query(ctx, `
		WITH me AS (
			UPDATE engines SET renewed_at = now(), expires_at = now() + $2 * interval '1 millisecond'
			WHERE id = $1 RETURNING id
		), mine AS (
			SELECT module_id, queue_key FROM lanes
			WHERE holder = $1 AND lease_until > clock_timestamp()
			ORDER BY module_id, queue_key FOR NO KEY UPDATE
		), renewed AS (
			UPDATE lanes SET lease_until = now() + $2 * interval '1 millisecond'
			FROM mine, me
			WHERE lanes.module_id = mine.module_id AND lanes.queue_key = mine.queue_key
			RETURNING lanes.module_id, lanes.queue_key, lanes.epoch
		)
		SELECT me.id, renewed.module_id, renewed.queue_key, renewed.epoch FROM me LEFT JOIN renewed ON true`,
		e.id, e.o.TTL.Milliseconds())
	if err != nil {
		return fmt.Errorf("lease: renew: %w", err)
	}
	kept := map[Lane]int64{}
	found := false
	for rows.Next() {
		var id int64
		var mod, epoch *int64
		var key *string
		if err := rows.Scan(&id, &mod, &key, &epoch); err != nil {
			rows.Close()
			return fmt.Errorf("lease: renew: %w", err)
		}
		found = true
		if mod != nil {
			kept[Lane{*mod, *key}] = *epoch
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lease: renew: %w", err)
	}
	if !found {
		return ErrGone
	}
	// In one hold of the lock: extended first and pruned after, a lane another engine took would
	// pass Holds in between (a host waking from a freeze would create a VM under the old epoch).
	e.update(func(held map[Lane]int64) {
		maps.DeleteFunc(held, func(l Lane, ep int64) bool { return kept[l] != ep })
		e.validUntil = start.Add(e.o.TTL - margin(e.o.TTL))
	})
	return nil
}

// giveUpBefore drops every lease (telling OnChange) when the local deadline comes before t, the
// next chance to renew: work stops before the database could give the lanes to another engine.
func (e *Engine) giveUpBefore(t time.Time) {
	e.mu.Lock()
	late := t.After(e.validUntil)
	e.mu.Unlock()
	if late {
		e.update(func(held map[Lane]int64) { clear(held) })
	}
}

// Holds reports whether this engine holds lane h under its epoch and, by this host's clock, its
// lease has not run out: checked right before a call the database cannot fence (creating a VM), so
// an engine that froze past its lease does not make one after another engine took the lane.
func (e *Engine) Holds(h Held) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.held[h.Lane] == h.Epoch && time.Now().Before(e.validUntil)
}

// ErrGone: the engine's row is no longer in the database (it left); join again to work.
var ErrGone = errors.New("lease: this engine is no longer registered: join again")

// Start runs the loop: claims at once, then renews every RenewEvery and claims (and rebalances)
// every PollEvery and whenever another engine NOTIFYs.
func (e *Engine) Start() {
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-e.stop; cancel() }()
	go e.loop(ctx)
}

// Stop ends the loop without releasing anything, as if the host died: the leases lapse by
// themselves after the TTL. Leave is the orderly way out.
func (e *Engine) Stop() {
	if e.stop == nil {
		return
	}
	close(e.stop)
	<-e.done
	e.stop = nil
}

func (e *Engine) loop(ctx context.Context) {
	defer close(e.done)
	wake := make(chan struct{}, 1)
	go e.listen(ctx, wake)
	renew, poll := time.NewTicker(e.o.RenewEvery), time.NewTicker(e.o.PollEvery)
	defer renew.Stop()
	defer poll.Stop()
	e.rounds(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			if err := e.Renew(ctx); err != nil && ctx.Err() == nil {
				e.o.Logger.Warn("lease renewal failed", "engine", e.id, "err", err)
				e.giveUpBefore(time.Now().Add(e.o.RenewEvery))
			}
		case <-poll.C:
			e.rounds(ctx)
		case <-wake:
			e.rounds(ctx)
		}
	}
}

// rounds claims until a round gets every lane it planned: a lane lost to another engine's claim
// may leave another one free that this engine should take now rather than at the next poll.
func (e *Engine) rounds(ctx context.Context) {
	for range 3 {
		short, err := e.round(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.o.Logger.Warn("lease claim failed", "engine", e.id, "err", err)
			}
			return
		}
		if !short {
			return
		}
	}
}

// listen wakes the loop on every other engine's NOTIFY; on a lost connection it tries again after a
// poll interval (the polls go on meanwhile).
func (e *Engine) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := e.listenOnce(ctx, wake)
		if ctx.Err() == nil {
			e.o.Logger.Warn("lease listener lost its connection", "engine", e.id, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(e.o.PollEvery):
			}
		}
	}
}

func (e *Engine) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	c, err := e.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack() // a listening connection never goes back to the pool
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{e.channel}.Sanitize()); err != nil {
		return err
	}
	// What was notified before LISTEN took (the loop's first round raced it, or the connection was
	// lost) is not sent again: one more round looks at the table itself.
	select {
	case wake <- struct{}{}:
	default:
	}
	self := fmt.Sprint(e.id)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload == self {
			continue
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// Leave is the SIGTERM path: the loop stops, every lane is released (a job still running in one
// is resumed by its next holder, as after a crash), the engine's row goes, and the others are told
// at once. Call it once the queue has stopped starting jobs.
func (e *Engine) Leave(ctx context.Context) error {
	e.Stop()
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE lanes SET holder = NULL, lease_until = '-infinity' WHERE holder = $1`, e.id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM engines WHERE id = $1`, e.id); err != nil {
			return err
		}
		return e.notify(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("lease: leave: %w", err)
	}
	e.update(func(held map[Lane]int64) { clear(held) })
	return nil
}
