package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"vmmpm/store"
)

// BackupRequest is what Backup writes. Path is absolute: the caller resolves it against its own
// working directory, since the process writing it may be a server started elsewhere. Force replaces
// a file already there.
type BackupRequest struct {
	Path  string `json:"path"`
	Force bool   `json:"force,omitempty"`
}

func (l *Local) Backup(ctx context.Context, r BackupRequest) (_ *store.BackupInfo, err error) {
	defer func() { l.audit(ctx, "database.backup", r.Path, err) }()
	return l.DB.Backup(r.Path, r.Force)
}

// BackupSchedule is serve's backups: one every Every (a day unless a test says otherwise) into Dir,
// the newest Keep kept.
type BackupSchedule struct {
	Dir   string
	Keep  int
	Every time.Duration
}

// DefaultBackupEvery is how often serve --backup-dir takes a backup.
const DefaultBackupEvery = 24 * time.Hour

// BackupStatus is the schedule's state, for status.
type BackupStatus struct {
	Dir  string `json:"dir"`
	Keep int    `json:"keep"`
	// Last is the newest backup this server took.
	Last *store.BackupInfo `json:"last,omitempty"`
	// Error is why the last attempt failed, "" once one succeeds again.
	Error    string    `json:"error,omitempty"`
	FailedAt time.Time `json:"failed_at,omitzero"`
	Next     time.Time `json:"next"`
}

// backupState holds the schedule's status for Local.Status.
type backupState struct {
	mu sync.Mutex
	st *BackupStatus
}

func (b *backupState) status() *BackupStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.st == nil {
		return nil
	}
	c := *b.st
	return &c
}

func (b *backupState) set(fn func(*BackupStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(b.st)
}

// BackupName is the file name of a scheduled backup taken at t: its date and time in UTC, so the
// names sort by age.
func BackupName(t time.Time) string {
	return "vmmpm-" + t.UTC().Format(backupStamp) + ".db"
}

const backupStamp = "2006-01-02T15-04-05Z"

var backupNameRE = regexp.MustCompile(`^vmmpm-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.db$`)

// scheduledBackups are the names of the schedule's backups in dir, oldest first; other files are
// never counted or removed.
func scheduledBackups(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && backupNameRE.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// firstBackup is when the schedule takes its first backup: now when the newest of names is older
// than every (or there is none), else once it is.
func firstBackup(names []string, every time.Duration, now time.Time) time.Time {
	if len(names) == 0 {
		return now
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(names[len(names)-1], "vmmpm-"), ".db")
	newest, err := time.Parse(backupStamp, stamp)
	if err != nil || now.Sub(newest) >= every {
		return now
	}
	return newest.Add(every)
}

// StartBackupSchedule takes serve's backups until ctx ends or stop is called: the first at once when
// the newest in s.Dir is older than s.Every, then one every s.Every, each logged. A failure is logged
// and shown in Status, and tried again within the hour; it never stops serving.
func (l *Local) StartBackupSchedule(ctx context.Context, s BackupSchedule, log *slog.Logger) (stop func()) {
	if s.Every <= 0 {
		s.Every = DefaultBackupEvery
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	next := firstBackup(scheduledBackups(s.Dir), s.Every, time.Now())
	l.backups.mu.Lock()
	l.backups.st = &BackupStatus{Dir: s.Dir, Keep: s.Keep, Next: next}
	l.backups.mu.Unlock()
	log.Info("backups scheduled", "dir", s.Dir, "keep", s.Keep, "every", s.Every.String(), "next", next.Format(time.RFC3339))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			timer := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			next = time.Now().Add(l.takeBackup(ctx, s, log))
			l.backups.set(func(st *BackupStatus) { st.Next = next })
		}
	}()
	return func() { cancel(); <-done }
}

// takeBackup takes one scheduled backup and removes those beyond the newest s.Keep; it answers how
// long to wait for the next.
func (l *Local) takeBackup(ctx context.Context, s BackupSchedule, log *slog.Logger) time.Duration {
	in, err := l.scheduledBackup(ctx, s.Dir)
	if err != nil {
		retry := min(s.Every, time.Hour)
		log.Error("backup failed; serving goes on", "dir", s.Dir, "error", err.Error(), "retry_in", retry.String())
		l.backups.set(func(st *BackupStatus) { st.Error, st.FailedAt = err.Error(), time.Now() })
		return retry
	}
	removed := pruneBackups(s.Dir, s.Keep, log)
	log.Info("backup written", "path", in.Path, "bytes", in.Size, "modules", in.Records["modules"],
		"tariffs", in.Records["tariffs"], "services", in.Records["services"], "jobs", in.Records["jobs"],
		"removed", strings.Join(removed, " "))
	l.backups.set(func(st *BackupStatus) { st.Last, st.Error, st.FailedAt = in, "", time.Time{} })
	return s.Every
}

func (l *Local) scheduledBackup(ctx context.Context, dir string) (*store.BackupInfo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the backup folder %s (%v); check --backup-dir", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return l.Backup(ctx, BackupRequest{Path: filepath.Join(abs, BackupName(time.Now()))})
}

// pruneBackups removes the schedule's backups beyond the newest keep and names them.
func pruneBackups(dir string, keep int, log *slog.Logger) []string {
	names := scheduledBackups(dir)
	var removed []string
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			log.Error("cannot remove an old backup", "path", filepath.Join(dir, names[0]), "error", err.Error())
		} else {
			removed = append(removed, names[0])
		}
		names = names[1:]
	}
	return removed
}
