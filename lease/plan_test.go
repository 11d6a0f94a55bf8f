package lease

import (
	"slices"
	"testing"
)

func lanesOf(module int64, keys ...string) []Lane {
	var out []Lane
	for _, k := range keys {
		out = append(out, Lane{module, k})
	}
	return out
}

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		name          string
		w             world
		free, idle    []Lane
		claim, reject []Lane // reject: released
	}{{
		name:  "alone: takes every lane",
		w:     world{me: 1, counts: map[int64]int{1: 0}, total: 3},
		free:  lanesOf(7, "a", "b", "c"),
		claim: lanesOf(7, "a", "b", "c"),
	}, {
		name:  "two engines: up to ceil(3/2) while the other is below its share",
		w:     world{me: 1, counts: map[int64]int{1: 0, 2: 0}, total: 3},
		free:  lanesOf(7, "a", "b", "c"),
		claim: lanesOf(7, "a", "b"),
	}, {
		name:   "a joiner below its share: the holder hands over its idle lanes above the share",
		w:      world{me: 1, counts: map[int64]int{1: 9, 2: 0, 3: 0}, total: 9},
		idle:   lanesOf(7, "a", "b", "c", "d", "e", "f", "g", "h"),
		reject: lanesOf(7, "h", "g", "f", "e", "d", "c"),
	}, {
		name:   "busy lanes stay: only idle ones are handed over",
		w:      world{me: 1, counts: map[int64]int{1: 9, 2: 0, 3: 0}, total: 9},
		idle:   lanesOf(7, "a"),
		reject: lanesOf(7, "a"),
	}, {
		name: "no password: a module's lanes are never claimed",
		w: world{me: 1, counts: map[int64]int{1: 0}, total: 2,
			need: map[int64]int64{8: 2}, has: map[int64]map[int64]int64{1: {8: 1}}},
		free:  append(lanesOf(8, "x"), lanesOf(7, "a")...),
		claim: lanesOf(7, "a"),
	}, {
		name: "beyond the share when no engine below it may take the lane",
		w: world{me: 1, counts: map[int64]int{1: 2, 2: 0}, total: 4,
			need: map[int64]int64{8: 2}, has: map[int64]map[int64]int64{1: {8: 2}}},
		free:  lanesOf(8, "x", "y"),
		claim: lanesOf(8, "x", "y"),
	}, {
		name: "nothing handed to an engine that may not take it",
		w: world{me: 1, counts: map[int64]int{1: 4, 2: 0}, total: 4,
			need: map[int64]int64{8: 2}, has: map[int64]map[int64]int64{1: {8: 2}}},
		idle: lanesOf(8, "w", "x", "y", "z"),
	}, {
		name: "the lane of every module: not taken while a live engine holds more current passwords",
		w: world{me: 1, counts: map[int64]int{1: 0, 2: 0}, total: 1,
			need: map[int64]int64{8: 2, 9: 1}, has: map[int64]map[int64]int64{1: {8: 1, 9: 1}, 2: {8: 2, 9: 1}}},
		free: lanesOf(AllModules, "engine"),
	}, {
		name: "the lane of every module: taken by the engine holding the most",
		w: world{me: 2, counts: map[int64]int{1: 0, 2: 0}, total: 1,
			need: map[int64]int64{8: 2, 9: 1}, has: map[int64]map[int64]int64{1: {8: 1, 9: 1}, 2: {8: 2, 9: 1}}},
		free:  lanesOf(AllModules, "engine"),
		claim: lanesOf(AllModules, "engine"),
	}, {
		name: "the lane of every module: a tie lets either take it",
		w: world{me: 1, counts: map[int64]int{1: 0, 2: 0}, total: 1,
			need: map[int64]int64{8: 2, 9: 1}, has: map[int64]map[int64]int64{1: {8: 2}, 2: {9: 1}}},
		free:  lanesOf(AllModules, "engine"),
		claim: lanesOf(AllModules, "engine"),
	}, {
		name: "the lane of every module: module passwords outweigh webhook secrets (not taken lacking one)",
		w: world{me: 1, counts: map[int64]int{1: 0, 2: 0}, total: 1,
			need: map[int64]int64{8: 2, WebhookSlot(3): 1, WebhookSlot(4): 1},
			has:  map[int64]map[int64]int64{1: {WebhookSlot(3): 1, WebhookSlot(4): 1}, 2: {8: 2}}},
		free: lanesOf(AllModules, "engine"),
	}, {
		name: "the lane of every module: module passwords outweigh webhook secrets (taken lacking only secrets)",
		w: world{me: 2, counts: map[int64]int{1: 0, 2: 0}, total: 1,
			need: map[int64]int64{8: 2, WebhookSlot(3): 1, WebhookSlot(4): 1},
			has:  map[int64]map[int64]int64{1: {WebhookSlot(3): 1, WebhookSlot(4): 1}, 2: {8: 2}}},
		free:  lanesOf(AllModules, "engine"),
		claim: lanesOf(AllModules, "engine"),
	}, {
		name: "the lane of every module: a dead engine's passwords do not count",
		w: world{me: 1, counts: map[int64]int{1: 0}, total: 1,
			need: map[int64]int64{8: 2}, has: map[int64]map[int64]int64{1: {8: 1}, 2: {8: 2}}},
		free:  lanesOf(AllModules, "engine"),
		claim: lanesOf(AllModules, "engine"),
	}} {
		t.Run(c.name, func(t *testing.T) {
			claim, release := c.w.plan(c.free, c.idle)
			if !slices.Equal(claim, c.claim) || !slices.Equal(release, c.reject) {
				t.Errorf("plan = claim %v release %v, want claim %v release %v", claim, release, c.claim, c.reject)
			}
		})
	}
}

