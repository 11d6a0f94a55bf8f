package ui_test

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
	"vmmpm/backend"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"

	"vmmpm/queue"
	"vmmpm/store"
	"vmmpm/ui"
	"vmmpm/ui/demo"
	"vmmpm/ui/internal/uitest"
)

// screen waits until the program's output, stripped of escape codes, contains every one of want.
func screen(t *testing.T, tm *teatest.TestModel, d time.Duration, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		s := ansi.Strip(string(b))
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(d), teatest.WithCheckInterval(20*time.Millisecond))
}

// screenMatch waits for a regular expression over the stripped output.
func screenMatch(t *testing.T, tm *teatest.TestModel, d time.Duration, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return rx.Match([]byte(ansi.Strip(string(b)))) },
		teatest.WithDuration(d), teatest.WithCheckInterval(20*time.Millisecond))
}

func keys(tm *teatest.TestModel, names ...string) {
	for _, n := range names {
		tm.Send(uitest.Key(n))
		time.Sleep(15 * time.Millisecond)
	}
}

func typeText(tm *teatest.TestModel, s string) {
	tm.Type(s)
	time.Sleep(15 * time.Millisecond)
}

// TestDemoEndToEnd runs the demo as `vmmpm --demo` does, with the engine inside and the emulator on
// loopback: the LXD module is added through the wizard (its missing second interface refused), ten
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
	tm := teatest.NewTestModel(t, app, teatest.WithInitialTermSize(120, 40))

	screen(t, tm, 5*time.Second, "Demo KVM", "secrets: memory only")

	// The wizard: VPS, VMmanager 6, integration against the emulator, placement, the LXD cluster.
	keys(tm, "a")
	screen(t, tm, 3*time.Second, "Product type")
	keys(tm, "enter")
	screen(t, tm, 3*time.Second, "Processing module")
	keys(tm, "enter")
	screen(t, tm, 3*time.Second, "Integration")
	typeText(tm, env.URL)
	keys(tm, "enter")
	typeText(tm, demo.AdminEmail)
	keys(tm, "enter")
	typeText(tm, env.Password)
	keys(tm, "enter", "enter")
	screen(t, tm, 10*time.Second, "Logged in to", "placement")
	keys(tm, "enter")
	typeText(tm, "Demo LXD")
	keys(tm, "enter", "down", "enter", "enter")
	screen(t, tm, 3*time.Second, "Cluster", "lxd-main")
	keys(tm, "down", "enter")
	screen(t, tm, 3*time.Second, "Additional network interface (unavailable)")
	keys(tm, "enter", "enter", "enter")
	screen(t, tm, 3*time.Second, "queue and session")
	keys(tm, "enter", "enter", "enter", "enter")
	screen(t, tm, 3*time.Second, "Save this module?")
	keys(tm, "enter")
	screen(t, tm, 5*time.Second, `module 2 "Demo LXD" saved`)
	m, err := store.Load[store.Module](env.DB, 2)
	if err != nil || m.Cluster.Virtualization != store.VirtLXD || m.AdditionalInterface || m.DepartmentID != 2 {
		t.Fatalf("module 2 after the wizard: %+v, %v", m, err)
	}
	if pw, err := env.Secrets.Get(2); err != nil || pw != env.Password {
		t.Fatalf("the wizard did not store the password in the demo's secrets: %v", err)
	}

	// Ten services from the Services screen, watched to done on the Jobs pane.
	keys(tm, "2", "n")
	screen(t, tm, 3*time.Second, "Create services")
	keys(tm, "down", "backspace")
	typeText(tm, "10")
	keys(tm, "enter")
	screen(t, tm, 5*time.Second, "created 10 service(s), ids 3…12")
	keys(tm, "3")
	screen(t, tm, 30*time.Second, "Done 12")

	// One more, failed by the emulator; its department task appears on the Tasks screen.
	env.Sim.FailHost(queue.VMName(13))
	keys(tm, "2", "n", "enter")
	screen(t, tm, 5*time.Second, "created 1 service(s), id 13")
	keys(tm, "3")
	screen(t, tm, 30*time.Second, "Failed 1")
	keys(tm, "4")
	screenMatch(t, tm, 10*time.Second, `open of service 13 failed +VMmanager`)
	tasks, _ := store.All[store.Task](env.DB)
	if len(tasks) != 1 || tasks[0].ServiceID != 13 || tasks[0].DepartmentID != 1 || tasks[0].Reason == "" {
		t.Fatalf("tasks after the injected failure: %+v", tasks)
	}

	keys(tm, "q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
