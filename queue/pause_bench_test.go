package queue

import (
	"testing"

	"vmmpm/vmm/sim"
)

// BenchmarkPauseModule: pausing and resuming a module with 10,000 queued opens, each of which gets a
// line (and, paused, its reason) written in the pause's one transaction.
func BenchmarkPauseModule(b *testing.B) {
	f := newFixture(b, sim.Config{}, queueParams("a-__PMID__", 4))
	e := f.engine(fastOptions())
	if _, err := e.CreateServices(f.tariff.ID, 10_000, "bench@example.org"); err != nil {
		b.Fatal(err)
	}
	a := e.As("bench")
	for b.Loop() {
		if _, err := a.PauseModule(f.module.ID); err != nil {
			b.Fatal(err)
		}
		if err := a.ResumeModule(f.module.ID); err != nil {
			b.Fatal(err)
		}
	}
}
