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
}

// NewApp builds the app on a backend and starts following its events. Call Close after the program
// ends.
func NewApp(cfg Config) *App {
	data := common.NewData(cfg.Backend, cfg.Secrets)
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
// marks the data as disconnected and reopens the stream from the last event seen until it succeeds.
func Watch(d *common.Data) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last uint64
		for ctx.Err() == nil {
			events, err := d.B.Events(ctx, last, true)
			if err != nil {
				d.SetDown(err)
				select {
				case <-ctx.Done():
				case <-time.After(Reattach):
				}
				continue
			}
			if d.SetUp() {
				d.Bump() // back after a gap: everything may have changed
			}
			for ev := range events {
				last = ev.Seq
				if ev.Kind == queue.EngineStatus && ev.Status != nil {
					d.SetEngine(*ev.Status)
				}
				d.Bump()
			}
			// The stream ended: a server that went silent on it is shown as such at once; otherwise
			// reopening it says why (nothing listens, or a server that answers nothing).
			if se, ok := d.B.(interface{ StreamEnded() error }); ok {
				if err := se.StreamEnded(); err != nil {
					d.SetDown(err)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
