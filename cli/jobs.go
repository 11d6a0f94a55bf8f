package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/server"
	"vmmpm/store"
)

type jobsFlags struct {
	state  string
	module uint64
	limit  int
	since  time.Duration
	follow bool
	asJSON bool
}

func newJobsCmd(a *app) *cobra.Command {
	var f jobsFlags
	c := &cobra.Command{
		Use:   "jobs [--state S] [--module ID] [--since 2h] [--limit N] [--follow] [--json]",
		Short: "List VPS operations (jobs); --follow prints each change the server makes",
		Long: "Lists jobs, oldest first. --state is one of " + strings.Join(store.JobStates, ", ") + ".\n" +
			"--follow then prints a line for every job change the vmmpm server's engine makes, until\n" +
			"interrupted (with --json one JSON object per line). It only watches: with no server running it\n" +
			"waits for one, and when the server stops it waits and goes on from the last change it printed.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			if f.state != "" && !slices.Contains(store.JobStates, f.state) {
				return usagef("--state must be one of %s, got %q", strings.Join(store.JobStates, ", "), f.state)
			}
			if f.limit < 0 || f.since < 0 {
				return usagef("--limit and --since must not be negative")
			}
			return a.jobs(c.Context(), f)
		},
	}
	c.AddCommand(jobActionCmd(a, "retry", "Queue failed jobs again with fresh attempts", backend.Backend.Retry),
		jobActionCmd(a, "cancel", "Cancel jobs: queued, waiting to retry, or running (the engine stops waiting for VMmanager)", backend.Backend.Cancel))
	c.Flags().StringVar(&f.state, "state", "", "only jobs in this state")
	c.Flags().Uint64Var(&f.module, "module", 0, "only jobs of this module id")
	c.Flags().IntVar(&f.limit, "limit", 0, "only the newest N jobs that match (0: all)")
	c.Flags().DurationVar(&f.since, "since", 0, "only jobs enqueued within this long (e.g. 30m, 2h)")
	c.Flags().BoolVar(&f.follow, "follow", false, "print each job change the server makes until interrupted (waits for a server)")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print JSON")
	return c
}

func (f jobsFlags) query() backend.JobQuery {
	q := backend.JobQuery{State: f.state, Module: f.module, Limit: f.limit}
	if f.since > 0 {
		q.Since = time.Now().Add(-f.since)
	}
	return q
}

func (a *app) jobs(ctx context.Context, f jobsFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	b, err := a.backendOn(a.openForReading)
	if err != nil {
		return err
	}
	defer b.Close()
	jl, err := b.Jobs(ctx, f.query())
	if err != nil {
		return err
	}
	rows, names := jl.Jobs, jl.Names.Modules
	line := func(j *store.Job) string { return strings.Join(jobCells(j, names), "\t") }
	if !f.follow {
		return printList(a.stdout, f.asJSON, rows, strings.Join(jobColumns, "\t"), line)
	}
	if !f.asJSON {
		if err := printList(a.stdout, false, rows, strings.Join(jobColumns, "\t"), line); err != nil {
			return err
		}
	}
	c, _ := b.(*server.Client)
	if c == nil {
		b.Close() // the database opened here for the listing: a server starting now must be able to take it
	}
	return a.followJobs(ctx, c, f, names, rows)
}

// sharedReader is this process reading a shared database itself, which keeps no engine out, or nil
// for a file (or when the database does not open: the follower then only waits for a server).
func (a *app) sharedReader() *sharedFeed {
	if !store.IsServer(a.dbPath) {
		return nil
	}
	db, err := a.openForReading()
	if err != nil {
		return nil
	}
	l := backend.NewLocal(db, store.NewKeyring(), nil, version)
	l.OwnsDB = true
	return &sharedFeed{b: l, db: db}
}

// sharedFeed is a follower's catch-ups on a shared database, made only when the database's write
// generation moved since the last good one: a quiet database costs one small query a poll, and a
// busy one the jobs its feed names.
type sharedFeed struct {
	b    backend.Backend // reads db
	db   *store.DB
	gen  uint64
	seen bool // gen is what the last good catch-up read after
	// at is the job feed's row the last catch-up read to (store.ReadFeed), when fed: a catch-up then
	// reads only the jobs the feed names since, not every unfinished job shown
	at    uint64
	fed   bool
	whole time.Time // the last catch-up that read everything
	woken <-chan struct{}
	pace  backend.Pacer // the catch-ups a wake-up makes
}

