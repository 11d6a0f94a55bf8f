package ui_test

import (
	"context"
	"io"
	"regexp"
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

// TestDemoEndToEnd runs the demo as `vmmpm --demo` does, on a real pseudo-terminal, with the engine
// inside and the emulator on loopback. Every key waits for the screen it needs (the field focused, the
// text typed), so a loaded machine slows the test down instead of losing keys: the LXD module is added through the wizard (its missing second interface refused), ten
// services are created from the Services screen and watched to done on the Jobs pane, then one more
// fails by the emulator's fault injection and its department task shows on the Tasks screen.
func TestDemoEndToEnd(t *testing.T) {
	env, err := demo.Start(demo.Options{TaskTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
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
	if err := env.OpenServices(eng, 2); err != nil {
		t.Fatal(err)
	}
	app := ui.NewApp(ui.Config{Backend: backend.NewLocal(env.DB, env.Secrets, eng, "test"), Secrets: env.Secrets, Theme: uitest.Plain(), Clipboard: io.Discard})
	defer app.Close()
	term := termtest.Start(t, app, 120, 40)
	focus := func(title string) { t.Helper(); term.Wait("┃ " + title) }
	typed := func(text string) { t.Helper(); term.Write(text); term.Wait(text) }

	term.Wait("Demo KVM", "secrets: memory only")

	// The wizard: VPS, VMmanager 6, integration against the emulator, placement, the LXD cluster.
	term.Key("a")
	focus("Product type")
	term.Key("enter")
	focus("Processing module")
	term.Key("enter")
	focus("URL")
	typed(env.URL)
	term.Key("enter")
	focus("Username")
	typed(demo.AdminEmail)
	term.Key("enter")
	focus("Password")
	term.Write(env.Password)
	term.Wait("> " + strings.Repeat("*", len(env.Password)))
	term.Key("enter")
	focus("Skip TLS verification")
	term.Key("enter")
	term.Wait("Logged in to", "placement")
	focus("Data center")
	term.Key("enter")
	focus("Name")
	typed("Demo LXD")
	term.Key("enter")
	focus("Department")
	term.Key("down")
	term.Wait("> " + demo.ProvisionDept)
	term.Key("enter")
	focus("Sort")
	term.Key("enter")
	focus("Cluster")
	term.Key("down")
	term.Wait("> lxd-main", "Additional network interface (unavailable)")
	term.Key("enter")
	focus("Use recipes")
	term.Key("enter")
	focus("With recipes")
	term.Key("enter")
	focus("Additional network interface (unavailable)")
	term.Key("enter")
	focus("Session storage period")
	for _, next := range []string{"Start operations in a queue", "Queue key", "Number of queues"} {
		term.Key("enter")
		focus(next)
	}
	term.Key("enter")
	term.Wait("Save this module?")
	term.Key("enter")
	term.Wait(`module 2 "Demo LXD" saved`)
	m, err := store.Load[store.Module](env.DB, 2)
	if err != nil || m.Name != "Demo LXD" || m.Cluster.Virtualization != store.VirtLXD || m.AdditionalInterface || m.DepartmentID != 2 {
		t.Fatalf("module 2 after the wizard: %+v, %v", m, err)
	}
	if pw, err := env.Secrets.Get(2); err != nil || pw != env.Password {
		t.Fatalf("the wizard did not store the password in the demo's secrets: %v", err)
	}

	// Ten services from the Services screen, watched to done on the Jobs pane.
	term.Key("2")
	term.Wait("[2 Services]", "Demo VPS") // the tariffs are loaded: n needs them
	term.Key("n")
	term.Wait("Create services")
	term.Key("down")
	term.Wait("› How many      [1")
	term.Key("backspace")
	term.WaitFor("an empty count", 30*time.Second, regexp.MustCompile(`› How many +\[ *\]`).MatchString)
	term.Write("10")
	term.Wait("› How many      [10")
	term.Key("down")
	term.Write("client@example.com") // there is no default client
	term.Wait("[client@example.com")
	term.Key("ctrl+s")
	term.Wait("created 10 service(s), ids 3…12")
	term.Key("3")
	term.Wait("Done 12")

	// One more, failed by the emulator; its department task appears on the Tasks screen.
	env.Sim.FailHost(queue.VMName(13))
	term.Key("2")
	term.Wait("[2 Services]", "Demo VPS") // the tariffs are loaded: n needs them
	term.Key("n")
	term.Wait("Create services", "› Tariff")
	// enter walks the fields and saves on the last, as in the wizard.
	term.Key("enter")
	term.Wait("› How many")
	term.Key("enter")
	term.Wait("› Client email")
	term.Write("client@example.com") // there is no default client
	term.Wait("[client@example.com")
	term.Key("enter")
	term.Wait("created 1 service(s), id 13")
	term.Key("3")
	term.Wait("Failed 1")
	term.Key("4")
	term.WaitFor("the task of service 13", 30*time.Second, regexp.MustCompile(`open of service 13 failed +VMmanager`).MatchString)
	tasks, _ := store.All[store.Task](env.DB)
	if len(tasks) != 1 || tasks[0].ServiceID != 13 || tasks[0].DepartmentID != 1 || tasks[0].Reason == "" {
		t.Fatalf("tasks after the injected failure: %+v", tasks)
	}

	term.Key("q")
	term.Finished(10 * time.Second)
}
