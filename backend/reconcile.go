package backend

import (
	"context"
	"fmt"
	"log/slog"

	"vmmpm/reconcile"
)

// scanner is reconcile's view of this process: the database, the keyring, and the engine's busy
// services (so a scan leaves out what an operation is about to change).
func (l *Local) scanner() (*reconcile.Scanner, error) {
	e, err := l.Engine()
	if err != nil {
		return nil, err
	}
	return &reconcile.Scanner{DB: l.DB, Secrets: l.Secrets, Busy: e.BusyServices}, nil
}

func (l *Local) ReconcileScan(ctx context.Context, q reconcile.Query, progress func(reconcile.Progress)) (*reconcile.Report, error) {
	s, err := l.scanner()
	if err != nil {
		return nil, err
	}
	rep, _, err := s.ScanAndRecord(ctx, q, progress, false)
	return rep, err
}

func (l *Local) ReconcileAct(ctx context.Context, a reconcile.Action) (_ *reconcile.Acted, err error) {
	if a.Confirm { // without it nothing is written, so nothing is audited
		defer func() { l.audit(ctx, "reconcile."+a.Action, fmt.Sprintf("module %d", a.Module), err) }()
	}
	s, err := l.scanner()
	if err != nil {
		return nil, err
	}
	actor, err := l.actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.Act(ctx, a, actor, CallerOf(ctx).String())
}

func (l *Local) ReconcileLast(context.Context) ([]reconcile.Summary, error) {
	return reconcile.LastScans(l.DB)
}

// ScheduledScan is serve's scan of one module on its reconcile_every: the outcome is kept, new findings
// open one department task per class, and an event (queue.ReconcileFound) says what is new.
func (l *Local) ScheduledScan(ctx context.Context, module uint64) (*reconcile.Report, error) {
	s, err := l.scanner()
	if err != nil {
		return nil, err
	}
	rep, rec, err := s.ScanAndRecord(ctx, reconcile.Query{Module: module}, nil, true)
	if err != nil {
		return nil, err
	}
	if r := rec[module]; r != nil && len(r.New) > 0 {
		e, err := l.Engine()
		if err == nil {
			e.Notify(module, r.New)
		}
	}
	return rep, nil
}

// ReconcileCheck is how often the schedule looks for modules whose scan is due.
var ReconcileCheck = reconcile.DefaultCheck

// StartReconcileSchedule runs each module's scan every reconcile_every (`vmmpm serve`'s schedule,
// reconcile.Schedule) until ctx ends or stop is called; stop waits until a scan in progress has ended.
func (l *Local) StartReconcileSchedule(ctx context.Context, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s := &reconcile.Schedule{DB: l.DB, Scan: l.ScheduledScan, Check: ReconcileCheck, Log: log}
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
