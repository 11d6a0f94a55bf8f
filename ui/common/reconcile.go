package common

import (
	"context"

	"vmmpm/reconcile"
)

// ReconcileScan is `vmmpm reconcile`: a read-only scan of every module's cluster (or module's), its
// progress reported to progress as it goes; cancelling ctx stops it.
func (d *Data) ReconcileScan(ctx context.Context, module uint64, progress func(reconcile.Progress)) (*reconcile.Report, error) {
	defer d.Bump()
	return d.Backend().ReconcileScan(ctx, reconcile.Query{Module: module}, progress)
}

// ReconcileAct is `vmmpm reconcile import|fix|mark … --yes` (confirm set), or what it would do.
func (d *Data) ReconcileAct(a reconcile.Action) (*reconcile.Acted, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*CheckTimeout)
	defer cancel()
	if a.Confirm {
		defer d.Bump()
	}
	return d.Backend().ReconcileAct(ctx, a)
}

// ReconcileLast is each module's last reconcile scan.
func (d *Data) ReconcileLast() ([]reconcile.Summary, error) {
	ctx, cancel := bg()
	defer cancel()
	return d.Backend().ReconcileLast(ctx)
}