func (s *sharedFeed) catchUp(ctx context.Context, fw *follower) {
	gen, ok := backend.Generation(ctx, s.db)
	if ok && s.seen && gen == s.gen {
		return
	}
	start := time.Now()
	defer func() { s.pace.Read(start) }()
	if s.fed && time.Since(s.whole) < queue.FollowWhole { // and whole now and then: a vmmpm older than the feed writes no rows
		if jobs, at, fed, err := backend.JobsChanged(s.db, s.at); fed {
			for i := range jobs {
				fw.show(&jobs[i])
			}
			s.at, s.gen, s.seen = at, gen, ok
			return
		} else if err != nil {
			s.fed = false // read everything below, which says what it cannot read
		}
	}
	at, err := backend.FeedAt(s.db) // before reading everything: what commits meanwhile is read again, not missed
	fw.catchUp(ctx, s.b)
	s.gen, s.seen = gen, ok && !fw.missed
	s.at, s.fed, s.whole = at, err == nil && !fw.missed, time.Now()
}

// wake is woken by every host's commits (backend.Watch), listening from the first call on.
func (s *sharedFeed) wake(ctx context.Context) <-chan struct{} {
	if s.woken == nil {
		s.woken = backend.Watch(ctx, s.db)
	}
	return s.woken
}

func (s *sharedFeed) Close() error { return s.b.Close() }

var jobColumns = []string{"ID", "SERVICE", "TYPE", "MODULE", "QUEUE KEY", "STATE", "ATTEMPT", "ENQUEUED", "LAST"}

// jobCells are a job's columns; the module is named beside its id.
func jobCells(j *store.Job, modules map[uint64]string) []string {
	last := j.Error
	if last == "" && len(j.Log) > 0 {
		last = j.Log[len(j.Log)-1].Text
	}
	return []string{strconv.FormatUint(j.ID, 10), strconv.FormatUint(j.ServiceID, 10), j.Type,
		named(j.ModuleID, modules), dash(j.QueueKey), j.State, fmt.Sprintf("%d/%d", j.Attempt, j.MaxAttempts),
		j.EnqueuedAt.Local().Format("2006-01-02 15:04:05"), dash(last)}
}

// followWidths are --follow's column widths: lines come one at a time, so they cannot be measured.
var followWidths = []int{8, 7, 7, 11, 18, 14, 10, 7, 19, 0}

// followRow lays cells out under followWidths.
func followRow(cells ...string) string {
	var b strings.Builder
	for i, c := range cells {
		if w := followWidths[i]; w > 0 && i < len(cells)-1 {
			fmt.Fprintf(&b, "%-*s ", w, cutTo(c, w))
			continue
		}
		b.WriteString(c)
	}
	return strings.TrimRight(b.String(), " ")
}

// followJobs prints job changes matching f until interrupted, from the events of the server holding
// the database. It only ever watches: with no server (c nil), or after the server stopped (or was
// killed), it waits for one to answer and goes on from the last event it printed, after catching up
// on what changed while nothing was heard (listed: what the listing above showed). Meanwhile, on a
// shared database, it reads every host's job changes from the database every FollowPoll: a standby
// host's server serves no socket until it runs the engine.
func (a *app) followJobs(ctx context.Context, c *server.Client, f jobsFlags, names map[uint64]string, listed []*store.Job) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fw := newFollower(a, f, names)
	for _, j := range listed {
		fw.fresh(j)
	}
	if !f.asJSON {
		fmt.Fprintln(a.stdout, followRow(append([]string{"TIME"}, jobColumns...)...))
	}
	var since uint64
	var shared *sharedFeed
	for ctx.Err() == nil {
		if c == nil {
			var first uint64
			if shared == nil {
				if shared = a.sharedReader(); shared != nil {
					defer shared.Close()
				}
			}
			if c, first = a.waitForServer(ctx, shared, fw); c == nil {
				break
			}
			fw.catchUp(ctx, c)          // what changed while no server was heard (another engine may have run)
			since = max(since, first-1) // then everything this server did, from its first event
		}
		events, err := c.Events(ctx, since, false)
		for err == nil {
			ev, ok := <-events
			if !ok {
				break
			}
			since = ev.Seq
			switch {
			case ev.Reset && ev.Job == nil:
				fw.catchUp(ctx, c)
			case ev.Kind == queue.JobChanged:
				fw.show(ev.Job)
			}
		}
		c.Close()
		c = nil
		if ctx.Err() == nil {
			fmt.Fprintln(a.stderr, "vmmpm: the vmmpm server stopped; waiting for it to come back (Ctrl+C stops)")
		}
	}
	return nil
}

