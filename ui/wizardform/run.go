package wizardform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"vmmpm/backend"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"golang.org/x/term"

	"vmmpm/store"
	"vmmpm/wizard"
)

// ErrCancelled is returned when the admin leaves the wizard without saving.
var ErrCancelled = errors.New("the wizard was closed before saving; nothing was saved")

// standalone hosts the wizard as a whole program: it quits on SavedMsg or CancelledMsg.
type standalone struct {
	wiz   *Model
	saved *SavedMsg
}

func (s *standalone) Init() tea.Cmd { return s.wiz.Init() }

func (s *standalone) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case SavedMsg:
		s.saved = &msg
		return s, tea.Quit
	case CancelledMsg:
		return s, tea.Quit
	}
	_, cmd := s.wiz.Update(msg)
	return s, cmd
}

func (s *standalone) View() string { return s.wiz.View() }

// Run shows the wizard full-screen on in/out until the module is saved (its record and the warnings
// are returned) or the admin discards it (ErrCancelled).
func Run(ctx context.Context, b backend.Backend, in io.Reader, out io.Writer) (*store.Module, []string, error) {
	// Ask the terminal for its background now: once Bubble Tea reads stdin it would swallow the answer
	// and the adaptive colours would wait for it.
	_ = lipgloss.HasDarkBackground()
	s := &standalone{wiz: New(b, Options{Context: ctx})}
	if _, err := tea.NewProgram(s, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen()).Run(); err != nil {
		return nil, nil, fmt.Errorf("the wizard stopped: %w", err)
	}
	if s.saved == nil {
		return nil, nil, ErrCancelled
	}
	return s.saved.Module, s.saved.Warnings, nil
}

// RunAccessible asks the same pages as plain prompts, one line at a time, for screen readers (huh's
// accessible mode). The validation, the login check and the atomic save are the same. Cancelling ctx
// (ctrl+c sends SIGINT at a prompt) ends it at once with ErrCancelled and the terminal as it was.
func RunAccessible(ctx context.Context, b backend.Backend, in io.Reader, out io.Writer) (*store.Module, []string, error) {
	m := New(b, Options{Context: ctx, Width: 80, Height: 24})
	if m.fatal != nil {
		return nil, nil, m.fatal
	}
	m.accessible = true
	f, ok := in.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, nil, errors.New("the accessible wizard needs a terminal to read the password without echo")
	}
	// The prompts cannot be interrupted mid-read, so they run aside; a password prompt may hold the
	// terminal with echo off, hence the saved state.
	state, err := term.GetState(int(f.Fd()))
	if err != nil {
		return nil, nil, fmt.Errorf("the accessible wizard cannot read the terminal's settings: %w", err)
	}
	type result struct {
		m        *store.Module
		warnings []string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		mod, warnings, err := m.askAll(ctx, eofFile{&eofReader{r: in, ctx: ctx}, f.Fd()}, out)
		done <- result{mod, warnings, err}
	}()
	select {
	case r := <-done:
		return r.m, r.warnings, r.err
	case <-ctx.Done():
		_ = term.Restore(int(f.Fd()), state)
		fmt.Fprintln(out)
		return nil, nil, ErrCancelled
	}
}

// askAll runs the pages as prompts until the module is saved.
func (m *Model) askAll(ctx context.Context, in eofFile, out io.Writer) (*store.Module, []string, error) {
	for m.phase != phaseDone {
		if ctx.Err() != nil {
			return nil, nil, ErrCancelled
		}
		if in.ended {
			return nil, nil, fmt.Errorf("the input ended before the module was saved: %w", ErrCancelled)
		}
		fmt.Fprintf(out, "\n%s\n", m.page.step().Indicator())
		if m.page == pageReview {
			for _, r := range m.reviewRows() {
				fmt.Fprintf(out, "%-22s %s\n", r[0], r[1])
			}
		}
		if m.notice != "" {
			fmt.Fprintln(out, m.notice)
		}
		if err := m.buildForm().WithAccessible(true).WithInput(in).WithOutput(out).Run(); err != nil {
			return nil, nil, err
		}
		if err := m.accessibleDone(ctx, in, out); err != nil {
			return nil, nil, err
		}
	}
	return m.saved, m.cat.Warnings(m.draft), nil
}

