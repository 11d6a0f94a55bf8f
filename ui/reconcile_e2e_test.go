package ui_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"vmmpm/backend"
	"vmmpm/internal/termtest"
	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/demo"
	"vmmpm/ui/internal/uitest"
)

// TestReconcileScreenEndToEnd: on a real terminal, R on Modules scans with a progress bar and an
// estimate (esc cancels a scan), lists the VMs nobody ordered, and enter on one asks before importing
// it; yes queues the import, the finding leaves the list, and the engine binds a new service to that
// VM. Another action is chosen with o, the tariff picked in a form when none matches the VM's sizes.
func TestReconcileScreenEndToEnd(t *testing.T) {
	env, err := demo.Start(demo.Options{TaskTime: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, _, err := env.Sim.SeedVMs(3); err != nil {
		t.Fatal(err)
	}
	eng, err := queue.New(env.DB, env.Secrets, queue.Options{PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- eng.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
		_ = eng.Close()
	}()
	app := ui.NewApp(ui.Config{Backend: backend.NewLocal(env.DB, env.Secrets, eng, "test"), Secrets: env.Secrets, Theme: uitest.Plain(), Clipboard: io.Discard})
	defer app.Close()
	term := termtest.Start(t, app, 120, 40)
	term.Wait("Demo KVM", "reconcile of module 1: never scanned")

	// Slow answers, so the progress shows; the first scan is cancelled, the second runs through.
	env.Sim.SetLatency(300 * time.Millisecond)
	term.Key("R")
	term.Wait("Reconcile", "esc cancels", "█")
	term.Key("esc")
	term.Wait("scan cancelled")
	env.Sim.SetLatency(150 * time.Millisecond)
	term.Key("ctrl+r")
	term.Wait("scanning", "of", "left")
	term.Wait("unknown_vm 3", "legacy-0001", "legacy-0002", "legacy-0003", "scan done: 3 findings")
	env.Sim.SetLatency(0)

	// enter: the usual action, asked first. legacy-0001 has the demo tariff's sizes.
	term.Key("enter")
	term.Wait(`Import VM 1 "legacy-0001" as new services`)
	term.Key("y")
	term.Gone("legacy-0001")
	term.Wait("imports VM 1", "legacy-0002")
	waitService(t, env, 1)

	// o: another action; the import of legacy-0002 (2 CPU) needs a tariff chosen.
	term.Key("o")
	term.Wait("Action on VM 2", "import")
	term.Key("enter")
	term.Wait("choose the tariff", "Demo VPS")
	term.Key("enter")
	term.Wait(`Import VM 2 "legacy-0002" as new services of tariff Demo VPS`)
	term.Key("y")
	term.Gone("legacy-0002")
	waitService(t, env, 2)

	// The last one is marked as system: asked, then gone from the findings for good.
	term.Key("o")
	term.Wait("Action on VM 3")
	term.Key("right")
	term.Wait("mark system")
	term.Key("enter")
	term.Wait("Mark as system")
	term.Key("y")
	term.Gone("legacy-0003")
	term.Key("ctrl+r")
	term.Wait("nothing to reconcile", "1 system")
	term.Key("esc")
	term.Wait("reconcile of module 1: clean")
}

// waitService waits until a service is bound to VM vm and open.
func waitService(t *testing.T, env *demo.Env, vm uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		svcs, err := store.All[store.Service](env.DB)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range svcs {
			if s.VM.HostID == vm && s.Status == store.ServiceActive && strings.Contains(s.ClientEmail, "@example.net") && s.VM.CPU > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no open service on VM %d: %+v", vm, svcs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