// follower prints the changes --follow shows, each once: it keeps what it last showed of every job
// (its mark), so a change heard twice (an event after a catch-up that read it already) prints once.
type follower struct {
	a      *app
	q      backend.JobQuery
	json   *json.Encoder
	names  map[uint64]string
	marks  map[uint64]jobMark
	maxID  uint64 // the newest job seen: a catch-up shows older jobs only when it has seen them
	missed bool   // the last catch-up failed, and said so
}

// jobMark is what a line shows of a job, and when its newest log line was written: a change heard
// after a newer one (an event a catch-up had already read past) is older, and not shown.
type jobMark struct {
	state, last string
	at          time.Time
}

// followMarks bounds the marks kept: past it, finished jobs' marks are dropped.
const followMarks = 100_000

// followCatchUp is how many of the newest jobs a catch-up reads, besides the unfinished jobs seen.
const followCatchUp = 1000

func newFollower(a *app, f jobsFlags, names map[uint64]string) *follower {
	q := f.query()
	q.Since, q.Limit = time.Time{}, 0 // they choose the listing above; every change from now on is shown
	fw := &follower{a: a, q: q, names: names, marks: map[uint64]jobMark{}}
	if f.asJSON {
		fw.json = json.NewEncoder(a.stdout)
	}
	return fw
}

// fresh records j and reports whether it shows something not shown before.
func (fw *follower) fresh(j *store.Job) bool {
	m := jobMark{state: j.State, last: fmt.Sprint(j.Attempt, j.Error)}
	if n := len(j.Log); n > 0 {
		m.last, m.at = m.last+j.Log[n-1].Text, j.Log[n-1].At
	}
	if old, ok := fw.marks[j.ID]; ok && (old.state == m.state && old.last == m.last && old.at.Equal(m.at) || m.at.Before(old.at)) {
		return false
	}
	if len(fw.marks) >= followMarks {
		for id, old := range fw.marks {
			if store.Finished(old.state) {
				delete(fw.marks, id)
			}
		}
		if len(fw.marks) >= followMarks/2 { // mostly unfinished: start afresh rather than sweep at every change
			clear(fw.marks)
		}
	}
	fw.marks[j.ID] = m
	fw.maxID = max(fw.maxID, j.ID)
	return true
}

// show prints j's change once, when it matches the filter.
func (fw *follower) show(j *store.Job) {
	if !fw.fresh(j) || !fw.q.Match(j) {
		return
	}
	if fw.json != nil {
		_ = fw.json.Encode(j)
		return
	}
	fmt.Fprintln(fw.a.stdout, followRow(append([]string{time.Now().Format("15:04:05")}, jobCells(j, fw.names)...)...))
}

// catchUp shows what changed while no events were heard (a server killed, another engine run
// meanwhile, or this stream fallen behind): the newest jobs, and every job last seen unfinished.
func (fw *follower) catchUp(ctx context.Context, b backend.Backend) {
	jl, err := b.Jobs(ctx, backend.JobQuery{Limit: followCatchUp})
	if err != nil {
		if !fw.missed { // said once until a catch-up succeeds: a database read every second fails alike
			fmt.Fprintln(fw.a.stderr, "vmmpm: job changes were missed while this was not connected; vmmpm jobs lists every job as it is now")
		}
		fw.missed = true
		return
	}
	fw.missed = false
	read := map[uint64]bool{}
	newest := fw.maxID
	for _, j := range jl.Jobs {
		read[j.ID] = true
		if _, seen := fw.marks[j.ID]; seen || j.ID > newest {
			fw.show(j)
		}
	}
	var open []uint64
	for id, m := range fw.marks {
		if !read[id] && !store.Finished(m.state) {
			open = append(open, id)
		}
	}
	slices.Sort(open)
	for _, id := range open {
		if d, err := b.JobDetail(ctx, id); err == nil {
			fw.show(&d.Job)
		}
	}
}

