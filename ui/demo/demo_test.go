package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"vmmpm/backend"
	"vmmpm/queue"
	"vmmpm/stats"
	"vmmpm/ui/common"
	"vmmpm/ui/demo"
	"vmmpm/ui/internal/uitest"
	"vmmpm/ui/screens/lanes"
	"vmmpm/ui/theme"
)

// TestFaultsShowWithinTenSeconds runs --demo-faults as the TUI does (the emulators on loopback, a real
// bbolt file, the engine and the stats collector) and reads the lanes view as an admin would: within
// 10 s the flaky module shows errors and the other none, and the flaky module gets less done, more
// slowly.
func TestFaultsShowWithinTenSeconds(t *testing.T) {
	env, err := demo.Start(demo.Options{TaskTime: 200 * time.Millisecond, Faults: true})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	eng, err := queue.New(env.DB, env.Secrets, queue.Options{BackoffBase: 50 * time.Millisecond, PollEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	local := backend.NewLocal(env.DB, env.Secrets, eng, "test")
	defer local.Close()
	if err := env.OpenServices(eng, 24); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done; _ = eng.Close() }()

	lipgloss.SetColorProfile(termenv.Ascii)
	sctx := common.New(theme.New(true), nil)
	sctx.Width, sctx.Height, sctx.Now = 120, 40, time.Now
	screen := lanes.New(sctx)
	var s *stats.Snapshot
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err = local.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		good, flaky := module(s, env.Module), module(s, env.FlakyModule)
		// slower: fewer done, and those it did took longer (or none finished yet)
		slower := good.Hour.Done > flaky.Hour.Done && p50(good) > 0 && (p50(flaky) == 0 || p50(flaky) > p50(good))
		if errs(flaky) > 0 && errs(good) == 0 && !good.Flagged && slower {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the faults do not show: good %+v\nflaky %+v", good, flaky)
		}
		time.Sleep(200 * time.Millisecond)
	}
	screen.Update(lanes.LoadedMsg{Snapshot: s})
	v := uitest.Strip(screen.View())
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), demo.FlakyModuleName) && strings.Contains(l, " 0%") {
			t.Errorf("the flaky module's row shows no errors:\n%s", v)
		}
		if strings.HasPrefix(strings.TrimSpace(l), demo.ModuleName+"  ") && (strings.Contains(l, "FLAGGED") || !strings.Contains(l, " 0%")) {
			t.Errorf("the healthy module's row shows errors:\n%s", v)
		}
	}
}

func module(s *stats.Snapshot, id uint64) stats.Module {
	for _, m := range s.Modules {
		if m.ID == id {
			return m
		}
	}
	return stats.Module{}
}

func errs(m stats.Module) int { return m.Hour.Failed + m.Hour.Retried }

func p50(m stats.Module) time.Duration {
	for _, t := range m.Types {
		if t.Type == "open" {
			return t.P50
		}
	}
	return 0
}
