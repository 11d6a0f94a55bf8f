package pgkv_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"vmmpm/internal/pgtest"
	"vmmpm/store/kv"
	"vmmpm/store/kv/kvtest"
	"vmmpm/store/kv/pgkv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, url string) *pgkv.DB {
	t.Helper()
	db, err := pgkv.Open(context.Background(), url, pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.DB { return open(t, pgtest.URL(t)) })
}

// TestTwoHosts: two pools on one schema stand for two hosts, opened together (both create the
// tables) and writing together: no increment lost, no sequence number given twice.
func TestTwoHosts(t *testing.T) {
	url := pgtest.URL(t)
	hosts := make([]*pgkv.DB, 2)
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Go(func() {
			db, err := pgkv.Open(context.Background(), url, pgkv.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { _ = db.Close() })
			hosts[i] = db
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	const writers, each = 4, 25
	var mu sync.Mutex
	var seqs []uint64
	for _, db := range hosts {
		for range writers {
			wg.Go(func() {
				for range each {
					var n uint64
					err := db.Update(func(tx kv.Tx) error {
						if err := kvtest.Increment(tx); err != nil {
							return err
						}
						var err error
						n, err = tx.Bucket([]byte("b")).NextSequence()
						return err
					})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seqs = append(seqs, n)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	const total = 2 * writers * each
	err := hosts[1].View(func(tx kv.Tx) error {
		if n := kvtest.Counter(tx.Bucket([]byte("b")).Get([]byte("n"))); n != total {
			t.Errorf("counter = %d after %d increments on two hosts", n, total)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seqs)
	if len(slices.Compact(seqs)) != total || seqs[len(seqs)-1] != total {
		t.Errorf("sequence numbers: %d distinct up to %d, want %d", len(seqs), seqs[len(seqs)-1], total)
	}
}

// terminate ends backend pid from another connection, as a crashed server or a cut link would.
func terminate(t *testing.T, url string, pid uint32) {
	t.Helper()
	p := pgtest.Open(t, url)
	var ok bool
	if err := p.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

func fill(t *testing.T, db kv.DB) {
	t.Helper()
	err := db.Update(func(tx kv.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("before"), []byte("v"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKilledConnection: the connection dies mid-Update, after some writes reached the server:
// the read after it returns nil, the Update fails with a sentence, and nothing of it is committed.
func TestKilledConnection(t *testing.T) {
	url := pgtest.URL(t)
	fill(t, open(t, url))
	db := open(t, url) // a writer of its own: its reads go to the server, not to a cache of fill's writes
	var afterKill []byte
	err := db.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if err := b.Put([]byte("lost"), []byte("x")); err != nil {
			return err
		}
		pg, ok := pgkv.SQL(tx) // sends the Put
		if !ok {
			t.Fatal("SQL of a pgkv Tx says it is not one")
		}
		terminate(t, url, pg.Conn().PgConn().PID())
		afterKill = b.Get([]byte("before"))
		_ = b.Put([]byte("after"), []byte("y"))
		return nil
	})
	var sentence *pgkv.Error
	if !errors.As(err, &sentence) || !strings.Contains(err.Error(), "nothing of this transaction was committed") {
		t.Fatalf("Update whose connection died: %v, want a sentence saying nothing was committed", err)
	}
	if afterKill != nil {
		t.Errorf("Get after the connection died = %q, want nil", afterKill)
	}
	err = db.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		for k, want := range map[string]string{"before": "v", "lost": "", "after": ""} {
			if got := b.Get([]byte(k)); string(got) != want || (want == "") != (got == nil) {
				t.Errorf("after the failed Update %s = %q, want %q", k, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View on the same DB after the lost connection: %v", err)
	}
	// A handle that has read nothing yet, so the View's reads go to the server.
	err = open(t, url).View(func(tx kv.Tx) error {
		pg, _ := pgkv.SQL(tx)
		terminate(t, url, pg.Conn().PgConn().PID())
		if v := tx.Bucket([]byte("b")).Get([]byte("before")); v != nil {
			t.Errorf("View's Get after its connection died = %q", v)
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "the read was abandoned") {
		t.Errorf("View whose connection died: %v, want a sentence saying the read was abandoned", err)
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// refusePassword is a server that asks for a password and refuses it as PostgreSQL does (28P01):
// pgtest's cluster trusts everyone, so this stands in for a real refusal.
func refusePassword(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			be := pgproto3.NewBackend(c, c)
			if _, err := be.ReceiveStartupMessage(); err == nil {
				be.Send(&pgproto3.AuthenticationCleartextPassword{})
				_ = be.Flush()
				_, _ = be.Receive()
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "vmmpm"`})
				_ = be.Flush()
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// TestErrorSentences: each way of failing to open is one sentence naming the address and what to
// do, without the password.
func TestErrorSentences(t *testing.T) {
	const pw = "Sup3rSecretPw"
	cfg, err := pgx.ParseConfig(pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	server := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	at := func(host, user, database string) string {
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=20", user, pw, host, database)
	}
	for _, c := range []struct {
		name, url string
		want      []string
	}{
		{"unreachable", at(closedPort(t), "vmmpm", "vmmpm"), []string{"cannot reach PostgreSQL at 127.0.0.1:", "connection refused", "VMMPM_DB"}},
		{"wrong password", at(refusePassword(t), "vmmpm", "vmmpm"), []string{"refused user \"vmmpm\"", "password"}},
		{"unknown user", at(server, "nosuchuser", "postgres"), []string{"refused user \"nosuchuser\"", "does not exist"}},
		{"missing database", at(server, "postgres", "nosuchdb"), []string{"has no database \"nosuchdb\"", "createdb nosuchdb"}},
		{"bad address", "postgres://vmmpm:" + pw + "@127.0.0.1:notaport/db", []string{"not a PostgreSQL address", "postgres://user:password@host:port/database"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := pgkv.Open(context.Background(), c.url, pgkv.Options{})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
				t.Errorf("the sentence shows the password: %q", msg)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Errorf("not one sentence: %q", msg)
			}
		})
	}
}

// TestServerStopsAnswering: the server's process freezes mid-Update (a host gone without closing
// its connections): the Update fails within the statement timeout plus grace, it does not hang.
func TestServerStopsAnswering(t *testing.T) {
	url := pgtest.URL(t)
	fill(t, open(t, url)) // by another handle: the frozen one's reads go to the server
	db, err := pgkv.Open(context.Background(), url, pgkv.Options{StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx kv.Tx) error {
		pg, _ := pgkv.SQL(tx)
		pid := int(pg.Conn().PgConn().PID())
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("freeze backend %d: %v", pid, err)
		}
		defer syscall.Kill(pid, syscall.SIGCONT)
		if v := tx.Bucket([]byte("b")).Get([]byte("before")); v != nil {
			t.Errorf("Get from a frozen server = %q", v)
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 6s") {
		t.Fatalf("Update on a frozen server: %v, want a sentence saying it did not answer", err)
	}
}

// TestPairsLeaveRoom: kv_pairs is made with room in its pages for HOT updates, and a table made
// before without it is given it at the next Open, its pairs kept.
func TestPairsLeaveRoom(t *testing.T) {
	url := pgtest.URL(t)
	options := func(db *pgkv.DB) []string {
		t.Helper()
		var opts []string
		err := db.Pool().QueryRow(context.Background(),
			`SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = 'kv_pairs'::regclass`).Scan(&opts)
		if err != nil {
			t.Fatal(err)
		}
		return opts
	}
	db := open(t, url)
	if got := options(db); !slices.Equal(got, []string{"fillfactor=70"}) {
		t.Fatalf("a new kv_pairs has options %q, want fillfactor=70", got)
	}
	fill(t, db)
	if _, err := db.Pool().Exec(context.Background(), `ALTER TABLE kv_pairs RESET (fillfactor)`); err != nil {
		t.Fatal(err)
	}
	if got := options(db); len(got) != 0 {
		t.Fatalf("the older table still has options %q", got)
	}
	again := open(t, url)
	if got := options(again); !slices.Equal(got, []string{"fillfactor=70"}) {
		t.Fatalf("Open left an older kv_pairs with options %q, want fillfactor=70", got)
	}
	err := again.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("before")); string(v) != "v" {
			return fmt.Errorf("the pair written before reads %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNotOwnerOpens: a role that may write the tables but does not own them opens a kv_pairs made
// without the fillfactor, leaving it as it is.
func TestNotOwnerOpens(t *testing.T) {
	url := pgtest.URL(t)
	owner := open(t, url)
	fill(t, owner)
	ctx := context.Background()
	role := fmt.Sprintf("pgkv_writer_%d", time.Now().UnixNano())
	var schema string
	if err := owner.Pool().QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`ALTER TABLE kv_pairs RESET (fillfactor)`,
		`CREATE ROLE ` + role + ` LOGIN PASSWORD 'writer-pw'`,
		`GRANT USAGE, CREATE ON SCHEMA ` + schema + ` TO ` + role,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ` + schema + ` TO ` + role,
	} {
		if _, err := owner.Pool().Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() { // before the schema goes (cleanups run last first)
		if _, err := owner.Pool().Exec(ctx, `DROP OWNED BY `+role+`; DROP ROLE `+role); err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.UserPassword(role, "writer-pw")
	writer, err := pgkv.Open(ctx, u.String(), pgkv.Options{})
	if err != nil {
		t.Fatalf("a writer that does not own kv_pairs cannot open it: %v", err)
	}
	defer writer.Close()
	err = writer.Update(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("b"))
		if v := b.Get([]byte("before")); string(v) != "v" {
			return fmt.Errorf("the pair written before reads %q", v)
		}
		return b.Put([]byte("after"), []byte("w"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteCheck: the check runs in every Update's first round trip (its rows reach the verdict), not
// in a View; a verdict's error fails the Update as it is, before its function runs, writing nothing.
func TestWriteCheck(t *testing.T) {
	db := open(t, pgtest.URL(t))
	if err := db.Update(func(tx kv.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("fenced")
	var checks int
	var seen string
	var no error
	db.SetWriteCheck(func() (string, func([][][]byte) error) {
		checks++
		return "SELECT 'x' || 7", func(rows [][][]byte) error {
			seen = fmt.Sprintf("%d %s", len(rows), rows[0][0])
			return no
		}
	})
	if err := db.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(kv.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if checks != 1 || seen != "1 x7" {
		t.Fatalf("%d checks, verdict saw %q; want 1 (the Update's, not the View's) and the row x7", checks, seen)
	}
	no = refuse
	ran := false
	err := db.Update(func(tx kv.Tx) error { ran = true; return tx.Bucket([]byte("b")).Put([]byte("k"), []byte("2")) })
	if !errors.Is(err, refuse) || err.Error() != "fenced" || ran {
		t.Fatalf("refused Update: %v (ran its function: %v); want the verdict's own error, before the function", err, ran)
	}
	db.SetWriteCheck(nil)
	if err := db.View(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("b")).Get([]byte("k")); string(v) != "1" {
			t.Errorf("after the refusal k = %q, want 1", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
