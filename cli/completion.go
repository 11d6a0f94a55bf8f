package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
)

// Shell completion (cobra's `vmmpm completion bash|zsh|fish|powershell`): record ids offered with
// their names as descriptions ("12\tmsk-1 small a@b.c"), read from the server when one runs, else
// from the database opened read-only; never an engine, never a long wait on a held lock.

// completeWait bounds what one completion may wait for a server or the database's lock.
const completeWait = time.Second

// completeJobs is how many of the newest jobs a completion offers.
const completeJobs = 200

// what a completion offers: each kind's candidates, "ID\tdescription".
type candidates func(ctx context.Context, b backend.Backend, c *cobra.Command) ([]string, error)

// idKinds are the command groups whose ID arguments name one kind of record.
var idKinds = map[string]candidates{
	"service": serviceCandidates, "module": moduleCandidates, "tariff": tariffCandidates, "jobs": jobCandidates,
	"tasks": taskCandidates, "datacenter": recordsOf(func(d *store.DataCenter) string { return d.Name }),
	"department": recordsOf(func(d *store.Department) string { return d.Name }),
}

// flagKinds are the flags that name a record, wherever they are.
var flagKinds = map[string]candidates{
	"service": serviceCandidates, "module": moduleCandidates, "tariff": tariffCandidates, "client": clientCandidates,
}

// addCompletions gives every command taking record ids, and every flag naming a record, its
// completion; the commands stay as they are written.
func addCompletions(root *cobra.Command, a *app) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasParent() {
			return
		}
		if kind, ok := idKinds[c.Parent().Name()]; ok && c.ValidArgsFunction == nil {
			if arg := firstArg(c.Use); arg == "ID" || arg == "ID…" {
				c.ValidArgsFunction = a.completion(kind, arg == "ID…")
			}
		}
		for name, kind := range flagKinds {
			if c.LocalNonPersistentFlags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, a.completion(kind, true))
			}
		}
		if c.LocalNonPersistentFlags().Lookup("state") != nil {
			_ = c.RegisterFlagCompletionFunc("state", cobra.FixedCompletions(store.JobStates, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	walk(root)
}

// firstArg is the first word of use after the command's name that is not a flag.
func firstArg(use string) string {
	for _, w := range strings.Fields(use)[1:] {
		if !strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "[") {
			return w
		}
	}
	return ""
}

// completion offers kind's candidates that start with what is typed and are not given already; a
// command taking one id offers nothing once it has it. A failure offers nothing, silently.
func (a *app) completion(kind candidates, many bool) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, typed string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if !many && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(context.Background(), completeWait)
		defer cancel()
		b, err := a.completionBackend(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer b.Close()
		all, err := kind(ctx, b, c)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, cand := range all {
			id, _, _ := strings.Cut(cand, "\t")
			if strings.HasPrefix(id, typed) && !slices.Contains(args, id) {
				out = append(out, cand)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionBackend is the server holding the database, or the database opened read-only here.
func (a *app) completionBackend(ctx context.Context) (backend.Backend, error) {
	if c, _, err := a.attach(ctx); err != nil || c != nil {
		return c, err
	}
	db, err := store.Open(a.dbPath, store.Options{MustExist: true, ReadOnly: true, LockTimeout: completeWait / 4})
	if err != nil {
		return nil, err
	}
	l := backend.NewLocal(db, store.NewMemorySecrets(), nil, version)
	l.OwnsDB = true
	return l, nil
}

// candidate is "ID\tdescription" with the description on one line.
func candidate(id uint64, words ...string) string {
	return strconv.FormatUint(id, 10) + "\t" + strings.Join(strings.Fields(strings.Join(words, " ")), " ")
}

func serviceCandidates(ctx context.Context, b backend.Backend, _ *cobra.Command) ([]string, error) {
	rows, names, err := listNamed[store.Service](ctx, b)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, s := range rows {
		out[i] = candidate(s.ID, names.Modules[s.ModuleID], names.Tariffs[s.TariffID], s.ClientEmail, s.Status)
	}
	return out, nil
}

// recordsOf offers every record of kind T that describe has words for.
func recordsOf[T any, P record[T]](describe func(P) string) candidates {
	return func(ctx context.Context, b backend.Backend, _ *cobra.Command) ([]string, error) {
		rows, err := backend.All[T, P](ctx, b)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, r := range rows {
			if words := describe(r); words != "" {
				out = append(out, candidate(r.GetID(), words))
			}
		}
		return out, nil
	}
}

var (
	moduleCandidates = recordsOf(func(m *store.Module) string { return m.Name + " " + m.URL })
	tariffCandidates = recordsOf(func(t *store.Tariff) string {
		return fmt.Sprintf("%s %d CPU, %d MiB RAM, %d MiB disk", t.Name, t.CPU, t.RAMMiB, t.DiskMiB)
	})
	taskCandidates = recordsOf(func(t *store.Task) string { // only open tasks can be closed
		if !t.ClosedAt.IsZero() {
			return ""
		}
		return t.Title
	})
)

// clientCandidates are the clients' emails the services know, each once.
func clientCandidates(ctx context.Context, b backend.Backend, _ *cobra.Command) ([]string, error) {
	rows, err := backend.All[store.Service](ctx, b)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range rows {
		if !slices.Contains(out, s.ClientEmail) {
			out = append(out, s.ClientEmail)
		}
	}
	return out, nil
}

// jobCandidates are the newest jobs (`jobs retry`: the failed ones among them), newest first.
func jobCandidates(ctx context.Context, b backend.Backend, c *cobra.Command) ([]string, error) {
	last, err := lastJobID(ctx, b)
	if err != nil || last == 0 {
		return nil, err
	}
	q := backend.JobPageQuery{After: last - min(last, completeJobs), Limit: completeJobs}
	if c.Name() == "retry" {
		q.State = store.JobFailed
	}
	page, err := b.JobPage(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(page.Jobs))
	for _, j := range slices.Backward(page.Jobs) {
		out = append(out, candidate(j.ID, fmt.Sprintf("%s of service %d, %s", j.Type, j.ServiceID, j.State)))
	}
	return out, nil
}

// lastJobID is the newest job's id (0: none), found by halving with one-job pages (ids grow with
// time): a few cheap reads however long the history, where reading it all would not be.
func lastJobID(ctx context.Context, b backend.Backend) (uint64, error) {
	after := func(id uint64) (bool, error) { // is there a job newer than id?
		p, err := b.JobPage(ctx, backend.JobPageQuery{After: id, Limit: 1})
		return err == nil && len(p.Jobs) > 0, err
	}
	lo, hi := uint64(0), uint64(completeJobs)
	for {
		more, err := after(hi)
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
		lo, hi = hi, hi*2
	}
	if more, err := after(lo); err != nil || !more { // lo is 0 here unless a job is newer than it
		return 0, err
	}
	for hi-lo > 1 { // a job newer than lo, none newer than hi
		mid := lo + (hi-lo)/2
		more, err := after(mid)
		if err != nil {
			return 0, err
		}
		if more {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}
