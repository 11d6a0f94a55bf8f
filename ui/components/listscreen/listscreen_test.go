package listscreen_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"vmmpm/ui/common"
	"vmmpm/ui/components/form"
	"vmmpm/ui/components/listscreen"
	"vmmpm/ui/components/rows"
	"vmmpm/ui/components/table"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/keys"
)

type screen struct {
	*listscreen.Base
	list  *rows.Model[int]
	loads int
	keys  []string
}

func newScreen(ctx *common.Context) *screen {
	s := &screen{}
	s.list = rows.New(ctx, func(i int) uint64 { return uint64(i) }, func(i, _ int) string { return strconv.Itoa(i) },
		strconv.Itoa, table.Column{Title: "N", Min: 4})
	s.list.Set([]int{1, 2, 3})
	s.Base = listscreen.New(ctx, listscreen.Spec{
		Load: func() tea.Cmd { s.loads++; return nil },
		Key:  func(k tea.KeyMsg) tea.Cmd { s.keys = append(s.keys, k.String()); return nil },
		Actions: func(k *keys.KeyMap) []key.Binding {
			return []key.Binding{k.Add}
		},
	}, s.list)
	return s
}

func newContext() *common.Context {
	ctx := common.New(uitest.Plain(), &common.Data{})
	ctx.Width, ctx.Height = 80, 20
	return ctx
}

func openForm(s *screen, ctx *common.Context) {
	s.OpenForm(form.New(ctx, "Edit").AddText("name", "Name", "", "", false), func(*form.Model) tea.Cmd { return nil })
}

// The app hands every result to every screen: only the screen that ran the action may act on it.
func TestResultReachesOnlyItsScreen(t *testing.T) {
	ctx := newContext()
	a, b := newScreen(ctx), newScreen(ctx)
	openForm(a, ctx)
	openForm(b, ctx)
	msg := a.Run(func() (string, error) { return "saved", nil })()

	if cmd := b.Update(msg); cmd != nil || !b.Capturing() {
		t.Fatalf("another screen acted on the result: cmd %v, form still open %v", cmd != nil, b.Capturing())
	}
	cmd := a.Update(msg)
	if a.Capturing() {
		t.Fatal("the form stayed open after a successful action")
	}
	batch, ok := cmd().(tea.BatchMsg)
	if !ok || len(batch) != 2 {
		t.Fatalf("result command gave %#v", cmd())
	}
	if _, ok := batch[0]().(common.DataChangedMsg); !ok {
		t.Fatalf("first message %#v, want DataChangedMsg", batch[0]())
	}
	if f, ok := batch[1]().(common.FlashMsg); !ok || f.Text != "saved" || f.Err {
		t.Fatalf("second message %#v, want the info", batch[1]())
	}
}

func TestErrorStaysInOpenForm(t *testing.T) {
	ctx := newContext()
	s := newScreen(ctx)
	openForm(s, ctx)
	fail := s.Run(func() (string, error) { return "", errors.New("the name is taken") })
	if cmd := s.Update(fail()); cmd != nil || !s.Capturing() {
		t.Fatal("an error closed the form")
	}
	if v := s.View(); !strings.Contains(v, "the name is taken.") {
		t.Fatalf("form does not show the error:\n%s", v)
	}
	s.Update(uitest.Key("esc"))
	cmd := s.Update(fail())
	if f, ok := cmd().(common.FlashMsg); !ok || !f.Err || f.Text != "the name is taken." {
		t.Fatalf("without a form the error gave %#v", cmd())
	}
}

func TestQuestionRunsOnlyOnYes(t *testing.T) {
	ctx := newContext()
	s := newScreen(ctx)
	runs := 0
	do := func() (string, error) { runs++; return "deleted", nil }
	s.Ask("Delete?", do)
	if h := s.Help().ShortHelp(); len(h) != 2 || h[0].Help().Desc != "yes" {
		t.Fatalf("help while asking: %v", h)
	}
	if cmd := s.Update(uitest.Key("j")); cmd != nil || s.list.Table.Cursor() != 0 || !s.Capturing() {
		t.Fatal("a key reached the list behind the question")
	}
	s.Update(uitest.Key("n"))
	if s.Capturing() || runs != 0 {
		t.Fatalf("after n: still asking %v, ran %d", s.Capturing(), runs)
	}
	s.Ask("Delete?", do)
	cmd := s.Update(uitest.Key("y"))
	if cmd == nil {
		t.Fatal("y gave no command")
	}
	cmd()
	if runs != 1 || s.Capturing() {
		t.Fatalf("after y: ran %d, still asking %v", runs, s.Capturing())
	}
}

func TestKeysGoToListThenScreen(t *testing.T) {
	ctx := newContext()
	s := newScreen(ctx)
	s.View()
	s.Update(uitest.Key("j"))
	s.Update(uitest.Key("a"))
	if id, ok := s.list.SelectedID(); !ok || id != 2 || s.Selected().ID != "2" {
		t.Fatalf("j did not move the list: selected %d %v", id, ok)
	}
	if len(s.keys) != 1 || s.keys[0] != "a" {
		t.Fatalf("screen got keys %q, want only a", s.keys)
	}
	if h := s.Help().ShortHelp(); h[0].Help().Key != "a" {
		t.Fatalf("screen actions are not first in help: %v", h[0].Help())
	}
}

// Reloads follow the data version: one per change, however many ticks.
func TestTickReloadsOncePerChange(t *testing.T) {
	ctx := newContext()
	s := newScreen(ctx)
	s.Update(common.TickMsg{})
	ctx.Data.Bump()
	ctx.Data.Bump()
	s.Update(common.TickMsg{})
	s.Update(common.TickMsg{})
	if s.loads != 1 {
		t.Fatalf("%d loads for one version change", s.loads)
	}
	s.Update(common.DataChangedMsg{})
	if s.loads != 2 {
		t.Fatalf("DataChangedMsg did not reload: %d loads", s.loads)
	}
}
