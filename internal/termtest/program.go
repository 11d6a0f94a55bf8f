package termtest

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"golang.org/x/term"
)

// Terminal runs a Bubble Tea model on a real pseudo-terminal: keys go through the terminal's line
// discipline and Bubble Tea's own input parser, as typed keys do. It keeps the frame the model drew
// last, so a test waits for what the screen shows before it sends the next key.
type Terminal struct {
	t      testing.TB
	master *os.File
	mu     sync.Mutex
	frame  string
	done   chan error
}

// recorder keeps the last frame of the model it wraps.
type recorder struct {
	inner tea.Model
	term  *Terminal
}

func (r recorder) Init() tea.Cmd { return r.inner.Init() }

func (r recorder) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	r.inner, cmd = r.inner.Update(msg)
	return r, cmd
}

func (r recorder) View() string {
	v := r.inner.View()
	lines := strings.Split(ansi.Strip(v), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	r.term.mu.Lock()
	r.term.frame = strings.Join(lines, "\n")
	r.term.mu.Unlock()
	return v
}

// Start runs m on a cols×rows pseudo-terminal until it quits or the test ends.
func Start(t testing.TB, m tea.Model, cols, rows int) *Terminal {
	t.Helper()
	master, slave := OpenPTY(t, cols, rows)
	// Bubble Tea gets the keys through a plain reader: given the file itself it reads through an epoll
	// reader that shutting down closes under a read still running (a data race under -race). So the
	// terminal is made raw here, as Bubble Tea would do, and the blocked read ends when the master closes.
	if _, err := term.MakeRaw(int(slave.Fd())); err != nil {
		t.Fatal(err)
	}
	in := struct{ io.Reader }{slave}
	tt := &Terminal{t: t, master: master, done: make(chan error, 1)}
	go func() { _, _ = io.Copy(io.Discard, master) }() // a terminal that is never read blocks the program
	p := tea.NewProgram(recorder{inner: m, term: tt}, tea.WithInput(in), tea.WithOutput(slave))
	go func() {
		_, err := p.Run()
		tt.done <- err
	}()
	t.Cleanup(func() {
		p.Kill()
		<-tt.done
	})
	return tt
}

// keySeqs are the bytes a terminal sends for named keys; any other name is typed as it is.
var keySeqs = map[string]string{
	"enter": "\r", "tab": "\t", "shift+tab": "\x1b[Z", "esc": "\x1b", "backspace": "\x7f", "space": " ",
	"up": "\x1b[A", "down": "\x1b[B", "right": "\x1b[C", "left": "\x1b[D", "home": "\x1b[H", "end": "\x1b[F",
	"ctrl+c": "\x03", "ctrl+u": "\x15", "ctrl+d": "\x04", "ctrl+r": "\x12", "ctrl+s": "\x13",
}

// Key sends one named key ("enter", "down", "j") as its own write.
func (tt *Terminal) Key(name string) {
	tt.t.Helper()
	seq, ok := keySeqs[name]
	if !ok {
		seq = name
	}
	tt.Write(seq)
}

// Write sends bytes as one write, as a paste or `tmux send-keys 'jj'` does.
func (tt *Terminal) Write(s string) {
	tt.t.Helper()
	if _, err := tt.master.Write([]byte(s)); err != nil {
		tt.t.Fatal(err)
	}
}

// Frame is the last frame drawn, without escape codes or trailing spaces.
func (tt *Terminal) Frame() string {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.frame
}

// WaitFor waits until cond holds for the current frame and returns it.
func (tt *Terminal) WaitFor(what string, timeout time.Duration, cond func(frame string) bool) string {
	tt.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := tt.Frame()
		if cond(f) {
			return f
		}
		if time.Now().After(deadline) {
			tt.t.Fatalf("timed out after %v waiting for %s; the screen:\n%s", timeout, what, f)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Wait waits until the current frame shows every one of texts.
func (tt *Terminal) Wait(texts ...string) string {
	tt.t.Helper()
	return tt.WaitFor(strings.Join(texts, " and "), 30*time.Second, func(f string) bool {
		for _, s := range texts {
			if !strings.Contains(f, s) {
				return false
			}
		}
		return true
	})
}

// Gone waits until the current frame no longer shows text.
func (tt *Terminal) Gone(text string) string {
	tt.t.Helper()
	return tt.WaitFor("no "+text, 30*time.Second, func(f string) bool { return !strings.Contains(f, text) })
}

// Finished waits for the program to quit on its own.
func (tt *Terminal) Finished(timeout time.Duration) {
	tt.t.Helper()
	select {
	case err := <-tt.done:
		if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
			tt.t.Fatalf("the program ended with %v", err)
		}
		tt.done <- err // for the cleanup
	case <-time.After(timeout):
		tt.t.Fatalf("the program did not quit within %v; the screen:\n%s", timeout, tt.Frame())
	}
}
