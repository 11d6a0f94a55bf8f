package queue

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StorageFault is a transaction the disk refused (full, over quota, read-only, failing). The engine
// pauses on it and resumes by itself when a retried write succeeds.
type StorageFault struct {
	Path  string    // the database file
	Mount string    // the file system it lives on (its mount point)
	Free  uint64    // bytes available there when the fault was seen
	Since time.Time // first refusal of this pause
	Err   error     // what bbolt returned
	// Waited is set when the engine gave up after waiting this long (Options.MaxPause).
	Waited time.Duration
}

func newStorageFault(path string, err error, since time.Time) *StorageFault {
	f := &StorageFault{Path: path, Mount: mountOf(path), Since: since, Err: err}
	var st syscall.Statfs_t
	if syscall.Statfs(filepath.Dir(path), &st) == nil {
		f.Free = st.Bavail * uint64(st.Bsize)
	}
	return f
}

func (f *StorageFault) Unwrap() error { return f.Err }

// Cause is the short reason shown after "paused: ", e.g. "disk full on /var (12288 bytes free)".
func (f *StorageFault) Cause() string {
	msg := f.Err.Error()
	switch {
	case errors.Is(f.Err, syscall.ENOSPC) || strings.Contains(msg, "no space left on device"):
		return fmt.Sprintf("disk full on %s (%d bytes free)", f.Mount, f.Free)
	case errors.Is(f.Err, syscall.EDQUOT) || strings.Contains(msg, "disk quota exceeded"):
		return fmt.Sprintf("disk quota exceeded on %s (%d bytes free)", f.Mount, f.Free)
	case errors.Is(f.Err, syscall.EROFS) || strings.Contains(msg, "read-only file system"):
		return fmt.Sprintf("file system %s is read-only", f.Mount)
	case errors.Is(f.Err, syscall.EIO) || strings.Contains(msg, "input/output error"):
		return fmt.Sprintf("input/output error writing %s on %s", f.Path, f.Mount)
	}
	return fmt.Sprintf("writing %s failed (%v)", f.Path, f.Err)
}

// Error is the sentence for a fault the engine gave up waiting out.
func (f *StorageFault) Error() string {
	still := ""
	if f.Waited > 0 {
		still = fmt.Sprintf(", still after waiting %s", f.Waited)
	}
	return fmt.Sprintf("the engine stopped because the database %s cannot be written: %s%s; %s, then start it again (every job resumes where it stopped)",
		f.Path, f.Cause(), still, f.advice())
}

func (f *StorageFault) advice() string {
	switch {
	case errors.Is(f.Err, syscall.EROFS):
		return "remount " + f.Mount + " read-write or move the database with --db"
	case errors.Is(f.Err, syscall.EIO):
		return "check the disk (dmesg) and restore the database from a backup if it is failing"
	}
	return "free space on " + f.Mount + " (or move the database with --db)"
}

// mountOf is the mount point holding path: the longest mount point that prefixes it.
func mountOf(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Dir(path)
	}
	best := filepath.Dir(abs)
	fh, err := os.Open("/proc/self/mounts")
	if err != nil {
		return best
	}
	defer fh.Close()
	n := -1
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		mp := strings.ReplaceAll(fields[1], `\040`, " ")
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > n {
			best, n = mp, len(mp)
		}
	}
	return best
}
