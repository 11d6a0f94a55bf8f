package ui

import (
	"context"
	"io"
	"time"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/theme"
	"vmmpm/ui/wizardform"
)

// Config is what the command hands the TUI.
type Config struct {
	// Backend is where every read and action goes: this process with the engine inside, or a server.
	Backend backend.Backend
	// Secrets is this process's password store when it holds the database (probed at start); nil when
	// attached to a server.
	Secrets store.Secrets
	Theme   *theme.Theme
	// Clipboard receives OSC 52 for `y` (the terminal's output).
	Clipboard io.Writer
	// Now fixes the clock (tests); nil is time.Now.
	Now func() time.Time
	// WizardPrefill starts the Add wizard's Integration step with these values (--demo).
	WizardPrefill wizardform.Prefill
	// Fallback, when set, makes the backend to read while Backend (a server) stood down: cli gives one
	// only on a shared database, a read-only view of it (see common.Data.Fallback).
	Fallback func(context.Context) (backend.Backend, error)
	// Start, when set, is what screens read until Backend (this host's serve) first answers: the
	// read-only view a TUI on a standby host opens with (see common.Data.StartOn).
	Start backend.Backend
}

// NewApp builds the app on a backend and starts following its events. Call Close after the program
// ends.
func NewApp(cfg Config) *App {
	data := common.NewData(cfg.Backend, cfg.Secrets)
	data.Fallback = cfg.Fallback
	if cfg.Start != nil {
		data.StartOn(cfg.Start)
	}
	a := New(Options{Data: data, Theme: cfg.Theme, Now: cfg.Now, Clipboard: cfg.Clipboard,
		WizardPrefill: cfg.WizardPrefill})
	a.unwatch = Watch(data)
	return a
}

// Close stops following engine events.
func (a *App) Close() {
	if a.unwatch != nil {
		a.unwatch()
	}
}

// Reattach is how long the watcher waits between attempts to reach a server that went away.
var Reattach = 250 * time.Millisecond

// Watch follows the backend's events and only advances the data version: the screens re-read on their
// next tick, so a burst of events costs one refresh. When the stream breaks (the server stopped), it
// marks the data as disconnected and reopens the stream from the last event seen until it succeeds;
// meanwhile, once the data's Fallback makes a backend, the screens read that one and follow its events
// until the server answers again.
func Watch(d *common.Data) (stop func()) {
	return loop(context.Background(), func(ctx context.Context) {
		var last uint64
		unfollow := func() {}
		if fb := d.Reading(); fb != nil { // started on it (StartOn)
			unfollow = followFallback(ctx, d, fb)
		}
		defer func() { unfollow(); d.CloseFallback() }()
		for ctx.Err() == nil {
			events, err := d.Primary().Events(ctx, last, true)
			if err != nil {
				d.SetDown(err)
				if fb := d.TryFallback(ctx, time.Now()); fb != nil {
					unfollow = followFallback(ctx, d, fb)
					d.Bump()
				}
				pause(ctx)
				continue
			}
			unfollow() // before SetUp closes the fallback
			unfollow = func() {}
			if d.SetUp() {
				d.Bump() // back after a gap: everything may have changed
			}
			follow(d, events, &last)
			// The stream ended: a server that went silent on it is shown as such at once; otherwise
			// reopening it says why (nothing listens, or a server that answers nothing).
			if se, ok := d.Primary().(interface{ StreamEnded() error }); ok {
				if err := se.StreamEnded(); err != nil {
					d.SetDown(err)
				}
			}
		}
	})
}

// loop runs fn in its own goroutine until stop, which cancels fn's context and waits for it.
func loop(parent context.Context, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	return func() { cancel(); <-done }
}

// pause waits Reattach, or less when ctx ends.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(Reattach):
	}
}

// follow hands each event of a stream to d until it ends; *last is the newest seen.
func follow(d *common.Data, events <-chan backend.Event, last *uint64) {
	for ev := range events {
		*last = ev.Seq
		if ev.Kind == queue.EngineStatus && ev.Status != nil {
			d.SetEngine(*ev.Status)
		}
		d.Bump()
	}
}

// followFallback follows fb's events until the returned stop: a stream that ends (the engine moved
// to another host, the database went quiet) is reopened, and who answers read again.
func followFallback(parent context.Context, d *common.Data, fb backend.Backend) (stop func()) {
	return loop(parent, func(ctx context.Context) {
		var last uint64
		for ctx.Err() == nil {
			if events, err := fb.Events(ctx, last, true); err == nil {
				follow(d, events, &last)
				d.ReadLink()
			}
			pause(ctx)
		}
	})
}
