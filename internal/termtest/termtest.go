// Package termtest holds helpers for tests that drive vmmpm through a real pseudo-terminal.
package termtest

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// OpenPTY returns a pseudo-terminal pair of cols×rows: the slave is a real terminal for the program
// under test, the master is what a terminal emulator would read and type into.
func OpenPTY(t testing.TB, cols, rows int) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ws := &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// SyncBuffer is a bytes.Buffer safe for one writer goroutine and readers elsewhere.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Expect waits until text appears in out after offset *seen, then moves *seen past it. Assertions wait,
// never sleep a fixed time (lazygit's rule).
func Expect(t testing.TB, out *SyncBuffer, seen *int, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := out.String()
		if i := strings.Index(s[*seen:], text); i >= 0 {
			*seen += i + len(text)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; output so far:\n%q", text, s[max(0, len(s)-3000):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// AnswerBackgroundQuery waits for the terminal queries Bubble Tea sends as it loads (background colour,
// then cursor position) and answers them as a dark terminal would; unanswered, the program waits 5 s.
func AnswerBackgroundQuery(t testing.TB, out *SyncBuffer, seen *int, master *os.File) {
	t.Helper()
	Expect(t, out, seen, "\x1b[6n")
	if _, err := master.Write([]byte("\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[1;1R")); err != nil {
		t.Fatal(err)
	}
}
