package ui

import (
	"io"
	"time"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui/common"
	"vmmpm/ui/theme"
	"vmmpm/ui/wizardform"
)

// Config is what the command hands the TUI.
type Config struct {
	DB      *store.DB
	Secrets store.Secrets
	Engine  *queue.Engine
	Theme   *theme.Theme
	// Clipboard receives OSC 52 for `y` (the terminal's output).
	Clipboard io.Writer
	// Now fixes the clock (tests); nil is time.Now.
	Now func() time.Time
	// WizardPrefill starts the Add wizard's Integration step with these values (--demo).
	WizardPrefill wizardform.Prefill
}

// NewApp builds the app on a running engine and starts following its events. Call Close after the
// program ends.
func NewApp(cfg Config) *App {
	data := &common.Data{DB: cfg.DB, Secrets: cfg.Secrets, Engine: cfg.Engine}
	a := New(Options{Data: data, Theme: cfg.Theme, Now: cfg.Now, Clipboard: cfg.Clipboard,
		WizardPrefill: cfg.WizardPrefill})
	a.unwatch = Watch(cfg.Engine, data)
	return a
}

// Close stops following engine events.
func (a *App) Close() {
	if a.unwatch != nil {
		a.unwatch()
	}
}

// Watch follows the engine's events and only advances the data version: the screens re-read on their
// next tick, so a burst of events costs one refresh.
func Watch(e *queue.Engine, d *common.Data) (stop func()) {
	events, unsubscribe := e.Subscribe(1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range events {
			d.Bump()
		}
	}()
	return func() {
		unsubscribe()
		<-done
	}
}