func TestOutranked(t *testing.T) {
	es := []EngineInfo{
		{ID: 1, Live: true, Lacks: []int64{8, 9}},
		{ID: 2, Live: true, Lacks: []int64{9}},
		{ID: 3, Live: false},            // dead: holds all, but cannot run anything
		{ID: 4, Live: true, Lacks: nil}, // holds all
	}
	if e, ok := Outranked(es, 1); !ok || e.ID != 4 {
		t.Errorf("Outranked(1) = %v, %v; want engine 4, which lacks nothing", e.ID, ok)
	}
	if e, ok := Outranked(es, 4); ok {
		t.Errorf("Outranked(4) = engine %d; want none: engine 4 lacks nothing", e.ID)
	}
	if _, ok := Outranked(es[:2], 2); ok {
		t.Error("Outranked(2) among 1 and 2: want none, engine 1 lacks more")
	}
	if _, ok := Outranked(es, 99); ok {
		t.Error("Outranked of an engine not listed: want none")
	}
	// A webhook secret counts as a password does: the host holding it outranks one that lacks it.
	hooks := []EngineInfo{{ID: 5, Live: true, LacksWebhooks: []uint64{3}}, {ID: 6, Live: true}}
	if e, ok := Outranked(hooks, 5); !ok || e.ID != 6 {
		t.Errorf("Outranked(5), lacking webhook 3's secret = %v, %v; want engine 6", e.ID, ok)
	}
	// A module password outweighs every webhook secret: the host lacking one cannot run its jobs.
	ranked := []EngineInfo{{ID: 7, Live: true, LacksWebhooks: []uint64{3, 4}}, {ID: 8, Live: true, Lacks: []int64{2}}}
	if _, ok := Outranked(ranked, 7); ok {
		t.Error("Outranked(7), lacking two webhook secrets: want none, engine 8 lacks module 2's password")
	}
	if e, ok := Outranked(ranked, 8); !ok || e.ID != 7 {
		t.Errorf("Outranked(8), lacking module 2's password = %v, %v; want engine 7, which lacks only webhook secrets", e.ID, ok)
	}
	split := EngineInfo{Lacks: []int64{2, WebhookSlot(4), 5, WebhookSlot(1)}}
	split.splitSlots()
	if !slices.Equal(split.Lacks, []int64{2, 5}) || !slices.Equal(split.LacksWebhooks, []uint64{1, 4}) {
		t.Errorf("split: modules %v, webhooks %v; want [2 5] and [1 4]", split.Lacks, split.LacksWebhooks)
	}
}
