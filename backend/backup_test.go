package backend

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vmmpm/internal/termtest"
	"vmmpm/store"
)

func TestFirstBackup(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, c := range []struct {
		names []string
		want  time.Time
	}{
		{nil, now},
		{[]string{BackupName(now.Add(-25 * time.Hour))}, now},
		{[]string{BackupName(now.Add(-48 * time.Hour)), BackupName(now.Add(-time.Hour))}, now.Add(23 * time.Hour)},
		{[]string{"vmmpm-garbage.db"}, now},
	} {
		if got := firstBackup(c.names, day, now); !got.Equal(c.want) {
			t.Errorf("firstBackup(%v) = %v, want %v", c.names, got, c.want)
		}
	}
}

// waitBackups polls the schedule's status until ok says it is what the test waits for.
func waitBackups(t *testing.T, l *Local, ok func(*BackupStatus) bool) *BackupStatus {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := l.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Backups != nil && ok(st.Backups) {
			return st.Backups
		}
		if time.Now().After(deadline) {
			t.Fatalf("backups not as awaited within 30 s: %+v", st.Backups)
		}
	}
}

// TestBackupScheduleTakesOneAndRotates: with the newest backup older than a day, the schedule takes
// one at once, keeps the newest Keep of its own files (never another file), logs it and shows it in
// Status; started again beside a fresh one, it waits a day from that one.
func TestBackupScheduleTakesOneAndRotates(t *testing.T) {
	db, _ := engineDB(t)
	l := NewLocal(db, store.NewMemorySecrets(), nil, "test")
	defer l.Close()
	dir := t.TempDir()
	now := time.Now()
	for d := 3; d <= 7; d++ {
		if err := os.WriteFile(filepath.Join(dir, BackupName(now.Add(-time.Duration(d)*24*time.Hour))), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs termtest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stop := l.StartBackupSchedule(context.Background(), BackupSchedule{Dir: dir, Keep: 2}, log)
	st := waitBackups(t, l, func(s *BackupStatus) bool { return s.Last != nil })
	stop()
	if st.Error != "" || st.Last.Records["modules"] != 1 || st.Last.Records["tariffs"] != 1 || time.Until(st.Next) < 23*time.Hour {
		t.Fatalf("status after the first backup: %+v", st)
	}
	names := scheduledBackups(dir)
	if len(names) != 2 || names[1] != filepath.Base(st.Last.Path) || names[0] != BackupName(now.Add(-3*24*time.Hour)) {
		t.Fatalf("kept %v, want the 3-day-old one and %s", names, filepath.Base(st.Last.Path))
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal("rotation removed a file that is not a backup")
	}
	if !strings.Contains(logs.String(), "msg=\"backup written\"") || !strings.Contains(logs.String(), "removed=") {
		t.Fatalf("log:\n%s", logs.String())
	}

	l2 := NewLocal(db, store.NewMemorySecrets(), nil, "test")
	defer l2.Close()
	stop = l2.StartBackupSchedule(context.Background(), BackupSchedule{Dir: dir, Keep: 2}, log)
	st2, _ := l2.Status(context.Background())
	stop()
	if st2.Backups.Last != nil || !slices.Equal(scheduledBackups(dir), names) || time.Until(st2.Backups.Next) < 23*time.Hour {
		t.Fatalf("a restart beside a fresh backup: %+v, files %v", st2.Backups, scheduledBackups(dir))
	}
}

// TestBackupScheduleFailureShown: a backup folder that cannot be made is logged and shown in Status
// with a retry within the hour; the database goes on serving.
func TestBackupScheduleFailureShown(t *testing.T) {
	db, _ := engineDB(t)
	l := NewLocal(db, store.NewMemorySecrets(), nil, "test")
	defer l.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs termtest.SyncBuffer
	stop := l.StartBackupSchedule(context.Background(), BackupSchedule{Dir: filepath.Join(file, "backups"), Keep: 3},
		slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop()
	st := waitBackups(t, l, func(s *BackupStatus) bool { return s.Error != "" })
	if !strings.Contains(st.Error, "cannot create the backup folder") || st.Last != nil || time.Until(st.Next) > time.Hour {
		t.Fatalf("status after a failed backup: %+v", st)
	}
	if !strings.Contains(logs.String(), "backup failed; serving goes on") {
		t.Fatalf("log:\n%s", logs.String())
	}
	if _, err := l.Save(context.Background(), &store.DataCenter{Name: "still serving"}); err != nil {
		t.Fatal(err)
	}
}