// FollowPoll is how often jobs --follow looks for a server while none answers.
var FollowPoll = time.Second

// waitForServer returns a client of the server holding the database once one answers, with the
// number of its first event, or nil when ctx ends first. It never opens the database, so it cannot
// keep a starting server out; on a shared database it shows meanwhile what shared reads there.
func (a *app) waitForServer(ctx context.Context, shared *sharedFeed, fw *follower) (c *server.Client, firstEvent uint64) {
	said := false
	for {
		if c, info, err := a.attach(ctx); err == nil && c != nil {
			if said {
				fmt.Fprintln(a.stderr, "vmmpm: the vmmpm server answers; following its job changes")
			}
			return c, info.FirstEvent
		}
		switch {
		case !said && shared != nil:
			fmt.Fprintf(a.stderr, "vmmpm: no vmmpm server answers on %s (a standby serves none); following every host's "+
				"job changes in %s as they are committed, until it does (Ctrl+C stops)\n", a.socketPath(), store.Redact(a.dbPath))
		case !said:
			fmt.Fprintf(a.stderr, "vmmpm: no vmmpm server answers on %s, and only a server's engine changes jobs here; "+
				"waiting for vmmpm serve (Ctrl+C stops)\n", a.socketPath())
		}
		said = true
		var wake <-chan struct{}
		if shared != nil {
			shared.catchUp(ctx, fw)
			wake = shared.wake(ctx)
		}
		select {
		case <-ctx.Done():
			return nil, 0
		case <-time.After(FollowPoll):
		case <-wake:
			if !shared.pace.Wait(ctx) {
				return nil, 0
			}
		}
	}
}

// jobActionCmd is `jobs retry ID…` / `jobs cancel ID…`, the jobs pane's r and c keys. A retry of a job
// VMmanager refused for good asks first (--yes answers).
func jobActionCmd(a *app, verb, short string, act func(backend.Backend, context.Context, uint64) error) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   verb + " ID…",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give one or more job ids; see vmmpm jobs")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return a.withEnqueuer(func(b backend.Backend) error {
				for _, id := range ids {
					if verb == "retry" && !yes {
						if err := a.askRetry(c.Context(), b, id); err != nil {
							return err
						}
					}
					if err := act(b, c.Context(), id); err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "job %d: %s\n", id, map[string]string{"retry": "queued again", "cancel": "cancelled"}[verb])
					if d, err := b.JobDetail(c.Context(), id); verb == "cancel" && err == nil && strings.HasPrefix(d.Job.Error, queue.CancelledRunning) {
						fmt.Fprintf(a.stdout, "  %s\n", d.Job.Error) // cancelled while running: what VMmanager may still do
					}
				}
				return nil
			})
		},
	}
	if verb == "retry" {
		c.Flags().BoolVar(&yes, "yes", false, "retry jobs VMmanager refused for good without asking")
	}
	return c
}

// askRetry quotes VMmanager's refusal of job id, if it refused it for good, and asks whether to retry
// it all the same: y/N on a terminal; elsewhere it refuses, since only --yes can answer.
func (a *app) askRetry(ctx context.Context, b backend.Backend, id uint64) error {
	d, err := b.JobDetail(ctx, id)
	if err != nil || d.Refusal == "" {
		return nil // the retry itself says what is wrong with the id
	}
	if !isTerminal(a.stdin) {
		return usagef("job %d was refused by VMmanager for good (%q), so a retry is likely refused again; fix the cause, then run the same command with --yes", id, d.Refusal)
	}
	fmt.Fprintf(a.stdout, "Job %d was refused by VMmanager for good: %q\nRetry it anyway? [y/N] ", id, d.Refusal)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if answer := strings.ToLower(strings.TrimSpace(line)); answer != "y" && answer != "yes" {
		return usagef("job %d was not retried", id)
	}
	return nil
}
