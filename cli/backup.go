package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"vmmpm/backend"
	"vmmpm/store"
)

func newBackupCmd(a *app) *cobra.Command {
	var asJSON, force bool
	c := &cobra.Command{
		Use:   "backup FILE [--force] [--json]",
		Short: "Write a verified copy of the database to FILE, whether vmmpm serve runs or not",
		Long: "Writes a consistent copy of the database to FILE (relative to this folder) with mode 0600: the\n" +
			"server writes it when one runs, while it goes on serving; else this command reads the file\n" +
			"itself, read-only. The copy is checked before it is put in place (bbolt's check, the schema\n" +
			"version, every bucket's count against the database at the moment of the copy). An existing\n" +
			"FILE is replaced only with --force. Passwords and webhook secrets are not in it: they live in\n" +
			"the OS keyring (README, \"Backup and restore\", says what else to keep).",
		Args: exactArgs(1, "the file to write"),
		RunE: func(c *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			b, err := a.backendOn(a.openSnapshot)
			if err != nil {
				return err
			}
			defer b.Close()
			in, err := b.Backup(c.Context(), backend.BackupRequest{Path: path, Force: force})
			if errors.Is(err, store.ErrBackupExists) {
				return withCode(exitUsage, err)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, in)
			}
			info, _ := b.Info(c.Context())
			printBackup(a.stdout, in, info.Secrets)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// openSnapshot opens the database read-only for a copy: no lock taken from others that read it.
func (a *app) openSnapshot() (*store.DB, error) {
	db, err := store.Open(a.dbPath, store.Options{ReadOnly: true, MustExist: true})
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, withCode(exitUsage, err)
	}
	return db, err
}

// recordsLine is a backup's record counts in one line, the kinds an admin looks for first.
func recordsLine(r map[string]int) string {
	parts := make([]string, 0, 7)
	for _, k := range []struct{ bucket, one, many string }{
		{"modules", "module", "modules"}, {"tariffs", "tariff", "tariffs"}, {"services", "service", "services"},
		{"jobs", "job", "jobs"}, {"datacenters", "data center", "data centers"},
		{"departments", "department", "departments"}, {"tasks", "task", "tasks"},
	} {
		n, name := r[k.bucket], k.many
		if n == 1 {
			name = k.one
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, name))
	}
	return strings.Join(parts, " · ")
}

// size is a file's size for people: KiB below a MiB, else MiB with one decimal.
func size(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", (n+1023)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func printBackup(w io.Writer, in *store.BackupInfo, secrets string) {
	fmt.Fprintf(w, "backup:    %s\n", in.Path)
	fmt.Fprintf(w, "size:      %s, schema version %d, taken %s\n", size(in.Size), in.Schema, stamp(in.Taken))
	fmt.Fprintf(w, "holds:     %s\n", recordsLine(in.Records))
	fmt.Fprintln(w, "verified:  bbolt's check passed; every bucket's count matches the database at the moment of the copy")
	fmt.Fprintf(w, "not in it: module passwords and webhook secrets, kept in the %s; keep them too (README: Backup and restore)\n", secrets)
}

func newRestoreCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "restore BACKUP [--json]",
		Short: "Put a backup in place of the database (with vmmpm serve stopped); the old file is kept beside it",
		Long: "Checks BACKUP as vmmpm backup checks its copies, then puts it in place of the database (--db):\n" +
			"the file it replaces is kept as DB.before-restore. Refused while vmmpm serve or any other vmmpm\n" +
			"holds the database: stop it first, restore, then start it again. An older backup is migrated\n" +
			"when the database is next opened. Passwords are not in a backup: the keyring keeps them.",
		Args: exactArgs(1, "the backup file to restore"),
		RunE: func(c *cobra.Command, args []string) error {
			if cl, info, err := a.attach(c.Context()); err == nil && cl != nil {
				cl.Close()
				return fmt.Errorf("vmmpm serve (pid %d) holds %s, and nothing was changed; stop it first (kill -TERM %d, or systemctl stop its unit), restore, then start it again", info.PID, info.DB, info.PID)
			}
			if err := a.fileOnly("a bbolt backup cannot be restored into it", "restore the server's own dump (pg_restore) instead"); err != nil {
				return err
			}
			in, err := store.Restore(a.dbPath, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, in)
			}
			fmt.Fprintf(a.stdout, "restored:  %s over %s\n", absPath(args[0]), in.Path)
			fmt.Fprintf(a.stdout, "holds:     %s (schema version %d)\n", recordsLine(in.Records), in.Schema)
			fmt.Fprintf(a.stdout, "kept:      the replaced file as %s (remove it once all is well)\n", store.BeforeRestore(a.dbPath))
			fmt.Fprintln(a.stdout, "next:      start vmmpm serve again; the module passwords must be in its keyring")
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// backupFlags are serve's daily backups.
type backupFlags struct {
	dir   string
	keep  int
	every time.Duration
	cmd   *cobra.Command
}

func (f *backupFlags) register(c *cobra.Command) {
	f.cmd = c
	fl := c.Flags()
	fl.StringVar(&f.dir, "backup-dir", "", "take a verified backup into DIR at start when the newest is older than a day, then daily")
	fl.IntVar(&f.keep, "backup-keep", 7, "with --backup-dir: how many of its backups to keep")
	fl.DurationVar(&f.every, "backup-every", backend.DefaultBackupEvery, "with --backup-dir: the time between backups (for tests)")
	_ = fl.MarkHidden("backup-every")
}

func (f *backupFlags) check() error {
	switch {
	case f.dir == "" && (f.cmd.Flags().Changed("backup-keep") || f.cmd.Flags().Changed("backup-every")):
		return usagef("--backup-keep and --backup-every go with --backup-dir DIR")
	case f.keep < 1:
		return usagef("--backup-keep must be at least 1, not %d", f.keep)
	case f.every < time.Second:
		return usagef("--backup-every must be at least 1s, not %s", f.every)
	}
	return nil
}

// start runs the schedule on eng until ctx ends; the stop it returns waits for a backup in progress.
func (f *backupFlags) start(ctx context.Context, eng *backend.Engine, log *slog.Logger) (stop func()) {
	if f.dir == "" {
		return func() {}
	}
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		dir = f.dir
	}
	return eng.StartBackupSchedule(ctx, backend.BackupSchedule{Dir: dir, Keep: f.keep, Every: f.every}, log)
}

// printBackups is status's line about serve's backups.
func printBackups(w io.Writer, b *backend.BackupStatus) {
	if b == nil {
		return
	}
	last := "none yet"
	if b.Last != nil {
		last = fmt.Sprintf("%s (%s, %s)", stamp(b.Last.Taken), filepath.Base(b.Last.Path), size(b.Last.Size))
	}
	fmt.Fprintf(w, "backups:   into %s, newest %d kept; last %s; next %s\n", b.Dir, b.Keep, last, stamp(b.Next))
	if b.Error != "" {
		fmt.Fprintf(w, "           LAST BACKUP FAILED at %s: %s\n", stamp(b.FailedAt), b.Error)
	}
}
