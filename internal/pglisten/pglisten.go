// Package pglisten is PostgreSQL's LISTEN as a wake-up: what lease (other engines' claims) and
// pgkv (other hosts' commits) both need, on a connection taken out of a pgx pool for good.
package pglisten

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Once LISTENs on channel with a connection hijacked from pool (a listening connection never goes
// back to it) and sends on wake, without blocking, once listening (what was notified before is not
// sent again, so the caller looks for itself) and at each notification whose payload skip does not
// refuse (skip nil: every one). It returns when ctx ends or the connection is lost.
func Once(ctx context.Context, pool *pgxpool.Pool, channel string, skip func(payload string) bool, wake chan<- struct{}) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
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
			if skip == nil || !skip(n.Payload) {
				break
			}
		}
	}
}
