package wizardform

import (
	"context"
	"errors"
	"testing"

	"vmmpm/backend"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
)

// TestScreenFollowsTheBackendSwap: a wizard left open while the TUI swaps what it reads (its serve
// stood down and another host's view is shown) makes its next calls where the screens now read, and
// back on the primary once it answers again, never on the backend the swap closed.
func TestScreenFollowsTheBackendSwap(t *testing.T) {
	f := uitest.Open(t, uitest.Executor(1))
	g := uitest.Open(t, uitest.Executor(1))
	view := backend.NewLocal(g.DB, g.Secrets, nil, "test")
	view.Mode = backend.ModeReadOnly
	ctx := f.Context()
	primary := ctx.Data.Backend()
	sc := NewScreen(ctx, Options{}).(*screen)
	if sc.m.b != primary {
		t.Fatal("the wizard was not opened on the TUI's backend")
	}
	ctx.Data.Fallback = func(context.Context) (backend.Backend, error) { return view, nil }
	ctx.Data.SetDown(errors.New("nothing listens on the socket"))
	_, _, since := ctx.Data.Link()
	if ctx.Data.TryFallback(context.Background(), since.Add(common.FallbackAfter)) != view {
		t.Fatal("the fallback was not made")
	}
	sc.Update(common.TickMsg{})
	if sc.m.b != view {
		t.Fatal("after the swap the wizard still calls the backend it was opened on")
	}
	ctx.Data.CloseFallback()
	sc.Update(common.TickMsg{})
	if sc.m.b != primary {
		t.Fatal("back on the primary, the wizard still calls the closed fallback")
	}
}
