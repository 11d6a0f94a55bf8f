package pgkv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Error is a failure told to the admin in one sentence that never holds the address's password;
// Unwrap gives the cause for errors.Is and errors.As.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

const checkAddress = "check --db or VMMPM_DB"

// explain turns a failure to connect or to create the tables into a sentence.
func (d *DB) explain(err error, user, database string) error {
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && (pg.Code == "28P01" || pg.Code == "28000"):
		return d.sentence(err, "PostgreSQL at %s refused user %q (%s); check the user and password in --db or VMMPM_DB", d.where, user, pg.Message)
	case errors.As(err, &pg) && pg.Code == "3D000":
		return d.sentence(err, "PostgreSQL at %s has no database %q; create it (createdb %s) or fix the name in --db or VMMPM_DB", d.where, database, database)
	case errors.As(err, &pg):
		return d.sentence(err, "PostgreSQL at %s refused to set up vmmpm's tables (%s, SQLSTATE %s); %s", d.where, pg.Message, pg.Code, checkAddress)
	}
	return d.sentence(err, "cannot reach PostgreSQL at %s (%s); %s and that the server is running", d.where, reason(err), checkAddress)
}

// failed turns a transaction's failure into a sentence saying what it cost.
func (d *DB) failed(err error, writable bool) error {
	cost := "the read was abandoned"
	if writable {
		cost = "nothing of this transaction was committed"
	}
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && pg.Code == "57014":
		return d.sentence(err, "PostgreSQL at %s did not finish a statement within %v (%s); %s", d.where, d.o.StatementTimeout, pg.Message, cost)
	case errors.As(err, &pg):
		return d.sentence(err, "PostgreSQL at %s refused a statement (%s, SQLSTATE %s); %s", d.where, pg.Message, pg.Code, cost)
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return d.sentence(err, "PostgreSQL at %s did not answer within %v; %s", d.where, d.o.StatementTimeout+grace, cost)
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return d.sentence(err, "cannot reach PostgreSQL at %s (%s); %s; %s and that the server is running", d.where, reason(err), cost, checkAddress)
	}
	return d.sentence(err, "lost the connection to PostgreSQL at %s (%s); %s", d.where, reason(err), cost)
}

// reason is the innermost cause in a few words: "connection refused", "i/o timeout", …
func reason(err error) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dns):
		return "no such host " + dns.Name
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return "no answer in time"
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	return strings.TrimSpace(err.Error())
}

func (d *DB) sentence(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if d.password != "" {
		msg = strings.ReplaceAll(msg, d.password, "xxxxx")
	}
	return &Error{msg: msg, err: err}
}
