package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"vmmpm/store/kv"
	"vmmpm/store/kv/pgkv"
)

// IsServer reports whether addr names a database server (PostgreSQL) rather than a bbolt file:
// --db and VMMPM_DB take either.
func IsServer(addr string) bool {
	return strings.HasPrefix(addr, "postgres://") || strings.HasPrefix(addr, "postgresql://")
}

// Redact is addr without its password, as it appears in sentences, logs and status.
func Redact(addr string) string {
	if !IsServer(addr) {
		return addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "a PostgreSQL address that cannot be read"
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// connectTimeout bounds reaching the server at open: a wrong host fails in seconds, not minutes.
const connectTimeout = 10 * time.Second

// maxConns is the pool's size: the engine's workers read in Views of their own, each on a
// connection, and one writer holds another (three hosts take 48 of PostgreSQL's default 100).
const maxConns = 16

// openServer opens the database kept on the PostgreSQL at addr (its tables are created when missing).
// MustExist refuses one that holds no vmmpm database yet, as Open does a missing file.
func openServer(addr string, opt Options) (*DB, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	k, err := pgkv.Open(ctx, addr, pgkv.Options{ConnectTimeout: connectTimeout, MaxConns: maxConns})
	if err != nil {
		return nil, err
	}
	name := Redact(addr)
	if opt.MustExist {
		empty, err := isEmpty(k)
		if err != nil {
			_ = k.Close()
			return nil, err
		}
		if empty {
			_ = k.Close()
			return nil, fmt.Errorf("database %s holds no vmmpm database yet, and nothing was created; check --db or VMMPM_DB (an add command such as vmmpm datacenter add creates it): %w", name, ErrNoDatabase)
		}
	}
	return OpenKV(k, name, opt)
}

// isEmpty reports whether k has no meta bucket: no vmmpm database was ever created in it.
func isEmpty(k kv.DB) (bool, error) {
	empty := false
	err := k.View(func(tx kv.Tx) error {
		empty = tx.Bucket(bucketMeta) == nil
		return nil
	})
	return empty, err
}
