package lease

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrFenced matches every *FencedError.
var ErrFenced = errors.New("lease: fenced")

// FencedError refuses a job transition made under a lease this engine no longer holds: another
// engine claimed the lane since (a newer epoch), the lane was released, or the lease lapsed. The
// transaction must be rolled back and the lane's work left to its holder.
type FencedError struct {
	Lane    Lane
	Epoch   int64 // the epoch the transition carried
	Current int64 // the lane's epoch now
	Reason  string
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("%s: the lease of epoch %d %s; this engine must leave the lane to its holder", e.Lane, e.Epoch, e.Reason)
}

func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// ErrBusy matches every *BusyError.
var ErrBusy = errors.New("lease: busy")

// BusyError refuses a start: an operation already runs in the lane or on the service.
type BusyError struct {
	Lane    Lane
	Service int64
	Job     int64 // the job asked to start
	Running int64 // the job that runs
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("job %d cannot start: job %d is running in %s or on service %d; it starts when that one ends", e.Job, e.Running, e.Lane, e.Service)
}

func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Guard checks, inside tx, that this engine still holds lane h under its epoch and that the lease
// has not lapsed (database time), and keeps the lane row share-locked until tx ends, so no claim or
// release can slip in between the check and the commit. Every transaction that starts or finishes a
// job calls it (StartJob, FinishJob and ResumeJob do); one that guards several lanes guards them in key order.
func (e *Engine) Guard(ctx context.Context, tx pgx.Tx, h Held) error {
	var holder *int64
	var epoch int64
	var valid bool
	err := tx.QueryRow(ctx, e.GuardSQL(h)).Scan(&holder, &epoch, &valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return unknownLane(h)
	}
	if err != nil {
		return fmt.Errorf("lease: guard %s: %w", h.Lane, err)
	}
	return e.verdict(h, holder, epoch, valid)
}

// GuardSQL is Guard's statement for lane h with its values written in, for a transaction that sends
// it in the round trip that begins it (pgkv's WriteCheck); GuardRows judges its answer as Guard does.
func (e *Engine) GuardSQL(h Held) string {
	return fmt.Sprintf(`SELECT holder, epoch, lease_until > clock_timestamp() FROM lanes WHERE module_id = %d AND queue_key = '%s' FOR SHARE`,
		h.Module, strings.ReplaceAll(h.Key, "'", "''"))
}

// GuardRows is Guard's verdict on the rows GuardSQL(h) answered, as text.
func (e *Engine) GuardRows(h Held, rows [][][]byte) error {
	if len(rows) == 0 {
		return unknownLane(h)
	}
	r := rows[0]
	if len(r) != 3 {
		return fmt.Errorf("lease: guard %s: %d columns answered, want 3", h.Lane, len(r))
	}
	var holder *int64
	if r[0] != nil {
		id, err := strconv.ParseInt(string(r[0]), 10, 64)
		if err != nil {
			return fmt.Errorf("lease: guard %s: holder %q: %w", h.Lane, r[0], err)
		}
		holder = &id
	}
	epoch, err := strconv.ParseInt(string(r[1]), 10, 64)
	if err != nil {
		return fmt.Errorf("lease: guard %s: epoch %q: %w", h.Lane, r[1], err)
	}
	return e.verdict(h, holder, epoch, string(r[2]) == "t")
}

// GuardAllSQL is GuardSQL of several lanes in one statement, locking them in key order (as Renew
// does, so the two never deadlock): an engine running several lanes guards each transaction by all
// of them. GuardAllRows judges its answer.
func (e *Engine) GuardAllSQL(hs []Held) string {
	hs = sortedHeld(hs)
	var in strings.Builder
	for i, h := range hs {
		if i > 0 {
			in.WriteString(", ")
		}
		fmt.Fprintf(&in, "(%d, '%s')", h.Module, strings.ReplaceAll(h.Key, "'", "''"))
	}
	if len(hs) == 0 {
		in.WriteString("(NULL, NULL)")
	}
	return `SELECT module_id, queue_key, holder, epoch, lease_until > clock_timestamp() FROM lanes WHERE (module_id, queue_key) IN (` +
		in.String() + `) ORDER BY module_id, queue_key FOR SHARE`
}

