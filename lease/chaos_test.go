package lease

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"vmmpm/internal/pgtest"
)

// chaosEnv, set to a schema's address, makes the test binary a chaos engine instead of the tests.
const chaosEnv = "VMMPM_LEASE_CHAOS_ENGINE"

const chaosTTL = time.Second

func init() {
	if url := os.Getenv(chaosEnv); url != "" {
		os.Exit(chaosEngine(url))
	}
}

// chaosEngine works every lane it holds, recording each run (start and finish, each in its guarded
// transaction) in runs, until SIGTERM (Leave) or a minute passes.
func chaosEngine(url string) int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return 2
	}
	e, err := Join(ctx, pool, Options{Host: "chaos", PID: os.Getpid(), Version: "test",
		TTL: chaosTTL, RenewEvery: chaosTTL / 4, PollEvery: 100 * time.Millisecond})
	if err != nil {
		return 2
	}
	e.Start()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		select {
		case <-term:
			if e.Leave(ctx) != nil {
				return 1
			}
			return 0
		default:
		}
		held := e.Held()
		if len(held) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		for _, h := range held {
			if err := chaosRun(ctx, pool, e, h); err != nil && !errors.Is(err, ErrFenced) && !errors.Is(err, ErrBusy) {
				return 1
			}
		}
	}
	return 0
}

// chaosRun resumes a job another engine left in the lane, or starts a new one, and finishes it.
func chaosRun(ctx context.Context, pool *pgxpool.Pool, e *Engine, h Held) error {
	var run, job int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		left, err := RunningIn(ctx, tx, h.Lane)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			job = left[0].Job
			err = e.ResumeJob(ctx, tx, h, job)
		} else if err = tx.QueryRow(ctx, `SELECT nextval('chaos_jobs')`).Scan(&job); err == nil {
			err = e.StartJob(ctx, tx, h, job, job)
		}
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO runs (module_id, queue_key, job_id, epoch, engine, started_at)
			VALUES ($1, $2, $3, $4, $5, clock_timestamp()) RETURNING id`, h.Module, h.Key, job, h.Epoch, e.ID()).Scan(&run)
	})
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // the operation
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := e.FinishJob(ctx, tx, h, job); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE runs SET finished_at = clock_timestamp() WHERE id = $1`, run)
		return err
	})
}

// TestChaosThreeProcesses: three engines as processes of their own work 6 lanes while they are
// killed (SIGKILL, then replaced) and frozen past their lease (SIGSTOP); no two finished runs in one
// lane ever overlap in database time, and jobs keep finishing.
func TestChaosThreeProcesses(t *testing.T) {
	url := pgtest.URL(t)
	pool := pgtest.Open(t, url)
	ctx := context.Background()
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE SEQUENCE chaos_jobs;
		CREATE TABLE runs (id bigserial PRIMARY KEY, module_id bigint, queue_key text, job_id bigint,
			epoch bigint, engine bigint, started_at timestamptz, finished_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	addLanes(t, pool, 1, 6)
	spawn := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), chaosEnv+"="+url)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	procs := []*exec.Cmd{spawn(), spawn(), spawn()}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	finished := func() (n int) {
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM runs WHERE finished_at IS NOT NULL`).Scan(&n)
		return n
	}
	waitFor(t, "the engines finish their first jobs", func() bool { return finished() > 30 })
	rng := rand.New(rand.NewPCG(25, 3))
	kills, stops := 0, 0
	for fault := range 8 {
		i := rng.IntN(len(procs))
		before := finished()
		if fault%2 == 0 {
			_ = procs[i].Process.Kill()
			_ = procs[i].Wait()
			procs[i] = spawn()
			kills++
		} else {
			_ = procs[i].Process.Signal(syscall.SIGSTOP)
			time.Sleep(2 * chaosTTL) // frozen past its lease: the point of the fault, not a wait for a result
			_ = procs[i].Process.Signal(syscall.SIGCONT)
			stops++
		}
		waitFor(t, "jobs finish again after the fault", func() bool { return finished() > before+10 })
	}
	waitFor(t, "every lane held and run under its newest epoch", func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM lanes l WHERE l.lease_until > clock_timestamp() AND EXISTS (
			SELECT 1 FROM runs r WHERE r.module_id = l.module_id AND r.queue_key = l.queue_key
				AND r.epoch = l.epoch AND r.finished_at IS NOT NULL)`).Scan(&n)
		return n == 6
	})
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("engine %d after SIGTERM: %v", p.Process.Pid, err)
		}
	}
	procs = nil

	var overlaps, runs, fencedRuns int
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM runs a JOIN runs b ON a.module_id = b.module_id AND a.queue_key = b.queue_key AND a.id < b.id
		 WHERE a.finished_at IS NOT NULL AND b.finished_at IS NOT NULL
		   AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)),
		(SELECT count(*) FROM runs WHERE finished_at IS NOT NULL),
		(SELECT count(*) FROM runs WHERE finished_at IS NULL)`).Scan(&overlaps, &runs, &fencedRuns); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills, %d freezes: %d runs finished, %d left unfinished (killed or fenced)", kills, stops, runs, fencedRuns)
	if overlaps != 0 {
		t.Errorf("%d pairs of runs overlapped in one lane", overlaps)
	}
	var stuck int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM running`).Scan(&stuck); err != nil || stuck != 0 {
		t.Errorf("%d operations still recorded as running after every engine left (%v)", stuck, err)
	}
}
