package common_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/internal/uitest"
)

// fallbackWorld is a Data on a fixture's Local, and a second Local (read-only, on its own bbolt
// file, which its Close closes) for the fallback.
func fallbackWorld(t *testing.T) (d *common.Data, primary backend.Backend, view *backend.Local) {
	t.Helper()
	f := uitest.Open(t, uitest.Executor(1))
	g := uitest.Open(t, uitest.Executor(1))
	view = backend.NewLocal(g.DB, g.Secrets, nil, "test")
	view.Mode, view.OwnsDB = backend.ModeReadOnly, true
	return f.Data, f.Data.Backend(), view
}

// TestFallbackSwap: the fallback is asked only once the primary has been out of reach for
// FallbackAfter, and again only FallbackAfter after a refusal; made, it is what Backend returns and
// Link describes, the primary's loss is no longer shown as "down", and a later loss report changes
// nothing; SetUp goes back to the primary and closes the fallback. Each swap is counted.
func TestFallbackSwap(t *testing.T) {
	d, primary, view := fallbackWorld(t)
	before, _, _ := d.Link()
	var asks int
	refuse := true
	d.Fallback = func(context.Context) (backend.Backend, error) {
		asks++
		if refuse {
			return nil, errors.New("no other host holds the engine lease")
		}
		return view, nil
	}
	ctx := context.Background()
	if b := d.TryFallback(ctx, time.Now().Add(time.Hour)); b != nil || asks != 0 {
		t.Fatalf("with the primary up the fallback was asked %d times (made %v)", asks, b)
	}

	d.SetDown(errors.New("nothing listens on the socket"))
	_, _, since := d.Link()
	at := since.Add(common.FallbackAfter)
	if b := d.TryFallback(ctx, at.Add(-time.Millisecond)); b != nil || asks != 0 {
		t.Fatalf("the fallback was asked %d times before the primary was gone for %v", asks, common.FallbackAfter)
	}
	if b := d.TryFallback(ctx, at); b != nil || asks != 1 {
		t.Fatalf("refused: made %v, asked %d times; want nil, once", b, asks)
	}
	refuse = false
	if b := d.TryFallback(ctx, at.Add(common.FallbackAfter-time.Millisecond)); b != nil || asks != 1 {
		t.Fatalf("asked again %d times within %v of a refusal", asks-1, common.FallbackAfter)
	}
	if b := d.TryFallback(ctx, at.Add(common.FallbackAfter)); b != view || asks != 2 {
		t.Fatalf("made %v after %d asks; want the view after 2", b, asks)
	}

	info, down, _ := d.Link()
	gone, _, stood := d.StoodDown()
	if d.Backend() != view || info.Mode != backend.ModeReadOnly || down != "" || !stood || gone.PID != before.PID || d.Swaps() != 1 {
		t.Fatalf("on the fallback: backend %v, mode %q, down %q, stood %v (gone pid %d, want %d), swaps %d",
			d.Backend(), info.Mode, down, stood, gone.PID, before.PID, d.Swaps())
	}
	d.SetDown(errors.New("nothing listens on the socket"))
	if _, down, _ := d.Link(); down != "" || d.TryFallback(ctx, at.Add(time.Hour)) != nil {
		t.Fatalf("on the fallback a loss report shows %q, or a second fallback was made", down)
	}
	if _, err := backend.All[store.Tariff](ctx, d.Backend()); err != nil {
		t.Fatalf("reading the fallback: %v", err)
	}

	if !d.SetUp() {
		t.Error("SetUp after the fallback says the primary had not been away")
	}
	info, down, _ = d.Link()
	if _, _, stood := d.StoodDown(); d.Backend() != primary || stood || down != "" || info.Mode == backend.ModeReadOnly || d.Swaps() != 2 {
		t.Fatalf("back: backend %v, stood %v, down %q, mode %q, swaps %d", d.Backend(), stood, down, info.Mode, d.Swaps())
	}
	if _, err := backend.All[store.Tariff](ctx, view); err == nil {
		t.Error("the fallback still reads its database after SetUp: it was not closed")
	}
}

// TestNoFallbackKeepsWaiting: without a Fallback (a bbolt file) a primary out of reach stays down.
func TestNoFallbackKeepsWaiting(t *testing.T) {
	d, primary, _ := fallbackWorld(t)
	d.SetDown(errors.New("nothing listens on the socket"))
	if b := d.TryFallback(context.Background(), time.Now().Add(time.Hour)); b != nil || d.Backend() != primary {
		t.Fatalf("without a Fallback: made %v, reading %v", b, d.Backend())
	}
	if _, down, _ := d.Link(); down == "" {
		t.Error("the primary's loss is no longer shown")
	}
}

// TestStartOnFallback: a Data started on a view (StartOn, a TUI opened on a standby host) reads it and
// Link describes it, with no stand-down to tell of and the primary's loss not shown as "down"; once
// the primary answers, SetUp goes to it and closes the view, and a later stand-down is told again.
func TestStartOnFallback(t *testing.T) {
	d, primary, view := fallbackWorld(t)
	d.StartOn(view)
	d.SetDown(errors.New("nothing listens on the socket"))
	info, down, _ := d.Link()
	if _, _, stood := d.StoodDown(); d.Backend() != view || d.Reading() != view || info.Mode != backend.ModeReadOnly || down != "" || stood {
		t.Fatalf("started on the view: backend %v, mode %q, down %q, stood down %v", d.Backend(), info.Mode, down, stood)
	}
	if !d.SetUp() || d.Backend() != primary || d.Reading() != nil {
		t.Fatalf("the primary answering: backend %v, reading %v", d.Backend(), d.Reading())
	}
	if _, err := backend.All[store.Tariff](context.Background(), view); err == nil {
		t.Error("the view still reads its database after SetUp: it was not closed")
	}
	d.SetDown(errors.New("nothing listens on the socket"))
	d.Fallback = func(context.Context) (backend.Backend, error) { return d.Primary(), nil }
	_, _, since := d.Link()
	if d.TryFallback(context.Background(), since.Add(common.FallbackAfter)) == nil {
		t.Fatal("no fallback after the primary stood down")
	}
	if _, _, stood := d.StoodDown(); !stood {
		t.Error("a stand-down after the opening view is not told")
	}
}
