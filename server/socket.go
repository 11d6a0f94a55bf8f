// Package server carries the backend.Backend calls over a Unix socket: the server side that
// `vmmpm serve` runs (HTTP with JSON, events as newline-delimited JSON) and Client, the Backend that
// commands and the TUI use when a server holds the database.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SocketName is the socket's file name in its folder.
const SocketName = "vmmpm.sock"

// DefaultSocket is where `vmmpm serve` listens and clients look: $XDG_RUNTIME_DIR/vmmpm/vmmpm.sock,
// or beside the database when there is no runtime folder. VMMPM_SOCKET overrides both.
func DefaultSocket(dbPath string) string {
	if p := os.Getenv("VMMPM_SOCKET"); p != "" {
		return p
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt != "" {
		return filepath.Join(rt, "vmmpm", SocketName)
	}
	return filepath.Join(filepath.Dir(dbPath), SocketName)
}

// Listen makes path's folder (0700), removes a socket left by a server that died, and listens with
// the socket file at 0600. A live server on path is refused with its pid.
func Listen(path string) (net.Listener, error) {
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("the socket path %s is too long for a Unix socket (at most 107 bytes); give a shorter --socket", path)
	}
	// A folder vmmpm makes is made private; one that was there (the database's, without a runtime
	// folder) keeps its mode: the socket itself is 0600 and every peer's uid is checked.
	dir := filepath.Dir(path)
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot make the socket folder %s: %w", dir, err)
	}
	if os.IsNotExist(statErr) {
		if err := privateDir(dir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Lstat(path); err == nil {
		if pid, live := probe(path); live {
			return nil, fmt.Errorf("another vmmpm serve (pid %d) already listens on %s; stop it first, or give another --socket", pid, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("a stale socket %s is in the way and cannot be removed: %w", path, err)
		}
	}
	old := syscall.Umask(0o177) // the socket is born 0600: no window in which another user may connect
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// privateDir makes sure only this user can enter dir, when this user owns it.
func privateDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == os.Getuid() && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cannot make the socket folder %s private (0700): %w", dir, err)
		}
	}
	return nil
}

// probe asks whatever listens on path for its pid.
func probe(path string) (pid int, live bool) {
	c := NewClient(path, "")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	info, err := c.hello(ctx)
	if err != nil {
		var ve *VersionError
		if errors.As(err, &ve) {
			return ve.PID, true
		}
		return 0, !errors.Is(err, errNoServer)
	}
	return info.PID, true
}

// peerCred is the uid and pid of the process at the other end of a Unix connection.
func peerCred(c net.Conn) (uid, pid int, err error) {
	uc, ok := c.(syscall.Conn) // a *net.UnixConn, or a wrapper that gives its descriptor
	if !ok {
		return -1, 0, errors.New("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if cerr != nil {
		return -1, 0, cerr
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// Record is where the server holding a database listens, kept beside the database's lock
// (RecordPath) so that any process that opens the database's folder finds the server, whatever its
// $XDG_RUNTIME_DIR or working directory says (cron, sudo -i, a systemd unit).
type Record struct {
	PID    int
	Socket string // absolute
}

// RecordPath is the record's file for database db: DB.server, beside DB.pid (links resolved, so
// every name of the file finds one record).
func RecordPath(db string) string {
	if abs, err := filepath.Abs(db); err == nil {
		db = abs
	}
	if r, err := filepath.EvalSymlinks(db); err == nil {
		db = r
	}
	return db + ".server"
}

// WriteRecord records this process as the server of db listening on socket (0600, replaced whole)
// and returns what removes it again at a clean stop; a record left by a killed server names a dead
// pid, which FindRecord ignores.
func WriteRecord(db, socket string) (remove func(), err error) {
	if abs, err := filepath.Abs(socket); err == nil {
		socket = abs
	}
	path := RecordPath(db)
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	text := fmt.Sprintf("pid %d\nsocket %s\n", os.Getpid(), socket)
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		_ = os.Remove(tmp)
		return func() {}, fmt.Errorf("cannot record the socket beside the database in %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return func() {}, fmt.Errorf("cannot record the socket beside the database in %s: %w", path, err)
	}
	return func() {
		if r, ok := readRecord(path); ok && r.PID == os.Getpid() {
			_ = os.Remove(path)
		}
	}, nil
}

// FindRecord is the record of the server holding db; ok is false when there is none or its process
// is gone.
func FindRecord(db string) (r Record, ok bool) {
	r, ok = readRecord(RecordPath(db))
	return r, ok && alive(r.PID)
}

func readRecord(path string) (Record, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Record{}, false
	}
	var r Record
	for line := range strings.Lines(string(b)) {
		key, value, _ := strings.Cut(strings.TrimRight(line, "\n"), " ")
		switch key {
		case "pid":
			r.PID, _ = strconv.Atoi(value)
		case "socket":
			r.Socket = value
		}
	}
	return r, r.PID > 0 && filepath.IsAbs(r.Socket)
}

// alive reports whether a process pid runs (one of another user's counts too).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