// accessibleDone is pageDone with the check and the save run in place instead of as commands.
func (m *Model) accessibleDone(ctx context.Context, in io.Reader, out io.Writer) error {
	switch m.page {
	case pageIntegration:
		for {
			if err := cmp.Or(wizard.ValidateURL(m.draft.URL), wizard.ValidateUsername(m.draft.Username), wizard.ValidatePassword(m.password)); err != nil {
				m.setNotice(m.st.bad, "✗ "+err.Error())
				return nil
			}
			fmt.Fprintf(out, "Logging in to %s…\n", m.draft.URL)
			m.phase, m.checkSeq = phaseChecking, m.checkSeq+1
			// Through the backend, as the full-screen wizard: attached, the server logs in.
			res, err := m.b.CheckIntegration(ctx, m.draft.Integration(), m.password, m.draft.ID)
			m.checkDone(checkDoneMsg{seq: m.checkSeq, res: res, err: err})
			if m.phase != phaseTLSOffer {
				return nil
			}
			if again, err := m.askTrust(in, out); err != nil || !again {
				return err
			}
		}
	case pageReview:
		if !m.saveConfirm {
			m.saveConfirm = true
			m.goTo(pageParams)
			return nil
		}
		if ctx.Err() != nil { // interrupted at the last prompt: nothing is saved
			return ErrCancelled
		}
		m.phase = phaseSaving
		mod, err := m.b.SaveModule(m.ctx, m.draft, m.password)
		m.saveDone(saveDoneMsg{module: mod, err: err})
		if m.saved != nil {
			fmt.Fprintf(out, "Saved module %q with id %d.\n", m.saved.Name, m.saved.ID)
		}
		return nil
	}
	m.pageDone()
	return nil
}

// askTrust is the TLS offer as prompts: the certificate, then trust it, a CA file, skip, or back.
// It reports whether to log in again.
func (m *Model) askTrust(in io.Reader, out io.Writer) (bool, error) {
	c := m.offer.Cert
	fmt.Fprintf(out, "%s\nSHA-256 %s\nSubject %s\nIssuer  %s\nValid   %s\n", failureText(m.checkErr), c.SHA256, c.Subject, c.Issuer, c.Validity())
	choice := "back"
	err := huh.NewSelect[string]().Title("If it is your VMmanager's certificate, how should this module trust it?").
		Options(huh.NewOption("Trust exactly this certificate (pinned)", "pin"), huh.NewOption("Use a CA file", "ca"),
			huh.NewOption("Skip verification (INSECURE)", "skip"), huh.NewOption("Back to Integration", "back")).
		Value(&choice).RunAccessible(out, in)
	if err != nil {
		return false, err
	}
	switch choice {
	case "pin":
		m.draft.TrustPin(c.SHA256)
	case "ca":
		m.caPath = m.draft.TLSCAFile
		f := huh.NewInput().Title("CA file (PEM)").Value(&m.caPath).Validate(wizard.ValidateCAFile)
		if err := f.RunAccessible(out, in); err != nil {
			return false, err
		}
		m.draft.TrustCAFile(m.caPath)
	case "skip":
		m.draft.SkipVerification()
	default:
		m.setNotice(m.st.bad, failureText(m.checkErr))
		m.goTo(pageIntegration)
		return false, nil
	}
	return true, nil
}

// eofReader notes the end of input, which huh's prompts swallow (they fall back to the default), so the
// page loop can stop instead of asking forever. Once ctx is cancelled it reads as ended.
type eofReader struct {
	r     io.Reader
	ctx   context.Context
	ended bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	if e.ctx.Err() != nil {
		e.ended = true
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.ended = true
	}
	return n, err
}

// eofFile keeps the terminal's descriptor visible, so password prompts can turn echo off.
type eofFile struct {
	*eofReader
	fd uintptr
}

func (e eofFile) Fd() uintptr { return e.fd }
