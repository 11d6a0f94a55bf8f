package pgkv

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake-ups. A reader on another host (a standby's view, jobs --follow) learns that the database
// changed from kv_meta's generation; polling it alone makes every change seen up to a poll late. So
// after a commit that wrote, the handle NOTIFYs the schema's channel, and Watch LISTENs to it.
//
// The NOTIFY is sent outside the writer's transaction, by a goroutine of the handle's own, and at
// most every notifyGap: the writer lock is never held a statement longer for it, and a burst of
// commits (the engine commits hundreds a second) costs the server about 50 small transactions a
// second, not one each. A commit during a gap is told at its end; Close tells a commit not told yet.
// NOTIFY is best effort: a reader whose wake-up is lost still polls, as before.

// notifyGap is the shortest time between two NOTIFYs of one handle.
var notifyGap = 20 * time.Millisecond

// notifier sends the handle's NOTIFYs (see above).
type notifier struct {
	once    sync.Once
	poke    chan struct{} // a commit wrote: one waiting at most
	stop    chan struct{}
	done    chan struct{}
	gen     atomic.Int64 // the newest generation committed, the NOTIFY's payload
	stopped sync.Once
}

// channelFor is the NOTIFY channel of a schema's kv tables: NOTIFY is per database, so the schema in
// the name keeps one database's deployments (and parallel tests) apart. 63 is PostgreSQL's longest
// identifier.
func channelFor(schema string) string {
	const prefix, max = "vmmpm_kv_", 63
	return (prefix + schema)[:min(max, len(prefix)+len(schema))]
}

// wrote says a commit raised the generation to gen; the first one starts the notifier.
func (d *DB) wrote(gen int64) {
	n := &d.notif
	n.once.Do(func() {
		n.poke, n.stop, n.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go d.notifyLoop()
	})
	n.gen.Store(gen)
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

func (d *DB) notifyLoop() {
	n := &d.notif
	defer close(n.done)
	gap := time.NewTimer(notifyGap)
	defer gap.Stop()
	for {
		select {
		case <-n.poke:
		case <-n.stop:
			d.tellPending()
			return
		}
		d.sendNotify()
		gap.Reset(notifyGap)
		select {
		case <-gap.C:
		case <-n.stop:
			d.tellPending()
			return
		}
	}
}

// tellPending sends the NOTIFY of a commit not told yet, before the handle closes.
func (d *DB) tellPending() {
	select {
	case <-d.notif.poke:
		d.sendNotify()
	default:
	}
}

// sendNotify NOTIFYs the schema's channel with the newest generation; a failure is left to the
// readers' polls.
func (d *DB) sendNotify() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	payload := strconv.FormatInt(d.notif.gen.Load(), 10) + " " + d.tok // "GENERATION TOKEN"
	_, _ = d.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, d.channel, payload)
}

// stopNotifier tells a commit not told yet and stops the notifier (Close).
func (d *DB) stopNotifier() {
	n := &d.notif
	n.once.Do(func() {}) // none started: none starts now
	n.stopped.Do(func() {
		if n.stop != nil {
			close(n.stop)
			<-n.done
		}
	})
}

// Watch sends on the channel it returns each time a handle on this database and schema (another
// process, another host) committed a write, and once as soon as it listens, so what was committed
// before is not missed; sends coalesce (one waits at most). A lost connection is listened on again
// a second later, with a send when it is. It stops when ctx ends; the channel is never closed.
// Watch is a wake-up, not a record: a reader still reads the generation to know what moved.
func (d *DB) Watch(ctx context.Context) <-chan struct{} { return d.watch(ctx, false) }

// WatchOthers is Watch woken only by other handles' commits (an engine, whose own commits come
// hundreds a second, looking for what other hosts wrote).
func (d *DB) WatchOthers(ctx context.Context) <-chan struct{} { return d.watch(ctx, true) }

func (d *DB) watch(ctx context.Context, others bool) <-chan struct{} {
	wake := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			_ = d.listenOnce(ctx, wake, others)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return wake
}

func (d *DB) listenOnce(ctx context.Context, wake chan<- struct{}, others bool) error {
	c, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack() // a listening connection never goes back to the pool
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{d.channel}.Sanitize()); err != nil {
		return err
	}
	own := " " + d.tok
	for {
		select {
		case wake <- struct{}{}:
		default:
		}
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			if !others || !strings.HasSuffix(n.Payload, own) {
				break
			}
		}
	}
}
