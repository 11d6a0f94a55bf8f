package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/queue"
	"vmmpm/store"
)

func newCheckCmd(a *app) *cobra.Command {
	var asJSON, quarantine bool
	c := &cobra.Command{
		Use:   "check [--json]",
		Short: "Check the database file: bbolt's consistency check, every record, the queue's index and the quarantine",
		Long: "check reads the database file alone (stop vmmpm serve first) and says what is damaged and what to do.\n" +
			"Exit 0: nothing found. Exit 1: damage, or records kept in quarantine.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			rep, err := a.checkFile(c.Context())
			if err == nil && quarantine && unreadableJobs(rep) {
				var n int
				if n, rep, err = a.quarantine(c.Context()); err == nil && !asJSON {
					fmt.Fprintf(a.stdout, "moved %d unreadable job record(s) to the quarantine\n", n)
				}
			}
			if err != nil {
				return err
			}
			for i := range rep.Quarantined {
				rep.Quarantined[i].Raw = nil // the bytes stay in the file; a listing does not need them
			}
			if asJSON {
				err = printJSON(a.stdout, rep)
			} else {
				printCheck(a.stdout, rep)
			}
			if err == nil && !rep.Clean() {
				err = fmt.Errorf("database %s is damaged (%d finding(s), %d record(s) in quarantine, listed above); restore it from a backup (vmmpm backup)",
					rep.Path, len(rep.Damage), len(rep.Quarantined))
			}
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON: damage[] and quarantined[]")
	c.Flags().BoolVar(&quarantine, "quarantine", false,
		"move job records that do not decode to the quarantine (as the engine does for the jobs it runs), then check again")
	return c
}

// checkFile runs the check on the file, which needs it unlocked: a running server is named instead.
func (a *app) checkFile(ctx context.Context) (*store.CheckReport, error) {
	if err := a.fileOnly("vmmpm check, which reads a bbolt file page by page, has nothing to check", "PostgreSQL checks its own pages (amcheck, data checksums)"); err != nil {
		return nil, err
	}
	if cl, info, err := a.attach(ctx); err == nil && cl != nil {
		cl.Close()
		return nil, stopServerFirst(a.dbPath, info.PID)
	}
	if _, err := os.Stat(a.dbPath); errors.Is(err, os.ErrNotExist) {
		return nil, usagef("database %s does not exist, so there is nothing to check; check --db or VMMPM_DB", a.dbPath)
	}
	rep, err := store.CheckFile(a.dbPath, queue.CheckIndex)
	if errors.Is(err, store.ErrInUse) {
		return nil, stopServerFirst(a.dbPath, store.HolderPID(a.dbPath))
	}
	return rep, err
}

// unreadableJobs reports whether rep found job records that do not decode.
func unreadableJobs(rep *store.CheckReport) bool {
	for _, d := range rep.Damage {
		if d.Record && d.Bucket == string((&store.Job{}).Bucket()) {
			return true
		}
	}
	return false
}

// quarantine moves the unreadable job records to the quarantine and checks again.
func (a *app) quarantine(ctx context.Context) (int, *store.CheckReport, error) {
	db, err := a.openExisting()
	if err != nil {
		return 0, nil, err
	}
	n, err := queue.QuarantineUnreadable(db, time.Now())
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, nil, err
	}
	rep, err := a.checkFile(ctx)
	return n, rep, err
}

func stopServerFirst(path string, pid int) error {
	return fmt.Errorf("database %s is held by another vmmpm (pid %d, vmmpm serve or a TUI); vmmpm check reads the file alone, so stop that process, run vmmpm check, then start it again", path, pid)
}

func printCheck(w io.Writer, rep *store.CheckReport) {
	if rep.Clean() {
		fmt.Fprintf(w, "database %s: clean (bbolt's consistency check, every record and the queue's index found nothing)\n", rep.Path)
		return
	}
	for _, d := range rep.Damage {
		kind := "structure"
		if d.Record {
			kind = "record"
		}
		fmt.Fprintf(w, "DAMAGED (%s)%s: %s\n", kind, d.Where(), d.Cause)
	}
	for _, q := range rep.Quarantined {
		fmt.Fprintf(w, "QUARANTINED %s: bucket %q, key %s: %s", stamp(q.At), q.Bucket, q.Key, q.Cause)
		if q.ServiceID != 0 {
			fmt.Fprintf(w, "; service %d lost this record: compare it with VMmanager (vmmpm reconcile --module %d)", q.ServiceID, q.ModuleID)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "what to do: stop vmmpm, restore the database from a backup (vmmpm backup), and run vmmpm check again;")
	fmt.Fprintln(w, "            without one, vmmpm serve (or vmmpm engine) moves unreadable job records to the file's quarantine bucket")
	fmt.Fprintln(w, "            and runs the rest; damage to the file's structure needs the backup")
}