// GuardAllRows is the verdict on the rows GuardAllSQL(hs) answered: nil when every lane is held
// under its epoch, else the first lane's (in key order) *FencedError.
func (e *Engine) GuardAllRows(hs []Held, rows [][][]byte) error {
	got := make(map[Lane][][]byte, len(rows))
	for _, r := range rows {
		if len(r) != 5 {
			return fmt.Errorf("lease: guard: %d columns answered, want 5", len(r))
		}
		m, err := strconv.ParseInt(string(r[0]), 10, 64)
		if err != nil {
			return fmt.Errorf("lease: guard: module %q: %w", r[0], err)
		}
		got[Lane{Module: m, Key: string(r[1])}] = r[2:]
	}
	for _, h := range sortedHeld(hs) {
		r, ok := got[h.Lane]
		if !ok {
			return unknownLane(h)
		}
		if err := e.GuardRows(h, [][][]byte{r}); err != nil {
			return err
		}
	}
	return nil
}

// sortedHeld is hs in key order.
func sortedHeld(hs []Held) []Held {
	out := slices.Clone(hs)
	slices.SortFunc(out, func(a, b Held) int {
		return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Key, b.Key))
	})
	return out
}

func unknownLane(h Held) error {
	return &FencedError{Lane: h.Lane, Epoch: h.Epoch, Reason: "is of a lane the database does not know"}
}

// verdict is Guard's judgement of lane h's row: held by this engine, under h's epoch, unlapsed.
func (e *Engine) verdict(h Held, holder *int64, epoch int64, valid bool) error {
	fenced := &FencedError{Lane: h.Lane, Epoch: h.Epoch, Current: epoch}
	switch {
	case epoch != h.Epoch:
		fenced.Reason = fmt.Sprintf("is stale: the lane was claimed again (epoch %d)", epoch)
	case holder == nil || *holder != e.id:
		fenced.Reason = "was released"
	case !valid:
		fenced.Reason = "lapsed before it was renewed"
	default:
		return nil
	}
	return fenced
}

// StartJob records, inside the transaction that marks the job running, that job runs on service in
// lane h: refused with a *FencedError under a stale lease and with a *BusyError when another job
// runs in the lane or on the service, whichever engine runs it. The transaction stays usable
// after a refusal.
func (e *Engine) StartJob(ctx context.Context, tx pgx.Tx, h Held, service, job int64) error {
	if err := e.Guard(ctx, tx, h); err != nil {
		return err
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO running (job_id, service_id, module_id, queue_key, epoch)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING job_id`,
		job, service, h.Module, h.Key, h.Epoch).Scan(&id)
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	busy := &BusyError{Lane: h.Lane, Service: service, Job: job}
	err = tx.QueryRow(ctx, `SELECT job_id FROM running WHERE (module_id = $1 AND queue_key = $2) OR service_id = $3 OR job_id = $4
		LIMIT 1`, h.Module, h.Key, service, job).Scan(&busy.Running)
	if err != nil {
		return fmt.Errorf("lease: start job %d: %w", job, err)
	}
	return busy
}

// FinishJob removes job from the running operations inside the transaction that records its end;
// refused with a *FencedError under a stale lease (the lane's new holder resumes the job).
func (e *Engine) FinishJob(ctx context.Context, tx pgx.Tx, h Held, job int64) error {
	if err := e.Guard(ctx, tx, h); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM running WHERE job_id = $1 AND module_id = $2 AND queue_key = $3 AND epoch = $4`,
		job, h.Module, h.Key, h.Epoch)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("lease: job %d is not running in %s under epoch %d: resume it first", job, h.Lane, h.Epoch)
	}
	return nil
}

// Running is an operation recorded as running.
type Running struct {
	Job, Service int64
	Lane         Lane
	Epoch        int64
}

// RunningIn lists the operations recorded as running in lane l: after a claim, those under an
// older epoch were interrupted on another engine and are resumed (ResumeJob) as crash recovery does.
func RunningIn(ctx context.Context, db DB, l Lane) ([]Running, error) {
	var out []Running
	err := scanEach(ctx, db, func(r pgx.Rows) error {
		x := Running{Lane: l}
		err := r.Scan(&x.Job, &x.Service, &x.Epoch)
		out = append(out, x)
		return err
	}, `SELECT job_id, service_id, epoch FROM running WHERE module_id = $1 AND queue_key = $2 ORDER BY job_id`, l.Module, l.Key)
	return out, err
}

// ResumeJob takes over an interrupted job in lane h: it runs under h's epoch from now on, and the
// engine that started it can no longer finish it.
func (e *Engine) ResumeJob(ctx context.Context, tx pgx.Tx, h Held, job int64) error {
	if err := e.Guard(ctx, tx, h); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE running SET epoch = $4 WHERE job_id = $1 AND module_id = $2 AND queue_key = $3`,
		job, h.Module, h.Key, h.Epoch)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("lease: job %d is not running in %s: nothing to resume", job, h.Lane)
	}
	return nil
}
